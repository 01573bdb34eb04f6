"""The whole AMI pipeline on one core: bytes in, calls tracked, records handed to the store.

Replays the recorded AMI stream of a real demo run (tests/data/ami-demo.raw: 35 calls of
every number class, about 1,300 events) many times over, each copy with its own call ids,
through what the engine runs per event: AmiParser (framing, decoding, parsing) and the
engine's handlers (the call tracker, event-lag and routing-time telemetry), with the
records going to a sink instead of the store thread. Compared with panoramisk's own parser
alone on the same bytes. Prints events per second of CPU time, best of several runs:

    .venv/bin/python benchmarks/ami_pipeline.py [--copies 40] [--repeat 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import time
from pathlib import Path

from panoramisk.message import Message

import config
from callcore.ami import AmiParser
from callcore.telemetry import EventLag, RouteTiming
from callcore.tracker import CallTracker
from config.directory import Directory

CAPTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "ami-demo.raw"
_IDS = re.compile(rb"((?:Dest)?(?:Uniqueid|Linkedid)): (\d+)\.(\d+)")


def stream(copies: int) -> tuple[list[bytes], int]:
    """The capture's event frames repeated `copies` times with distinct ids, in 64 KiB reads."""
    raw = CAPTURE.read_bytes()
    body = raw[raw.index(b"\r\n") + 2 :]
    frames = [f + b"\r\n\r\n" for f in body.split(b"\r\n\r\n") if f.startswith(b"Event: ")]
    one = b"".join(frames)
    data = b"".join(
        _IDS.sub(lambda m, k=k: m.group(1) + b": " + str(int(m.group(2)) + k * 10_000_000).encode()
                 + b"." + m.group(3), one)
        for k in range(copies)
    )
    return [data[i : i + 65536] for i in range(0, len(data), 65536)], len(frames) * copies


def callcore_pipeline(chunks: list[bytes]) -> int:
    directory = Directory(config.load())
    records: list = []
    tracker = CallTracker(lambda: directory, records.append)
    lag, timing = EventLag(), RouteTiming()
    handlers = (tracker.handle, lag.observe, timing.observe)
    parser = AmiParser()
    n = 0
    for chunk in chunks:
        for msg in parser.feed(chunk):
            if "Event" in msg:
                for handle in handlers:
                    handle(msg)
                n += 1
    return n


def panoramisk_parser(chunks: list[bytes]) -> int:
    """panoramisk's own way: decode each chunk, split frames, Message.from_line."""
    n, rest = 0, ""
    for chunk in chunks:
        text = rest + chunk.decode("utf-8", "ignore")
        *frames, rest = text.split("\r\n\r\n")
        for frame in frames:
            if Message.from_line(frame.strip()) is not None:
                n += 1
    return n


def best(run, chunks: list[bytes], repeat: int) -> tuple[float, int]:
    rates, n = [], 0
    for _ in range(repeat):
        t0 = time.process_time()
        n = run(chunks)
        rates.append(n / (time.process_time() - t0))
    return max(rates), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="print the hottest functions")
    args = ap.parse_args()
    chunks, events = stream(args.copies)
    print(f"{events} events ({args.copies} copies of {CAPTURE.name}), {len(chunks)} reads")
    for name, run in (("callcore: parse + track + telemetry", callcore_pipeline),
                      ("panoramisk: parse only", panoramisk_parser)):
        rate, n = best(run, chunks, args.repeat)
        print(f"{name:40s} {rate:>10,.0f} events/s  ({n} events)")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(callcore_pipeline, chunks)
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()

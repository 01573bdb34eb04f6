"""The whole AMI pipeline on one core: bytes in, calls tracked, records handed to the store.

Replays the recorded AMI stream of a real demo run (tests/data/ami-demo.raw: 35 calls of
every number class, about 1,300 events) many times over, each copy with its own call ids,
through what the engine runs per event: AmiParser (framing, decoding, parsing) and every
one of the engine's event handlers (call tracker, seat states, live state, supervisor
actions, telemetry), with the records going to a sink instead of the store thread.
Compared with panoramisk's own parser alone on the same bytes. Prints events per second
of CPU time, best of several runs:

    .venv/bin/python benchmarks/ami_pipeline.py [--copies 40] [--repeat 5] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import tempfile
import time
from pathlib import Path

from panoramisk.message import Message

from callcore.ami import AmiParser
from callcore.asterisk.render import AMI_EVENTS
from callcore.instance import Instance
from callcore.wiring.engine import Engine
from config.loader import DEFAULT_PATH

CAPTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "ami-demo.raw"
_IDS = re.compile(rb"((?:Dest)?(?:Uniqueid|Linkedid)): (\d+)\.(\d+)")


def stream(copies: int) -> tuple[list[bytes], int]:
    """The capture's event frames repeated `copies` times with distinct ids, in 64 KiB reads."""
    raw = CAPTURE.read_bytes()
    body = raw[raw.index(b"\r\n") + 2 :]
    # only what the engine's AMI user receives today (the manager.conf filter, AMI_EVENTS);
    # the capture may predate a narrowing of that filter
    wanted = tuple(f"Event: {name}\r\n".encode() for name in AMI_EVENTS)
    frames = [
        f + b"\r\n\r\n"
        for f in body.split(b"\r\n\r\n")
        if f.startswith(b"Event: ") and (f + b"\r\n").startswith(wanted)
    ]
    one = b"".join(frames)
    data = b"".join(
        _IDS.sub(
            lambda m, k=k: (
                m.group(1)
                + b": "
                + str(int(m.group(2)) + k * 10_000_000).encode()
                + b"."
                + m.group(3)
            ),
            one,
        )
        for k in range(copies)
    )
    return [data[i : i + 65536] for i in range(0, len(data), 65536)], len(frames) * copies


def engine() -> Engine:
    """A real Engine (not started: no sockets, no threads), for its per-event work."""
    home = Path(tempfile.mkdtemp(prefix="ami-pipeline-"))
    e = Engine(Instance(home, DEFAULT_PATH))
    # the store thread is not running here: the writer's place in the fan-out does nothing
    e.record_listeners = (lambda record: None, *e.record_listeners[1:])
    return e


def callcore_pipeline(chunks: list[bytes]) -> tuple[int, float]:
    """What the engine does per read: parse, then every event handler in order."""
    return asyncio.run(_pipeline(chunks))  # handlers may schedule timers (wrap-up ends)


async def _pipeline(chunks: list[bytes]) -> tuple[int, float]:
    dispatch = engine().router.dispatch  # built before the clock starts
    parser = AmiParser()
    n = 0
    t0 = time.process_time()
    for chunk in chunks:
        for msg in parser.feed(chunk):
            if "Event" in msg:
                dispatch(msg)
                n += 1
    return n, time.process_time() - t0


def parser_only(chunks: list[bytes]) -> tuple[int, float]:
    """callcore's read path alone: framing, decoding, the hand-off (no handler)."""
    parser = AmiParser()
    t0 = time.process_time()
    n = sum(len(parser.feed(chunk)) for chunk in chunks)
    return n, time.process_time() - t0


def panoramisk_parser(chunks: list[bytes]) -> tuple[int, float]:
    """panoramisk's own way: decode each chunk, split frames, Message.from_line."""
    n, rest = 0, ""
    t0 = time.process_time()
    for chunk in chunks:
        text = rest + chunk.decode("utf-8", "ignore")
        *frames, rest = text.split("\r\n\r\n")
        for frame in frames:
            if Message.from_line(frame.strip()) is not None:
                n += 1
    return n, time.process_time() - t0


def best(run, chunks: list[bytes], repeat: int) -> tuple[float, int]:
    rates, n = [], 0
    for _ in range(repeat):
        n, seconds = run(chunks)
        rates.append(n / seconds)
    return max(rates), n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="print the hottest functions")
    args = ap.parse_args()
    chunks, events = stream(args.copies)
    print(f"{events} events ({args.copies} copies of {CAPTURE.name}), {len(chunks)} reads")
    for name, run in (
        ("callcore: read path (parse, hand-off)", parser_only),
        ("callcore: read path + every handler", callcore_pipeline),
        ("panoramisk: parse only", panoramisk_parser),
    ):
        rate, n = best(run, chunks, args.repeat)
        print(f"{name:40s} {rate:>10,.0f} events/s  ({n} events)")
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(callcore_pipeline, chunks)  # includes building the engine
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()

"""AMI read-path throughput: callcore's parser and protocol against panoramisk's, on one core.

Feeds a recorded AMI stream (tests/data/ami-capture.raw, its events repeated) in TCP-sized
chunks and prints events per second of CPU time, best of several runs:

    .venv/bin/python benchmarks/ami_parse.py [--events 10000] [--chunk 65536] [--repeat 25]

Two streams: the recorded events as they are (22 headers on average; most carry a Chinese
caller name, which makes their decoded text 2 bytes per character), and the same events cut
to their first 15 headers, the size of a typical channel event.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from callcore.ami import AmiParser, AmiSession, _Protocol, parse_frame

CAPTURE = Path(__file__).parent.parent / "tests" / "data" / "ami-capture.raw"


def event_frames(capture: bytes) -> list[bytes]:
    """The capture's event frames (greeting and responses left out), each with its CRLFCRLF."""
    body = capture[capture.index(b"\r\n") + 2 :]
    frames = [f for f in body.split(b"\r\n\r\n") if f.startswith(b"Event: ")]
    return [f + b"\r\n\r\n" for f in frames]


class _Transport(asyncio.Transport):
    def write(self, data: bytes) -> None:  # login/ping are never sent here
        pass

    def is_closing(self) -> bool:
        return False


class _PanoramiskFactory:
    """Just what AMIProtocol.handle_message touches; dispatch counts instead of calling back."""

    def __init__(self) -> None:
        self.events = 0

    def dispatch(self, message: Message) -> None:
        self.events += 1


def run_callcore_parser(chunks: list[bytes]) -> int:
    parser = AmiParser()
    return sum(len(parser.feed(chunk)) for chunk in chunks)


def run_callcore_protocol(chunks: list[bytes]) -> int:
    """data_received end to end: framing, decoding, parsing, routing, put into the queue."""
    session = AmiSession("127.0.0.1", 0, "bench", "-")
    proto = _Protocol(session)
    proto.connection_made(_Transport())
    queue = session.events
    count = 0
    for chunk in chunks:
        proto.data_received(chunk)
        while not queue.empty():  # the consumer keeps up, as in production
            queue.get_nowait()
            count += 1
    return count


def run_panoramisk_protocol(chunks: list[bytes]) -> int:
    """panoramisk 1.4's data_received: per-chunk decode, split, Message.from_line, dispatch."""
    proto = AMIProtocol()
    proto.connection_made(_Transport())
    proto.factory = _PanoramiskFactory()
    proto.encoding = "utf8"
    for chunk in chunks:
        proto.data_received(chunk)
    return proto.factory.events


def best_rate(run: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Events per second of CPU time, best run: other load on the machine inflates wall time."""
    best, count = float("inf"), 0
    for _ in range(repeat):
        t0 = time.process_time()
        count = run()
        best = min(best, time.process_time() - t0)
    return count / best, count


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--capture", type=Path, default=CAPTURE)
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=65536, help="bytes per TCP read")
    ap.add_argument("--repeat", type=int, default=25)
    args = ap.parse_args()

    frames = event_frames(args.capture.read_bytes())
    headers = sum(f.count(b"\r\n") - 1 for f in frames) / len(frames)
    streams = {
        "recorded events": b"".join(frames),
        "recorded events cut to 15 headers": b"".join(
            b"\r\n".join(f.split(b"\r\n")[:15]) + b"\r\n\r\n" for f in frames
        ),
    }
    print(
        f"{len(frames)} recorded events, {headers:.1f} headers each on average; "
        f"{args.events} events per run in {args.chunk}-byte reads, best of {args.repeat}"
    )
    for label, unit in streams.items():
        stream = unit * (args.events // len(frames) + 1)
        chunks = [stream[i : i + args.chunk] for i in range(0, len(stream), args.chunk)]
        texts = [f.decode() for f in stream.split(b"\r\n\r\n")[:-1]]
        runs = {
            "callcore AmiParser.feed": lambda c=chunks: run_callcore_parser(c),
            "callcore data_received -> Queue": lambda c=chunks: run_callcore_protocol(c),
            "panoramisk data_received": lambda c=chunks: run_panoramisk_protocol(c),
            "callcore parse_frame only": lambda t=texts: sum(1 for x in t if parse_frame(x)),
            "panoramisk Message.from_line only": lambda t=texts: sum(
                1 for x in t if Message.from_line(x) is not None
            ),
        }
        print(f"\n{label}:")
        for name, run in runs.items():
            rate, count = best_rate(run, args.repeat)
            print(f"  {name:36s} {rate:>10,.0f} events/s  ({count} events)")


if __name__ == "__main__":
    asyncio.run(main())

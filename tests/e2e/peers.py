"""Misbehaving peers for the fault tests: a TCP proxy that can go silent (a half-open AMI
connection), hostile FastAGI clients, and a well-behaved FastAGI probe that times routing."""

from __future__ import annotations

import asyncio
import contextlib
import time

ROUTE_ENV = (
    "agi_network: yes\nagi_network_script: route\nagi_request: agi://127.0.0.1/route\n"
    "agi_channel: Local/route@cc-route-0000abcd;2\nagi_calleridname: \nagi_callerid: 1\n"
    "agi_arg_1: 12345\nagi_arg_2: PJSIP/probe-{i:08x}\nagi_arg_3: 13800000000\n\n"
)


class SilentProxy:
    """Forwards TCP to `target`; `silence()` makes the live connections a black hole both
    ways (nothing forwarded, nothing closed), like a peer behind a dead NAT or cable.
    Connections made after that are forwarded normally."""

    def __init__(self, host: str, port: int, target: tuple[str, int]):
        self.host, self.port, self.target = host, port, target
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._live: list[dict] = []
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    def silence(self) -> None:
        for conn in self._live:
            conn["silent"] = True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_r, up_w = await asyncio.open_connection(*self.target)
        conn = {"silent": False}
        self._live.append(conn)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    if not conn["silent"]:
                        dst.write(data)
                        await dst.drain()
            if not conn["silent"]:
                dst.close()

        tasks = [asyncio.create_task(pump(reader, up_w)), asyncio.create_task(pump(up_r, writer))]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)


async def probe_route(host: str, port: int, i: int) -> float:
    """One well-behaved route exchange (as Asterisk does it); seconds until the decision."""
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(ROUTE_ENV.format(i=i).encode())
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line.startswith(b"SET VARIABLE"), line
        took = time.perf_counter() - t0
        writer.write(b"200 result=1\n")
        await writer.drain()
        await asyncio.wait_for(reader.read(), 5)
        return took
    finally:
        writer.close()


async def hostile_client(host: str, port: int, kind: str, until: float) -> int:
    """Misbehave over and over until `until` (monotonic); returns the connections made."""
    n = 0
    while time.monotonic() < until:
        n += 1
        with contextlib.suppress(ConnectionError, OSError, asyncio.TimeoutError):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                if kind == "silent":  # connects and says nothing
                    await asyncio.wait_for(reader.read(), 5)
                elif kind == "garbage":
                    writer.write(b"\x00\xff GET / HTTP/1.1\r\n\x1b[2J" * 50 + b"\n\n")
                    await writer.drain()
                    await asyncio.wait_for(reader.read(), 5)
                elif kind == "endless-headers":  # valid lines, never the blank one
                    for j in range(10_000):
                        writer.write(f"agi_x{j}: {'y' * 100}\n".encode())
                        await writer.drain()
                        await asyncio.sleep(0.01)
                elif kind == "vanish":  # a real request, gone before answering the command
                    writer.write(ROUTE_ENV.format(i=n).encode())
                    await asyncio.wait_for(reader.readline(), 5)
                    writer.transport.abort()
                    continue
            finally:
                writer.close()
    return n

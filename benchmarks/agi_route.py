"""Benchmark of the FastAGI `route` exchange, alone and beside hostile peers.

The server runs in its own process (as it does beside Asterisk); N simulated Asterisk
clients in this process do the full exchange over real TCP (environment, one SET VARIABLE
answered with `200 result=1`, close). Each hostile phase adds a third process whose
connections do one bad thing over and over: stay silent, send garbage, send headers
forever, close before the blank line, or vanish in the middle of the commands. Printed:
requests/s, client-side latency (connect → server close), server-side latency (accepted
→ last reply), the server's CPU time per request and its counters, per phase.

    .venv/bin/python benchmarks/agi_route.py [--clients 10] [--requests 2000]
        [--hostile-conns 10] [--hostile-rate 20]   # --hostile-rate 0: flood
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import os
import sys
import time
from datetime import date
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import config
from agi.server import FastAgiServer, ServerStats
from callcore.features.routing.agi import make_route_handler
from callcore.features.routing.decision import decide
from config.directory import Directory

HOST = "127.0.0.1"
DIALED = ["12345", "12333", "12349", "12366", "99999", "+8651512345", "883486661"]


def route_env(i: int) -> bytes:
    lines = [
        "agi_network: yes",
        "agi_network_script: route",
        "agi_request: agi://127.0.0.1/route",
        f"agi_channel: Local/route@cc-route-{i:08x};2",
        "agi_language: zh",
        "agi_type: Local",
        f"agi_uniqueid: 1732590000.{i}",
        "agi_version: 22.10.1",
        f"agi_callerid: 138{i:08d}",
        "agi_calleridname: 张三",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        "agi_dnid: unknown",
        "agi_rdnis: unknown",
        "agi_context: cc-route",
        "agi_extension: route",
        "agi_priority: 1",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        "agi_threadid: 140234567890",
        f"agi_arg_1: {DIALED[i % len(DIALED)]}",
        f"agi_arg_2: PJSIP/carrier-{i:08x}",
        f"agi_arg_3: 138{i:08d}",
    ]
    return ("\n".join(lines) + "\n\n").encode()


# ------------------------------------------------------------------ server process


def server_main(conn: Connection, max_connections: int) -> None:
    logging.getLogger("callcore.agi").setLevel(logging.ERROR)  # counted, not printed
    asyncio.run(_server(conn, max_connections))


async def _server(conn: Connection, max_connections: int) -> None:
    directory = Directory(config.load())
    handler = make_route_handler(lambda: directory, frozenset)
    srv = FastAgiServer({"route": handler}, HOST, 0, max_connections=max_connections)
    await srv.start()
    conn.send(srv.bound_port)
    loop = asyncio.get_running_loop()
    cpu = time.process_time()
    while (msg := await loop.run_in_executor(None, conn.recv)) != "stop":
        if msg == "stats":  # report and start a new phase
            stats, srv.stats = srv.stats, ServerStats()
            now = time.process_time()
            conn.send((stats.counters(), stats.percentiles(0.5, 0.99), now - cpu))
            cpu = now
    await srv.close()
    conn.send("closed")


# ------------------------------------------------------------------ normal clients


async def route_call(port: int, i: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(route_env(i))
        n = 0
        while await reader.readline():
            n += 1
            writer.write(b"200 result=1\n")
    finally:
        writer.close()
    return time.perf_counter() - t0, n


async def load(port: int, clients: int, total: int) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    counter = iter(range(total))

    async def client() -> None:
        nonlocal failures
        for i in counter:
            try:
                dt, n = await asyncio.wait_for(route_call(port, i), 5.0)
            except (OSError, TimeoutError):
                failures += 1
                continue
            if n == 1:  # the decision is one `SET VARIABLE SHARED(CC_ROUTE,…)`
                latencies.append(dt)
            else:
                failures += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - t0
    latencies.sort()

    def q(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"rps": len(latencies) / elapsed, "p50": q(0.5), "p99": q(0.99), "failed": failures}


# ------------------------------------------------------------------ hostile peers


async def _drain(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


async def silence(port: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    await _drain(reader)  # until the server's header deadline cuts us
    writer.close()


async def garbage(port: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(os.urandom(700) + b"\n")
    await _drain(reader)
    writer.close()


async def endless_headers(port: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    n = 0
    try:
        while not reader.at_eof():
            n += 1
            writer.write(b"agi_x%d: %s\n" % (n, b"v" * 60))
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


async def early_close(port: int) -> None:
    _, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"agi_network: yes\nagi_network_script: route\n")
    await writer.drain()
    writer.close()


async def vanish(port: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(route_env(7))
    await reader.readline()  # first SET VARIABLE, then gone without answering
    writer.transport.abort()


HOSTILE = {
    "silence": silence,
    "garbage": garbage,
    "endless-headers": endless_headers,
    "early-close": early_close,
    "vanish": vanish,
}


def hostile_main(kind: str, port: int, conns: int, rate: float, stop: Event) -> None:
    asyncio.run(_hostile(kind, port, conns, rate, stop))


async def _hostile(kind: str, port: int, conns: int, rate: float, stop: Event) -> None:
    """`conns` peers misbehaving at most `rate` times a second each (0: as fast as they can)."""
    attack = HOSTILE[kind]

    async def loop() -> None:
        while True:
            t0 = time.perf_counter()
            try:
                await attack(port)
            except OSError:
                pass
            await asyncio.sleep(max(0.0, (1 / rate if rate else 0) - (time.perf_counter() - t0)))

    tasks = [asyncio.create_task(loop()) for _ in range(conns)]
    await asyncio.to_thread(stop.wait)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# ------------------------------------------------------------------ main


def bench_decide(n: int = 100_000) -> tuple[float, float]:
    directory = Directory(config.load())
    day = date.today()
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        decide(directory, DIALED[i % len(DIALED)], "13800000000", day, frozenset())
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return samples[n // 2] * 1e6, samples[int(n * 0.99)] * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=10, help="concurrent simulated Asterisks")
    ap.add_argument("--requests", type=int, default=2000, help="route requests per phase")
    ap.add_argument("--hostile-conns", type=int, default=10, help="concurrent hostile peers")
    ap.add_argument(
        "--hostile-rate", type=float, default=20, help="attempts/s per hostile peer (0: flood)"
    )
    ap.add_argument("--max-connections", type=int, default=1000)
    args = ap.parse_args()

    p50, p99 = bench_decide()
    print(f"decide(): p50 {p50:.1f} µs, p99 {p99:.1f} µs")

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=server_main, args=(child, args.max_connections), daemon=True)
    server.start()
    port = parent.recv()

    def phase(name: str, clients: int, requests: int) -> None:
        r = asyncio.run(load(port, clients, requests))
        parent.send("stats")
        counters, srv, cpu = parent.recv()
        keep = ("ok", "timeouts", "peer_gone", "header_errors", "header_timeouts", "rejected")
        shown = " ".join(f"{k}={counters[k]}" for k in keep if counters[k])
        print(
            f"{name:<16}{clients:>4}{r['rps']:>8.0f}{r['p50']:>8.2f}{r['p99']:>8.2f}"
            f"{srv['p50']:>9.2f}{srv['p99']:>9.2f}{cpu * 1000 / requests:>9.2f}"
            f"{r['failed']:>7}  {shown}"
        )

    asyncio.run(load(port, args.clients, min(500, args.requests)))  # warm-up
    parent.send("stats")
    parent.recv()
    print(
        f"{args.requests} requests per phase; hostile phases add {args.hostile_conns} peers "
        f"misbehaving {args.hostile_rate:g} times/s each (0 = flat out)"
    )
    print(
        f"{'phase':<16}{'N':>4}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'srv p50':>9}{'srv p99':>9}"
        f"{'cpu/req':>9}{'failed':>7}  server counters"
    )
    phase("one at a time", 1, args.requests // 2)
    for kind in [None, *HOSTILE]:
        stop = ctx.Event()
        attacker = None
        if kind:
            attacker = ctx.Process(
                target=hostile_main,
                args=(kind, port, args.hostile_conns, args.hostile_rate, stop),
                daemon=True,
            )
            attacker.start()
            time.sleep(0.5)  # let the attack get going
            parent.send("stats")
            parent.recv()  # the phase's counters start now
        phase(kind or "baseline", args.clients, args.requests)
        stop.set()
        if attacker:
            attacker.join(5)
        time.sleep(0.3)
    parent.send("stop")
    parent.recv()
    server.join(5)


if __name__ == "__main__":
    main()

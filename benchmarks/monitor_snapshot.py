"""How long one monitor refresh takes on a big floor: 1,000 seats, 40 queues, 200 callers
waiting, 60 minutes of figures, in a real Redis (a throwaway namespace).

Measures the snapshot read (one pipeline) and building the monitor's tables, and (with
--app) a full redraw of the textual app headless. No assertions; prints figures.

    .venv/bin/python benchmarks/monitor_snapshot.py [--seats 1000] [--queues 40] [--app]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid

import orjson
import redis.asyncio as aioredis
import yaml

import config
from callcore.features.live.keys import Keys
from callcore.features.live.snapshot import read_snapshot
from callcore.monitor import view
from config.loader import DEFAULT_PATH
from config.schema import SiteConfig


def big_config(seats: int, queues: int) -> SiteConfig:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    base = len(data["zones"])
    for i in range(queues - base):
        data["zones"].append({"id": f"extra{i}", "name": f"扩展专区{i}", "kind": "expert"})
    data["seats"] = [
        {
            "id": f"S{i:04d}",
            "name": f"座席{i}",
            "extension": str(10000 + i),
            "role": "general",
            "zone": "general",
        }
        for i in range(seats)
    ]
    data["supervisors"] = []
    return config.schema.SiteConfig.model_validate(data)


async def fill(r: aioredis.Redis, keys: Keys, cfg: SiteConfig, waiting: int) -> None:
    now = time.time()
    queues = [z.queue for z in cfg.zones]
    states = ["available", "talking", "ringing", "wrap_up", "paused", "logged_off"]
    seats = {
        s.id: orjson.dumps(
            {
                "seat": s.id,
                "name": s.name,
                "zone": "general",
                "state": states[i % len(states)],
                "reason": "break" if i % 6 == 4 else "",
                "since": now - i,
                "wrapup_until": now + 3,
                "queues": queues[: 1 + i % 5],
                "paused_queues": [],
                "call": "",
                "caller": "",
                "device": "ok",
                "calls_taken": i % 30,
            }
        )
        for i, s in enumerate(cfg.seats)
    }
    wait = {
        f"L{i}": orjson.dumps(
            {
                "linkedid": f"L{i}",
                "queue": queues[i % len(queues)],
                "joined_at": now - i,
                "position": 1,
                "caller": f"1390000{i:04d}",
                "caller_name": "张三",
                "dialed": "12345",
                "hotline": "12345",
                "priority": 0,
            }
        )
        for i in range(waiting)
    }
    minute = int(now // 60)
    async with r.pipeline(transaction=False) as p:
        p.hset(keys.meta, "heartbeat", repr(now))
        p.hset(keys.seats, mapping=seats)
        if wait:
            p.hset(keys.waiting, mapping=wait)
        for m in range(minute - 60, minute + 1):
            fields = {}
            for q in queues:
                for c, v in (
                    ("offered", 5),
                    ("answered", 4),
                    ("within_sl", 3),
                    ("wait_ms", 40000),
                    ("wait_n", 4),
                    ("talk_ms", 400000),
                    ("talk_n", 4),
                ):
                    fields[f"q:{q}|{c}"] = v
                fields[f"q:{q}|wait_max_ms"] = 30000
            p.hset(keys.minute(m), mapping=fields)
        await p.execute()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seats", type=int, default=1000)
    ap.add_argument("--queues", type=int, default=40)
    ap.add_argument("--waiting", type=int, default=200)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--app", action="store_true", help="also time redraws of the textual app")
    args = ap.parse_args()
    cfg = big_config(args.seats, args.queues)
    keys = Keys(f"bench-{uuid.uuid4().hex[:8]}")
    r = aioredis.Redis.from_url(args.url)
    try:
        await fill(r, keys, cfg, args.waiting)
        reads, builds = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            snap = await read_snapshot(r, keys, cfg)
            t1 = time.perf_counter()
            for lang in ("zh",):
                view.queues(snap, lang)
                view.seats(snap, lang)
                view.waiting(snap, lang)
            t2 = time.perf_counter()
            reads.append(t1 - t0)
            builds.append(t2 - t1)
        if not snap.available:
            raise SystemExit(f"live state unavailable: {snap.problem} {snap.detail}")
        print(
            f"{len(snap.seats)} seats, {len(snap.queues)} queues, {len(snap.waiting)} waiting: "
            f"snapshot read {statistics.median(reads) * 1000:.1f} ms (median of {args.runs}), "
            f"tables {statistics.median(builds) * 1000:.1f} ms"
        )
        if args.app:
            from callcore.monitor.app import MonitorApp

            async def read():
                return await read_snapshot(r, keys, cfg)

            app = MonitorApp(read, "zh", refresh=3600)
            async with app.run_test(size=(200, 50)) as pilot:
                await pilot.pause(0.5)
                times = []
                for i in range(5):
                    snap = await read()
                    if i % 2:  # every other redraw changes some states: rows move
                        snap.seats.reverse()
                    t0 = time.perf_counter()
                    app.show(snap)
                    await pilot.pause()
                    times.append(time.perf_counter() - t0)
                print(
                    f"textual redraw: median {statistics.median(times) * 1000:.0f} ms, "
                    f"max {max(times) * 1000:.0f} ms (5 redraws, rows reordered every other)"
                )
    finally:
        with contextlib.suppress(Exception):
            found = [k async for k in r.scan_iter(keys.prefix + "*", count=1000)]
            if found:
                await r.delete(*found)
        await r.aclose()


if __name__ == "__main__":
    asyncio.run(main())

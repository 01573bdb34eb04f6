"""Call records stored per second through StoreWriter (journal + fsync + database).

    .venv/bin/python benchmarks/store_write.py                  # SQLite and PostgreSQL
    .venv/bin/python benchmarks/store_write.py --only sqlite --records 200000
    CALLCORE_BENCH_PG_URL=postgresql://postgres@db:5432/test .venv/bin/python benchmarks/...

Two workloads, each timed from the first `submit` until `flush()` returns (every record
journaled, fsynced and committed):

- new:       every record is a new call (all inserts);
- lifecycle: each call is entered, answered and ended, the three snapshots far enough apart
             that none collapse within a batch (1 insert + 2 updates per call).

PostgreSQL runs in a throw-away schema; SQLite in a temporary folder. Target: >= 10,000/s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcore.records import CallRecord, Outcome, from_epoch
from callcore.store.db import make_engine, query_calls
from callcore.store.testing import (
    DEFAULT_PG_URL,
    pg_unreachable_reason,
    temporary_pg_schema,
)
from callcore.store.writer import StoreWriter

T0 = 1_760_000_000.0


def _entered(i: int) -> CallRecord:
    t = T0 + i
    return CallRecord(
        linkedid=f"{t:.0f}.{i}",
        caller_number=f"138{i:08d}",
        caller_name="张三" if i % 2 else "李四",
        dialed_number="12345",
        hotline="12345",
        hotline_name="12345政务服务便民热线",
        route="q-city",
        priority=1,
        entered_at=from_epoch(t),
        queued_at=from_epoch(t + 0.4),
        reason="directory: 12345",
        as_of=t + 0.4,
    )


def _answered(i: int) -> CallRecord:
    r = _entered(i)
    r.answered_at = r.entered_at + timedelta(seconds=12)  # type: ignore[operator]
    r.wait_seconds, r.seat, r.as_of = 11.6, f"s{i % 200:03d}", r.as_of + 12
    return r


def _ended(i: int) -> CallRecord:
    r = _answered(i)
    r.ended_at = r.answered_at + timedelta(seconds=95)  # type: ignore[operator]
    r.talk_seconds, r.outcome, r.hangup_cause, r.as_of = 95.0, Outcome.ANSWERED, 16, r.as_of + 95
    return r


def workload(kind: str, n: int, gap: int = 5000) -> Iterator[CallRecord]:
    if kind == "new":
        yield from (_entered(i) for i in range(n))
        return
    calls = n // 3  # stream: entered(k), answered(k - gap), ended(k - 2 gap)
    for k in range(calls + 2 * gap):
        if k < calls:
            yield _entered(k)
        if 0 <= k - gap < calls:
            yield _answered(k - gap)
        if 0 <= k - 2 * gap < calls:
            yield _ended(k - 2 * gap)


async def run(url: str, journal: Path, kind: str, n: int, batch: int) -> dict[str, float]:
    records = list(workload(kind, n))
    gc.collect()
    gc.freeze()  # the prepared input is ours, not the writer's: keep it out of GC passes
    writer = StoreWriter(url, journal, batch_size=batch)
    writer.start()
    await writer.flush()  # migrations done: time only the writing
    t0 = time.perf_counter()
    for rec in records:
        writer.submit(rec)
    t_submit = time.perf_counter() - t0
    await writer.flush()
    elapsed = time.perf_counter() - t0
    stats = writer.stats()
    await writer.close()
    gc.unfreeze()
    engine = make_engine(url)
    stored = len(query_calls(engine))
    engine.dispose()
    return {
        "records": len(records),
        "rate": len(records) / elapsed,
        "seconds": elapsed,
        "submit_us": t_submit / len(records) * 1e6,
        "batches": stats["batches"],
        "rows": stored,
    }


def report(backend: str, kind: str, r: dict[str, float]) -> None:
    print(
        f"{backend:<11} {kind:<10} {r['records']:>8.0f} records {r['seconds']:>7.2f} s "
        f"{r['rate']:>9,.0f} records/s   submit {r['submit_us']:.1f} µs/record on the loop, "
        f"{r['batches']:.0f} batches, {r['rows']:.0f} rows"
    )


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--records", type=int, default=60_000)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--pg-url", default=os.environ.get("CALLCORE_BENCH_PG_URL", DEFAULT_PG_URL))
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    ap.add_argument("--workload", choices=["new", "lifecycle"], action="append")
    args = ap.parse_args()
    kinds = args.workload or ["new", "lifecycle"]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    if args.only in (None, "sqlite"):
        for kind in kinds:
            with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
                url = f"sqlite:///{tmp}/store.db"
                report(
                    "sqlite",
                    kind,
                    await run(url, Path(tmp, "j"), kind, args.records, args.batch_size),
                )
    if args.only in (None, "postgresql"):
        reason = pg_unreachable_reason(args.pg_url)
        if reason:
            print(f"postgresql skipped: {reason}")
            return 1 if args.only else 0
        for kind in kinds:
            with (
                tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp,
                temporary_pg_schema(args.pg_url, "cc_bench") as url,
            ):
                report(
                    "postgresql",
                    kind,
                    await run(url, Path(tmp, "j"), kind, args.records, args.batch_size),
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

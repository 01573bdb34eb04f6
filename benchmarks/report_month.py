"""A month's report of a large centre: generate the calls (and their seat events and
transfer legs) into a fresh SQLite file and/or PostgreSQL schema, then time the report
over the month with every grouping, a day's staffing and a forecast, from the kept days
(rollups), and again after one day changed (docs/decisions/reports.md).

    .venv/bin/python benchmarks/report_month.py --calls 1000000 --db both

Figures, not assertions: not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

import config
from callcore.features.reports.model import resolve_range
from callcore.features.reports.service import ReportService
from callcore.store import db
from callcore.store.models import RECORD_COLUMNS, Call
from callcore.store.testing import DEFAULT_PG_URL, temporary_pg_schema

CFG = config.load()
calls = Call.__table__
ROUTES = [("12345", "q-general")] * 14 + [
    ("12349", "q-general"),
    ("12333", "q-hrss"),
    ("12393", "q-medins"),
    ("12329", "q-hpf"),
    ("12315", "q-market"),
    ("12366", "trunk:tax12366"),
    ("12366", "q-tax"),
]
SEATS = [f"B{i:03d}" for i in range(240)]
EVENT_COLUMNS = ("id", "seat", "state", "reason", "zone", "at", "linkedid", "source", "as_of")
LEG_COLUMNS = (
    "id",
    "linkedid",
    "seq",
    "kind",
    "target",
    "from_seat",
    "via",
    "seat",
    "started_at",
    "answered_at",
    "ended_at",
    "outcome",
    "as_of",
)


def _text(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat(" ", "microseconds")[:26]


def generate(n: int, first: date, days: int, seed: int = 7) -> Iterator[tuple[dict, list, list]]:
    """(call row, its seat events, its legs) for n calls spread over the days, busier by
    day than by night."""
    rnd = random.Random(seed)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC) - timedelta(hours=8)
    # three calls in four between 08:00 and 20:00 local, the rest at any hour; written in
    # time order, as a live store is (rows of one day lie together)
    times = sorted(
        start
        + timedelta(
            days=rnd.randrange(days),
            hours=8 + rnd.random() * 12 if rnd.random() < 0.75 else rnd.random() * 24,
        )
        for _ in range(n)
    )
    for i, t in enumerate(times):
        number, route = rnd.choice(ROUTES)
        seat = rnd.choice(SEATS)
        lid = f"{t.timestamp():.6f}.{i}"
        notice = 11.0 if number == "12349" else 0.0
        queued = t + timedelta(seconds=notice + 0.1)
        wait = rnd.expovariate(1 / 12)
        r = rnd.random()
        events: list[tuple] = []
        legs: list[tuple] = []
        row = dict.fromkeys(RECORD_COLUMNS)
        row.update(
            linkedid=lid,
            caller_number=f"139{rnd.randrange(10**8):08d}",
            caller_name="",
            dialed_number=number,
            hotline=number,
            hotline_name="",
            route=route,
            priority=0,
            entered_at=t,
            queued_at=queued,
            fallback=False,
            affinity=False,
            flags="[]",
            reason="",
            transfer_target="",
            hangup_cause=16,
        )
        if r < 0.03:  # gave up in the queue
            row.update(
                outcome="abandoned",
                wait_seconds=wait,
                ended_at=queued + timedelta(seconds=wait),
                seat="",
            )
        else:
            talk = rnd.expovariate(1 / 150)
            answered = queued + timedelta(seconds=wait)
            ended = answered + timedelta(seconds=talk)
            row.update(
                outcome="answered",
                wait_seconds=wait,
                talk_seconds=talk,
                answered_at=answered,
                ended_at=ended,
                seat=seat,
            )
            zone = route.removeprefix("q-")
            for state, at in (
                ("ringing", answered - timedelta(seconds=2)),
                ("talking", answered),
                ("wrap_up", ended),
                ("available", ended + timedelta(seconds=5)),
            ):
                events.append(
                    (
                        uuid.uuid4().hex,
                        seat,
                        state,
                        "",
                        zone,
                        at,
                        lid if state != "available" else "",
                        "asterisk",
                        at.timestamp(),
                    )
                )
            if r > 0.95:
                row["outcome"] = "transferred"
                legs.append(
                    (
                        f"{lid}/0",
                        lid,
                        0,
                        "queue",
                        route,
                        "",
                        "",
                        seat,
                        t,
                        answered,
                        None,
                        "answered",
                        0.0,
                    )
                )
                legs.append(
                    (
                        f"{lid}/1",
                        lid,
                        1,
                        "blind",
                        "q-general",
                        seat,
                        "softphone",
                        "",
                        answered,
                        None,
                        None,
                        "answered",
                        0.0,
                    )
                )
        row["as_of"] = row["ended_at"].timestamp()
        yield row, events, legs


def _copy(raw, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    for r in rows:
        w.writerow(["\\N" if v is None else v for v in r])
    buf.seek(0)
    with raw.cursor() as cur:
        cur.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf
        )


def load(url: str, n: int, first: date, days: int) -> float:
    """Fill the store: PostgreSQL by COPY, SQLite by executemany; returns seconds taken."""
    db.upgrade(url)
    engine = db.make_engine(url)
    t0 = time.perf_counter()
    cols = (*RECORD_COLUMNS, "created_at", "updated_at")
    batch: tuple[list, list, list] = ([], [], [])

    def flush() -> None:
        calls, events, legs = batch
        now = datetime.now(UTC)
        call_rows = [(*(c[k] for k in RECORD_COLUMNS), now, now) for c in calls]
        if engine.dialect.name == "postgresql":
            raw = engine.raw_connection()
            try:
                _copy(raw.driver_connection, "calls", cols, call_rows)
                _copy(raw.driver_connection, "seat_events", EVENT_COLUMNS, events)
                _copy(raw.driver_connection, "call_legs", LEG_COLUMNS, legs)
                raw.commit()
            finally:
                raw.close()
        else:

            def fix(rows: list[tuple]) -> list[tuple]:
                return [tuple(_text(v) if isinstance(v, datetime) else v for v in r) for r in rows]

            with engine.begin() as conn:
                for table, columns, rows in (
                    ("calls", cols, call_rows),
                    ("seat_events", EVENT_COLUMNS, events),
                    ("call_legs", LEG_COLUMNS, legs),
                ):
                    if rows:
                        marks = ", ".join("?" * len(columns))
                        conn.exec_driver_sql(
                            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                            fix(rows),
                        )
        for part in batch:
            part.clear()

    for row, events, legs in generate(n, first, days):
        batch[0].append(row)
        batch[1].extend(events)
        batch[2].extend(legs)
        if len(batch[0]) >= 50_000:
            flush()
    flush()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - t0


def measure(url: str, first: date) -> dict[str, float]:
    """Keep the month's days (as the engine does hourly), then time the reports from them,
    and the month again after a reconciliation rewrote a call of one day."""
    engine = db.make_engine(url)
    db.upgrade(engine)  # a kept SQLite file from before the rollups gets them
    now = datetime.now(UTC)
    svc = ReportService(engine, lambda: CFG, lambda: now)
    month = resolve_range("month", CFG.site.timezone, first)
    out: dict[str, float] = {}

    def timed(what: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        result = fn()
        out[what] = time.perf_counter() - t0
        return result

    last = first + timedelta(days=30)
    done = timed("keep the month's rollups", lambda: svc.keep_rollups(first, last))
    print(f"  rollups: {Counter(what for _d, what in done)}")
    timed("keep them again (nothing changed)", lambda: svc.keep_rollups(first, last))
    groupings = ["interval", "day", "number", "zone", "seat"]
    rep = timed("month, 5 groupings", lambda: svc.report(month, groupings, interval=30))
    timed("month, by day", lambda: svc.report(month, ["day"], interval=30))
    timed("staffing, a day", lambda: svc.staffing(first + timedelta(days=14), 30))
    timed("forecast, 4 weeks", lambda: svc.forecast(first + timedelta(days=28), 4, 30))
    with engine.begin() as conn:  # a reconciliation rewrites one call of the 15th
        conn.execute(
            update(calls)
            .where(
                calls.c.linkedid
                == select(func.min(calls.c.linkedid))
                .where(calls.c.entered_at >= month.start + timedelta(days=14))
                .scalar_subquery()
            )
            .values(updated_at=datetime.now(UTC))
        )
    again = timed("month after one day changed", lambda: svc.report(month, groupings, 30))
    assert again.total.figures == rep.total.figures
    f = rep.total.figures
    w = rep.worst24
    print(
        f"  offered {f['offered']:,}  answered {f['answered']:,}  SL15 {f['sl15']:.3f}  "
        f"p90 wait {f['p90_wait']} s  AHT {f['aht']:.1f} s  occupancy {f['occupancy']:.3f}"
    )
    if w:
        print(f"  worst 24 h {w.rate:.4f} from {w.start:%Y-%m-%d %H:%M:%S}")
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--pg", default=DEFAULT_PG_URL)
    ap.add_argument(
        "--sqlite-file", type=Path, help="Keep the SQLite store here (reused if it exists)."
    )
    args = ap.parse_args()
    first = date(2025, 3, 1)
    with tempfile.TemporaryDirectory() as tmp:
        targets = []
        if args.db in ("sqlite", "both"):
            path = args.sqlite_file or Path(tmp) / "month.db"
            targets.append(("SQLite", f"sqlite:///{path}", None))
        if args.db in ("postgresql", "both"):
            targets.append(("PostgreSQL", None, args.pg))
        for name, url, pg in targets:
            if pg:
                with temporary_pg_schema(pg, "cc_bench") as schema_url:
                    run(name, schema_url, args.calls, first)
            else:
                run(name, url, args.calls, first)


def run(name: str, url: str, n: int, first: date) -> None:
    path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite") else None
    if path is None or not path.exists():
        print(f"{name}: loading {n:,} calls over March 2025 ...")
        print(f"  loaded in {load(url, n, first, 31):.1f} s")
    else:
        print(f"{name}: the store in {path}")
    for what, secs in measure(url, first).items():
        print(f"  {what}: {secs:.2f} s")


if __name__ == "__main__":
    main()

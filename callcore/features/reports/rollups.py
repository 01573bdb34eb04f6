"""Daily rollups: a settled local day's sums kept in the store, so that a month's report
reads thirty small days instead of a million calls and four million seat events
(docs/decisions/reports.md, "Rollups").

A report's range is cut into the whole, settled local days it holds and what is left
(today, yesterday, a partial day at either end). Each settled day comes from its rollup
when the rollup's fingerprint still matches the store, and is built (and kept) from the
same queries as a live range otherwise; the rest is summed live. A day is settled once
`SETTLE` has passed since its end: its calls' transfers, wrap-ups and seat states are
then all in. The fingerprint counts the rows a day's sums are made of (calls with their
last update, seat events, transfer legs with theirs, and each column source's `stamp` of
the day's calls: ratings, QA scores, reached callbacks) and the targets: a reconciliation
that adds or rewrites a call of a past day, a rating given late or a QA correction
changes it, and the day is rebuilt, in one
transaction, on the next report that needs it (or by `callcore report rollups`).

Sums are kept at the database's own keys (15-minute UTC bucket, route, hotline, seat,
bucket × route, and seat × zone × state × reason for seat time): every grouping of a
report is made from them exactly as from a live range, so figures are identical.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, delete, func, select
from sqlalchemy.exc import SQLAlchemyError

from config.schema import ServiceTargets

from . import queries
from .model import Acc, Range, midnight
from .packed import Packed, merge
from .queries import ColumnSource
from .tables import rollup_days, rollups

log = logging.getLogger(__name__)

# Each dimension kept, and the database keys it sums by (queries.KEYS).
DIMS: dict[str, tuple[str, ...]] = {
    "bucket": ("bucket",),
    "route": ("route",),
    "hotline": ("hotline",),
    "seat": ("seat",),
    "bucket_route": ("bucket", "route"),
}
SEAT_DIM = "seat_state"
# What a rollup holds and how it is computed: a change to either bumps this, and every
# day's fingerprint with it.
VERSION = "2"  # 2: the column sources' counters are kept with the calls' own
SETTLE = 2 * queries.CALL_TAIL

DbKey = tuple[Any, ...]
SeatKey = tuple[str, str, str, str]  # seat, zone at the time, state, pause reason


@dataclass
class Part:
    """Sums of a stretch of time at the database's keys, seat seconds, and arrivals."""

    sums: dict[str, dict[DbKey, Acc]] = field(default_factory=dict)
    seat: dict[SeatKey, float] = field(default_factory=dict)
    times: list[np.ndarray] = field(default_factory=list)
    answered: list[np.ndarray] = field(default_factory=list)
    packed: dict[str, list[Packed]] = field(default_factory=dict)  # kept days, not unpacked

    def add(self, other: Part) -> None:
        """Take in another stretch's sums (its objects become this part's)."""
        for dim, packs in other.packed.items():
            self.packed.setdefault(dim, []).extend(packs)
        for dim, accs in other.sums.items():
            mine = self.sums.setdefault(dim, {})
            for key, acc in accs.items():
                have = mine.get(key)
                if have is None:
                    mine[key] = acc
                else:
                    have.merge(acc)
        for key, secs in other.seat.items():
            self.seat[key] = self.seat.get(key, 0.0) + secs
        self.times.extend(other.times)
        self.answered.extend(other.answered)

    def unpack(self) -> Part:
        """The kept days' packed sums added up and merged into `sums`."""
        packed, self.packed = self.packed, {}
        self.add(Part({dim: merge(packs) for dim, packs in packed.items()}))
        return self

    def arrivals(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.times:
            return np.empty(0), np.empty(0, dtype=bool)
        return np.concatenate(self.times), np.concatenate(self.answered).astype(bool)

    @property
    def seat_rows(self) -> list[tuple[str, str, str, str, float]]:
        return [(*k, v) for k, v in self.seat.items()]


def live(
    conn: Connection,
    start: datetime,
    end: datetime,
    targets: ServiceTargets,
    now: datetime,
    dims: Iterable[str] = DIMS,
    sources: Sequence[ColumnSource] = (),
) -> Part:
    """The sums of [start, end) straight from calls, legs, seat events and the sources."""
    ct = queries.load_calls(conn, start, end, targets, sources, now)
    try:
        sums = {d: queries.call_sums(conn, ct, list(DIMS[d]), _raw) for d in dims}
        times, answered = queries.arrivals(conn, ct)
    finally:
        ct.drop(conn)
        conn.commit()
    seat: dict[SeatKey, float] = {}
    for seat_, zone, state, reason, secs in queries.seat_time(conn, start, end, now):
        seat[(seat_, zone, state, reason)] = seat.get((seat_, zone, state, reason), 0.0) + secs
    return Part(sums, seat, [times], [answered])


def _raw(*values: Any) -> DbKey:
    return tuple(values)


# -- which days ---------------------------------------------------------------------------


def settled_days(rng: Range, tz: str, now: datetime) -> list[tuple[date, datetime, datetime]]:
    """The whole local days inside the range that have settled: (day, start, end)."""
    out = []
    day = rng.start.astimezone(ZoneInfo(tz)).date()
    while True:
        a, b = midnight(day, tz), midnight(day + timedelta(days=1), tz)
        if b > rng.end or b + SETTLE > now:
            return out
        if a >= rng.start:
            out.append((day, a, b))
        day += timedelta(days=1)


def fingerprints(
    conn: Connection,
    days: Sequence[tuple[date, datetime, datetime]],
    tz: str,
    targets: Any,
    sources: Sequence[ColumnSource] = (),
) -> dict[date, str]:
    """What each day's sums are made of, as counted by index-only scans: its calls (and
    their last update), the seat events of the day before to two days after (states and
    wrap-ups run across midnight), its and the next day's transfer legs (and the sum of
    their snapshots' times: any newer snapshot moves it), what each column source's
    numbers of the day's calls are made of, and the targets. Calls take
    `updated_at` from the writer's clock, so any rewrite of a call moves it."""
    if not days:
        return {}
    first, last = days[0][0], days[-1][0]
    counts = {
        d: _counts(conn, midnight(d, tz), midnight(d + timedelta(days=1), tz))
        for d in (first + timedelta(days=n) for n in range(-1, (last - first).days + 3))
    }
    head = [VERSION, targets.model_dump(mode="json"), [src.name for src in sources]]
    out = {}
    for day, a, b in days:
        near = [day + timedelta(days=n) for n in (-1, 0, 1, 2)]
        calls_, legs_ = counts[day][0], [counts[d][2] for d in near[1:3]]
        events_ = [counts[d][1] for d in near]
        given = [src.stamp(conn, a, b) for src in sources]
        text = json.dumps([*head, calls_, events_, legs_, given], sort_keys=True, default=str)
        out[day] = hashlib.sha256(text.encode()).hexdigest()
    return out


def _counts(conn: Connection, a: datetime, b: datetime) -> tuple[list[Any], int, list[Any]]:
    """A local day's calls (count, last update), seat events, legs (count, sum as_of)."""
    c, e, g = queries.calls.c, queries.events.c, queries.legs.c
    n_calls, last = conn.execute(
        select(func.count(), func.max(c.updated_at)).where(c.entered_at >= a, c.entered_at < b)
    ).one()
    n_events = conn.execute(select(func.count()).where(e.at >= a, e.at < b)).scalar_one()
    n_legs, as_of = conn.execute(
        select(func.count(), func.sum(g.as_of)).where(g.started_at >= a, g.started_at < b)
    ).one()
    return [n_calls, str(last)], int(n_events), [n_legs, as_of]


# -- kept days ---------------------------------------------------------------------------
# One row per day and dimension: its sums packed as arrays (`packed.Packed`), or for seat
# time a JSON list of [seat, zone, state, reason, seconds].


def read(
    conn: Connection, days: Sequence[date], tz: str, dims: Iterable[str] = DIMS
) -> dict[date, tuple[str, Part]]:
    """The kept rollups of these days, with the dimensions asked for: (fingerprint,
    sums) per day."""
    if not days:
        return {}
    d, r = rollup_days.c, rollups.c
    out: dict[date, tuple[str, Part]] = {}
    span = (min(days), max(days))
    for day, stamp, n, blob in conn.execute(
        select(d.day, d.stamp, d.calls, d.arrivals).where(d.tz == tz, d.day.between(*span))
    ):
        times = np.frombuffer(blob[: 8 * n], dtype="<f8")
        answered = np.frombuffer(blob[8 * n :], dtype=np.uint8).astype(bool)
        out[day] = (stamp, Part({}, {}, [times], [answered]))
    rows = select(r.day, r.dim, r.sums).where(
        r.tz == tz, r.day.between(*span), r.dim.in_([*dims, SEAT_DIM])
    )
    for day, dim, blob in conn.execute(rows):
        part = out[day][1]
        if dim == SEAT_DIM:
            part.seat = {(a, b, c, e): secs for a, b, c, e, secs in json.loads(blob)}
        else:
            part.packed[dim] = [Packed.from_bytes(blob)]
    return out


def write(conn: Connection, day: date, tz: str, stamp: str, part: Part, now: datetime) -> bool:
    """Keep a day's sums, replacing what was kept: one transaction, so a reader sees the
    old day or the new one. False when another writer got there first or the store is
    busy (the report has its figures anyway)."""
    times, answered = part.arrivals()
    rows = [{"dim": dim, "sums": Packed.of(accs).to_bytes()} for dim, accs in part.sums.items()]
    seat = json.dumps([[*k, v] for k, v in part.seat.items()], ensure_ascii=False)
    rows.append({"dim": SEAT_DIM, "sums": seat.encode()})
    blob = times.astype("<f8").tobytes() + answered.astype(np.uint8).tobytes()
    head = {"day": day, "tz": tz}
    try:
        for table in (rollups, rollup_days):
            conn.execute(delete(table).where(table.c.day == day, table.c.tz == tz))
        conn.execute(
            rollup_days.insert(),
            {**head, "stamp": stamp, "built_at": now, "calls": len(times), "arrivals": blob},
        )
        conn.execute(rollups.insert(), [{**head, **r} for r in rows])
        conn.commit()
    except SQLAlchemyError as exc:
        conn.rollback()
        log.warning("report rollup of %s not kept: %s", day, exc.__class__.__name__)
        return False
    return True


# -- a range -------------------------------------------------------------------------------


def gather(
    conn: Connection,
    rng: Range,
    tz: str,
    targets: ServiceTargets,
    now: datetime,
    dims: Iterable[str] = DIMS,
    keep: bool = True,
    sources: Sequence[ColumnSource] = (),
) -> Part:
    """The range's sums: settled days from their rollups (built and kept when missing or
    out of date), the rest live."""
    dims = tuple(dims)
    days = settled_days(rng, tz, now)
    kept = read(conn, [d for d, _a, _b in days], tz, dims)
    stamps = fingerprints(conn, days, tz, targets, sources)
    conn.commit()
    out = Part()
    since = rng.start
    for day, a, b in days:
        if since < a:
            out.add(live(conn, since, a, targets, now, dims, sources))
        have = kept.get(day)
        if have is not None and have[0] == stamps[day]:
            out.add(have[1])
        else:
            out.add(_build(conn, day, (a, b), tz, stamps[day], targets, now, keep, sources))
        since = b
    if since < rng.end:
        out.add(live(conn, since, rng.end, targets, now, dims, sources))
    return out.unpack()


def _build(
    conn: Connection,
    day: date,
    span: tuple[datetime, datetime],
    tz: str,
    stamp: str,
    targets: ServiceTargets,
    now: datetime,
    keep: bool = True,
    sources: Sequence[ColumnSource] = (),
) -> Part:
    part = live(conn, *span, targets, now, DIMS, sources)
    if keep:
        write(conn, day, tz, stamp, part, now)
    return part


def build(
    conn: Connection,
    first: date,
    last: date,
    tz: str,
    targets: ServiceTargets,
    now: datetime,
    sources: Sequence[ColumnSource] = (),
) -> list[tuple[date, str]]:
    """Bring the rollups of the days first..last up to date: (day, kept | built |
    unsettled). Idempotent: a day whose store has not changed is left as it is."""
    rng = Range(midnight(first, tz), midnight(last + timedelta(days=1), tz), "range")
    days = settled_days(rng, tz, now)
    have = {d: stamp for d, (stamp, _p) in read(conn, [d for d, _a, _b in days], tz, ()).items()}
    stamps = fingerprints(conn, days, tz, targets, sources)
    conn.commit()
    spans = {d: (a, b) for d, a, b in days}
    out: list[tuple[date, str]] = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        if day not in spans:
            out.append((day, "unsettled"))
        elif have.get(day) == stamps[day]:
            out.append((day, "kept"))
        else:
            _build(conn, day, spans[day], tz, stamps[day], targets, now, True, sources)
            out.append((day, "built"))
    return out

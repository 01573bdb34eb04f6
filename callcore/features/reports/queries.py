"""The report's database side: counters summed per group by SQL aggregation, on SQLite and
PostgreSQL alike, so a month of a large centre is a few grouped scans rather than a million
records in Python (docs/decisions/reports.md).

Three kinds of rows come back: call sums per group key and whole-second wait (the
histograms of the percentiles); seat seconds per state and pause reason, from
`seat_events` (a state lasts until the seat's next event); and the calls' arrival times
with whether a human answered (the sliding 24-hour window). A few SQL functions differ
between the two databases and are compiled per dialect below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Float,
    Integer,
    Select,
    and_,
    case,
    func,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from callcore.records import Outcome
from callcore.store.models import Call, CallLeg, SeatEvent, UTCDateTime
from config.schema import ServiceTargets
from queues.stats import sql_count, sql_counters, sql_ms

from .model import BUCKET_SECONDS, Acc

calls = Call.__table__
legs = CallLeg.__table__
events = SeatEvent.__table__

# A seat state older than this before the range began is not looked for (seats log in and
# out every shift; the store keeps every change, so the lookback only bounds the scan).
SEAT_LOOKBACK = timedelta(days=1)
# How long after its arrival a call's transfers and wrap-up are looked for.
CALL_TAIL = timedelta(days=1)
TRANSFER_KINDS = ("blind", "attended")


# -- dialect-specific functions ---------------------------------------------------------


class epoch(FunctionElement[float]):
    """Seconds since 1970 (UTC) of a stored time, with its fraction."""

    type = Float()
    inherit_cache = True


class bucket(FunctionElement[int]):
    """The 15-minute UTC bucket of a stored time (epoch seconds // 900)."""

    type = BigInteger()
    inherit_cache = True


class seconds_between(FunctionElement[float]):
    """Seconds from the first stored time to the second."""

    type = Float()
    inherit_cache = True


class ceil_seconds(FunctionElement[int]):
    """A non-negative number of seconds, to the millisecond, rounded up to a whole number."""

    type = Integer()
    inherit_cache = True


class later(FunctionElement[Any]):
    """The later of two times (both stored the same way)."""

    inherit_cache = True


class earlier(FunctionElement[Any]):
    """The earlier of two times."""

    inherit_cache = True


# SQLite keeps times as text, "2025-03-03 08:00:06.500000": whole seconds from strftime,
# the fraction as written (julianday's floating point is some microseconds off).
_SQLITE_EPOCH = "(CAST(strftime('%s', {0}) AS INTEGER) + CAST(substr({0}, 20) AS REAL))"
# Each function's SQL per dialect: {0}, {1} are its arguments.
_SQL: dict[type[FunctionElement[Any]], dict[str, str]] = {
    epoch: {
        "sqlite": _SQLITE_EPOCH.format("{0}"),
        "postgresql": "CAST(EXTRACT(EPOCH FROM {0}) AS DOUBLE PRECISION)",
    },
    bucket: {
        "sqlite": f"(CAST(strftime('%s', {{0}}) AS INTEGER) / {BUCKET_SECONDS})",
        "postgresql": f"CAST(FLOOR(EXTRACT(EPOCH FROM {{0}}) / {BUCKET_SECONDS}) AS BIGINT)",
    },
    seconds_between: {
        "sqlite": f"({_SQLITE_EPOCH.format('{1}')} - {_SQLITE_EPOCH.format('{0}')})",
        "postgresql": "CAST(EXTRACT(EPOCH FROM ({1} - {0})) AS DOUBLE PRECISION)",
    },
    ceil_seconds: {
        "sqlite": "(CAST((round(({0}) * 1000) / 1000.0) AS INTEGER)"
        " + ((round(({0}) * 1000) / 1000.0) > CAST((round(({0}) * 1000) / 1000.0) AS INTEGER)))",
        "postgresql": "CAST(CEIL(round(({0}) * 1000) / 1000.0) AS INTEGER)",
    },
    later: {"sqlite": "max({0}, {1})", "postgresql": "GREATEST({0}, {1})"},
    earlier: {"sqlite": "min({0}, {1})", "postgresql": "LEAST({0}, {1})"},
}


def _compiler(template: str) -> Any:
    def render(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
        return template.format(*[compiler.process(a, **kw) for a in element.clauses])

    return render


for _fn, _forms in _SQL.items():
    for _dialect, _template in _forms.items():
        compiles(_fn, _dialect)(_compiler(_template))


def _time(value: datetime) -> ColumnElement[Any]:
    return literal(value, UTCDateTime())


# -- optional columns -------------------------------------------------------------------


class ColumnSource(Protocol):
    """Where optional figures come from (ratings, QA, callbacks): another feature plugs
    one in. `select(start, end)` gives at most one row per call: `linkedid` and numbers
    named after `counters` (a subset of `model.OPTIONAL_COUNTERS`), summed per group
    with the calls they belong to."""

    name: str
    counters: tuple[str, ...]

    def select(self, start: datetime, end: datetime) -> Select[Any]: ...


# -- call sums --------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One grouping column of the call sums: its name and what the database groups by."""

    name: str
    expr: ColumnElement[Any]


KEYS = {
    "bucket": Key("bucket", bucket(calls.c.entered_at)),
    "route": Key("route", calls.c.route),
    "hotline": Key("hotline", calls.c.hotline),
    "seat": Key("seat", calls.c.seat),
}


def _periods(lo: datetime, hi: datetime, cap: datetime) -> Any:
    """Seat states that began in [lo, hi), each with when it ended: the seat's next event
    in that stretch, else `cap` (the range's end, or now if sooner)."""
    nxt = func.lead(events.c.at).over(
        partition_by=events.c.seat, order_by=(events.c.at, events.c.as_of)
    )
    return (
        select(
            events.c.seat,
            events.c.state,
            events.c.reason,
            events.c.zone,
            events.c.linkedid,
            events.c.at,
            func.coalesce(nxt, _time(cap)).label("until"),
        )
        .where(events.c.at >= lo, events.c.at < hi)
        .subquery("periods")
    )


def _joins(start: datetime, end: datetime, now: datetime) -> tuple[Any, Any]:
    """Per call: its seat transfers (call_legs) and its wrap-up seconds (seat_events)."""
    tail = end + CALL_TAIL
    moved = (
        select(legs.c.linkedid, func.count().label("n"))
        .where(
            legs.c.kind.in_(TRANSFER_KINDS),
            legs.c.started_at >= start,
            legs.c.started_at < tail,
        )
        .group_by(legs.c.linkedid)
        .subquery("moved")
    )
    p = _periods(start, tail, min(tail, now))
    wrap = (
        select(p.c.linkedid, func.sum(seconds_between(p.c.at, p.c.until)).label("s"))
        .where(p.c.state == "wrap_up", p.c.linkedid != "")
        .group_by(p.c.linkedid)
        .subquery("wrap")
    )
    return moved, wrap


def _extra_counters(
    targets: ServiceTargets, moved: Any, wrap: Any
) -> dict[str, ColumnElement[Any]]:
    c = calls.c
    answered = c.answered_at.is_not(None)
    abandoned = and_(c.answered_at.is_(None), c.outcome == Outcome.ABANDONED.value)
    trunk = c.route.like("trunk:%")
    handled = and_(answered, ~trunk)
    queued = c.queued_at.is_not(None)
    lasted_ms = func.coalesce(func.round(seconds_between(c.entered_at, c.ended_at) * 1000), 1e12)
    short_ms = targets.short_abandon_seconds * 1000
    return {
        "short_abandoned": sql_count(and_(abandoned, lasted_ms < short_ms)),
        "reach_ms": sql_ms(answered, seconds_between(c.entered_at, c.answered_at)),
        "reach_n": sql_count(answered),
        "handled": sql_count(handled),
        "handled_talk_ms": sql_ms(and_(handled, c.talk_seconds.is_not(None)), c.talk_seconds),
        "wrap_ms": sql_ms(handled, func.coalesce(wrap.c.s, 0.0)),
        "transfers": func.coalesce(func.sum(func.coalesce(moved.c.n, 0)), 0),
        "transferred": sql_count(func.coalesce(moved.c.n, 0) > 0),
        "subcentre": sql_count(and_(answered, trunk)),
        "queued": sql_count(queued),
        "queued_wait_ms": sql_ms(queued, func.coalesce(c.wait_seconds, 0.0)),
        "queue_abandoned": sql_count(and_(abandoned, queued)),
    }


def _nonneg(x: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((x > 0, x), else_=literal(0.0))


def call_sums(
    conn: Connection,
    start: datetime,
    end: datetime,
    keys: Sequence[str],
    targets: ServiceTargets,
    sources: Sequence[ColumnSource] = (),
    now: datetime | None = None,
) -> list[tuple[tuple[Any, ...], Acc]]:
    """The calls that arrived in [start, end), summed per value of `keys` (names of
    `KEYS`): one Acc per key value and whole-second wait and time to a human."""
    now = now or end
    c = calls.c
    moved, wrap = _joins(start, end, now)
    answered = c.answered_at.is_not(None)
    wait_s = case((answered, ceil_seconds(_nonneg(func.coalesce(c.wait_seconds, 0.0)))))
    reach_s = case((answered, ceil_seconds(_nonneg(seconds_between(c.entered_at, c.answered_at)))))
    sums = {**sql_counters(calls, targets.answer_seconds), **_extra_counters(targets, moved, wrap)}
    joined = calls.outerjoin(moved, moved.c.linkedid == c.linkedid).outerjoin(
        wrap, wrap.c.linkedid == c.linkedid
    )
    given: list[tuple[str, str]] = []  # (source's subquery label, counter)
    for i, src in enumerate(sources):
        sub = src.select(start, end).subquery(f"src{i}")
        joined = joined.outerjoin(sub, sub.c.linkedid == c.linkedid)
        for name in src.counters:
            label = f"src{i}_{name}"
            sums[label] = func.coalesce(func.sum(sub.c[name]), 0)
            given.append((label, name))
    group = [KEYS[k].expr.label(f"k_{k}") for k in keys]
    columns = [wait_s.label("wait_s"), reach_s.label("reach_s")]
    columns += [v.label(k) for k, v in sums.items()]
    stmt = (
        select(*group, *columns)
        .select_from(joined)
        .where(c.entered_at >= start, c.entered_at < end)
        .group_by(*[KEYS[k].expr for k in keys], wait_s, reach_s)
    )
    out: list[tuple[tuple[Any, ...], Acc]] = []
    for row in conn.execute(stmt).mappings():
        acc = Acc()
        for k in sums:
            if not k.startswith("src"):
                acc.counters[k] = int(row[k] or 0)
        for label, name in given:
            acc.counters[name] += float(row[label] or 0)
            acc.sources.add(name)
        n = acc.counters["answered"]
        if row["wait_s"] is not None and n:
            acc.wait_hist[int(row["wait_s"])] = n
            acc.reach_hist[int(row["reach_s"])] = n
        out.append((tuple(row[f"k_{k}"] for k in keys), acc))
    return out


# -- seat time ---------------------------------------------------------------------------


def seat_time(
    conn: Connection, start: datetime, end: datetime, key: str | None, now: datetime
) -> dict[str, Acc]:
    """Seconds each seat (key "seat"), zone (key "zone", the seat's zone at the time) or
    everyone (key None) spent in each state and pause reason inside [start, end)."""
    cap = min(end, now)
    p = _periods(start - SEAT_LOOKBACK, end, cap)
    lo = later(p.c.at, _time(start))
    hi = earlier(p.c.until, _time(cap))
    keys = [p.c[key]] if key else []
    stmt = (
        select(*keys, p.c.state, p.c.reason, func.sum(seconds_between(lo, hi)).label("s"))
        .where(p.c.until > _time(start), p.c.at < _time(cap))
        .group_by(*keys, p.c.state, p.c.reason)
    )
    out: dict[str, Acc] = {}
    for row in conn.execute(stmt).mappings():
        reason = row["reason"] if row["state"] == "paused" else ""
        out.setdefault((row[key] if key else "") or "", Acc()).seat_time[
            (row["state"], reason)
        ] += float(row["s"] or 0.0)
    return out


def seat_periods(
    conn: Connection, start: datetime, end: datetime, now: datetime
) -> list[tuple[str, str, str, float, float]]:
    """(seat, state, zone, from, until) in epoch seconds, clipped to [start, end): the
    seats' states one by one, for splitting into intervals (staffing)."""
    cap = min(end, now)
    p = _periods(start - SEAT_LOOKBACK, end, cap)
    stmt = select(p.c.seat, p.c.state, p.c.zone, epoch(p.c.at), epoch(p.c.until)).where(
        p.c.until > _time(start), p.c.at < _time(cap)
    )
    lo, hi = start.timestamp(), cap.timestamp()
    return [
        (seat, state, zone, max(a, lo), min(b, hi))
        for seat, state, zone, a, b in conn.execute(stmt)
        if min(b, hi) > max(a, lo)
    ]


# -- arrivals ---------------------------------------------------------------------------


def arrivals(conn: Connection, start: datetime, end: datetime) -> tuple[np.ndarray, np.ndarray]:
    """Every call's arrival (epoch seconds) in [start, end) and whether a human answered."""
    c = calls.c
    stmt = (
        select(epoch(c.entered_at), case((c.answered_at.is_not(None), 1), else_=0))
        .where(c.entered_at >= start, c.entered_at < end)
        .order_by(c.entered_at)
    )
    rows = conn.execute(stmt).all()
    if not rows:
        return np.empty(0), np.empty(0, dtype=bool)
    data = np.asarray(rows, dtype=np.float64)
    return data[:, 0], data[:, 1].astype(bool)

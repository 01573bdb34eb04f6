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

import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
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
from callcore.store.models import Call, CallLeg, SeatEvent
from config.schema import ServiceTargets
from queues.stats import sql_contribution, sql_flag, sql_ms, sql_sum

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


class ceil_seconds(FunctionElement[int]):
    """A non-negative number of seconds, to the millisecond, rounded up to a whole number."""

    type = Integer()
    inherit_cache = True


class later(FunctionElement[Any]):
    """The greater of two numbers."""

    inherit_cache = True


class earlier(FunctionElement[Any]):
    """The smaller of two numbers."""

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


def tune(conn: Connection) -> None:
    """SQLite: a 64 MB page cache and temporary tables in memory for this connection (the
    default 2 MB cache rereads the month's pages from disk for every pass)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size=-65536")
        conn.exec_driver_sql("PRAGMA temp_store=MEMORY")


# -- optional columns -------------------------------------------------------------------


class ColumnSource(Protocol):
    """Where optional figures come from (ratings, QA, callbacks: `sources.py`).
    `select(start, end)` gives at most one row per call: `linkedid` and whole numbers
    named after `counters` (a subset of `model.OPTIONAL_COUNTERS`), summed per group
    with the calls they belong to. `stamp(conn, start, end)` says what the numbers of the
    calls that arrived in [start, end) are made of (JSON-able; any change to them changes
    it): part of a kept day's fingerprint."""

    name: str
    counters: tuple[str, ...]

    def select(self, start: datetime, end: datetime) -> Select[Any]: ...

    def stamp(self, conn: Connection, start: datetime, end: datetime) -> list[Any]: ...


# -- the report's calls -----------------------------------------------------------------
# A report reads the calls of its range once: each call's part in every counter (its
# contribution, `queues.stats.sql_contribution` and `_extra`), its group keys, its
# whole-second wait and time to a human, into a temporary table. Each grouping is then a
# plain GROUP BY over integers, and the arrivals for the 24-hour window come from it too.

KEYS = ("bucket", "route", "hotline", "seat")


def _joins(start: datetime, end: datetime, now: datetime) -> tuple[Any, Any]:
    """Per call: its seat transfers (call_legs) and its wrap-up seconds (seat_events: a
    wrap-up lasts until the seat's next change, or now)."""
    tail = end + CALL_TAIL
    moved = (
        select(legs.c.linkedid, func.count().label("n"))
        .where(
            legs.c.kind.in_(TRANSFER_KINDS), legs.c.started_at >= start, legs.c.started_at < tail
        )
        .group_by(legs.c.linkedid)
        .subquery("moved")
    )
    # the seat's next change after each wrap-up, found by index (seat, at): cheaper than
    # numbering every seat event of the stretch with a window function
    e = events.alias("wrapping")
    later_ = events.alias("after")
    nxt = (
        select(func.min(later_.c.at))
        .where(later_.c.seat == e.c.seat, later_.c.at > e.c.at)
        .scalar_subquery()
    )
    ends = (
        select(e.c.linkedid, e.c.at, nxt.label("nxt"))
        .where(e.c.state == "wrap_up", e.c.linkedid != "", e.c.at >= start, e.c.at < tail)
        .subquery("ends")
    )
    # a wrap-up with no later change lasts a day at most (or until now): a bound of the
    # call's own, not of the range asked for, so a day's rollup and a month agree
    cap = earlier(epoch(ends.c.at) + CALL_TAIL.total_seconds(), literal(now.timestamp()))
    until = func.coalesce(epoch(ends.c.nxt), cap)
    wrap = (
        select(ends.c.linkedid, func.sum(until - epoch(ends.c.at)).label("s"))
        .group_by(ends.c.linkedid)
        .subquery("wrap")
    )
    return moved, wrap


def _extra(
    base: Any, targets: ServiceTargets, moved: Any, wrap: Any
) -> dict[str, ColumnElement[Any]]:
    """Per call, the report's own counters (`model.EXTRA_COUNTERS`); `base` is the calls
    with their times as epoch seconds (te entered, ta answered, tn ended)."""
    c = base.c
    answered = c.answered_at.is_not(None)
    abandoned = and_(c.answered_at.is_(None), c.outcome == Outcome.ABANDONED.value)
    trunk = c.route.like("trunk:%")
    handled = and_(answered, ~trunk)
    queued = c.queued_at.is_not(None)
    lasted_ms = func.coalesce(func.round((c.tn - c.te) * 1000), 1e12)
    moves = func.coalesce(moved.c.n, 0)
    return {
        "short_abandoned": sql_flag(
            and_(abandoned, lasted_ms < targets.short_abandon_seconds * 1000)
        ),
        "reach_ms": sql_ms(answered, c.ta - c.te),
        "reach_n": sql_flag(answered),
        "handled": sql_flag(handled),
        "handled_talk_ms": sql_ms(and_(handled, c.talk_seconds.is_not(None)), c.talk_seconds),
        "wrap_ms": sql_ms(handled, func.coalesce(wrap.c.s, 0.0)),
        "transfers": moves,
        "transferred": sql_flag(moves > 0),
        "subcentre": sql_flag(and_(answered, trunk)),
        "queued": sql_flag(queued),
        "queued_wait_ms": sql_ms(queued, func.coalesce(c.wait_seconds, 0.0)),
        "queue_abandoned": sql_flag(and_(abandoned, queued)),
    }


def _nonneg(x: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((x > 0, x), else_=literal(0.0))


@dataclass
class CallTable:
    """The report's calls in a temporary table: its columns by role."""

    table: Table
    counters: tuple[str, ...]
    given: tuple[tuple[str, str], ...]  # (column, optional counter) from column sources

    def drop(self, conn: Connection) -> None:
        self.table.drop(conn, checkfirst=True)


def load_calls(
    conn: Connection,
    start: datetime,
    end: datetime,
    targets: ServiceTargets,
    sources: Sequence[ColumnSource] = (),
    now: datetime | None = None,
) -> CallTable:
    """Read the calls that arrived in [start, end) once, into a temporary table."""
    now = now or end
    k = calls.c
    base = (
        select(
            calls,
            epoch(k.entered_at).label("te"),
            epoch(k.answered_at).label("ta"),
            epoch(k.ended_at).label("tn"),
        )
        .where(k.entered_at >= start, k.entered_at < end)
        .subquery("base")
    )
    c = base.c
    moved, wrap = _joins(start, end, now)
    answered = c.answered_at.is_not(None)
    per_call = {
        **sql_contribution(base, targets.answer_seconds),
        **_extra(base, targets, moved, wrap),
    }
    joined = base.outerjoin(moved, moved.c.linkedid == c.linkedid).outerjoin(
        wrap, wrap.c.linkedid == c.linkedid
    )
    given: list[tuple[str, str]] = []
    source_cols: dict[str, ColumnElement[Any]] = {}
    for i, src in enumerate(sources):
        sub = src.select(start, end).subquery(f"src{i}")
        joined = joined.outerjoin(sub, sub.c.linkedid == c.linkedid)
        for name in src.counters:
            source_cols[f"src{i}_{name}"] = func.coalesce(sub.c[name], 0)
            given.append((f"src{i}_{name}", name))
    columns: dict[str, tuple[ColumnElement[Any], Any]] = {
        "t": (c.te, Float()),
        "bucket": (bucket(c.entered_at), BigInteger()),
        "route": (c.route, String()),
        "hotline": (c.hotline, String()),
        "seat": (c.seat, String()),
        "answered_flag": (sql_flag(answered), Integer()),
        "wait_s": (
            case((answered, ceil_seconds(_nonneg(func.coalesce(c.wait_seconds, 0.0))))),
            Integer(),
        ),
        "reach_s": (
            case((answered, ceil_seconds(_nonneg(c.ta - c.te)))),
            Integer(),
        ),
    }
    columns |= {k: (v, BigInteger()) for k, v in per_call.items()}
    columns |= {k: (v, BigInteger()) for k, v in source_cols.items()}
    table = Table(
        f"report_calls_{uuid.uuid4().hex[:12]}",
        MetaData(),
        *[Column(k, t) for k, (_v, t) in columns.items()],
        prefixes=["TEMPORARY"],
    )
    table.create(conn)
    select_ = select(*[v.label(k) for k, (v, _t) in columns.items()]).select_from(joined)
    conn.execute(table.insert().from_select(list(columns), select_))
    return CallTable(table, tuple(per_call), tuple(given))


def call_sums(
    conn: Connection, ct: CallTable, keys: Sequence[str], key_of: Callable[..., Hashable]
) -> dict[Hashable, Acc]:
    """The report's calls summed per group: the database groups by `keys` (of `KEYS`),
    `key_of(*values)` names the group they belong to (a local interval, a zone, ...).
    Counters are one query; the whole-second histograms of the answered calls' waits and
    times to a human are two more, small ones."""
    t = ct.table.c
    group = [t[k] for k in keys]
    sums = [sql_sum(t[k]) for k in ct.counters]
    sums += [func.coalesce(func.sum(t[col]), 0) for col, _n in ct.given]
    out: dict[Hashable, Acc] = {}
    width = len(keys)
    for row in conn.execute(select(*group, *sums).group_by(*group)):
        acc = out.setdefault(key_of(*row[:width]), Acc())
        values = row[width:]
        for name, v in zip(ct.counters, values, strict=False):
            acc.counters[name] += int(v)
        for (_col, name), v in zip(ct.given, values[len(ct.counters) :], strict=True):
            acc.counters[name] += int(v)
            acc.sources.add(name)
    for column, hist in ((t.wait_s, "wait_hist"), (t.reach_s, "reach_hist")):
        stmt = (
            select(*group, column, func.count())
            .where(t.answered_flag == 1)
            .group_by(*group, column)
        )
        for row in conn.execute(stmt):
            getattr(out.setdefault(key_of(*row[:width]), Acc()), hist)[int(row[width])] += int(
                row[width + 1]
            )
    return out


def arrivals(conn: Connection, ct: CallTable) -> tuple[np.ndarray, np.ndarray]:
    """Every call's arrival (epoch seconds) and whether a human answered."""
    rows = conn.execute(select(ct.table.c.t, ct.table.c.answered_flag)).all()
    if not rows:
        return np.empty(0), np.empty(0, dtype=bool)
    data = np.array([tuple(r) for r in rows], dtype=np.float64)
    return data[:, 0], data[:, 1].astype(bool)


# -- seat time ---------------------------------------------------------------------------


def _periods(lo: datetime, hi: datetime, cap: datetime) -> Any:
    """Seat states that began in [lo, hi) with their start t and end u in epoch seconds:
    u is the seat's next event in that stretch, else `cap` (the range's end, or now if
    sooner). Ordered by time alone, the index order (seat, at): two changes of one seat in
    the same microsecond are rare."""
    t = epoch(events.c.at)
    nxt = func.lead(t).over(partition_by=events.c.seat, order_by=events.c.at)
    return (
        select(
            events.c.seat,
            events.c.state,
            events.c.reason,
            events.c.zone,
            events.c.linkedid,
            t.label("t"),
            func.coalesce(nxt, literal(cap.timestamp())).label("u"),
        )
        .where(events.c.at >= lo, events.c.at < hi)
        .subquery("periods")
    )


def seat_time(
    conn: Connection, start: datetime, end: datetime, now: datetime
) -> list[tuple[str, str, str, str, float]]:
    """(seat, zone, state, pause reason, seconds) inside [start, end): the seat's zone at
    the time, the reason only for pauses."""
    cap = min(end, now)
    p = _periods(start - SEAT_LOOKBACK, end, cap)
    lo, hi = literal(start.timestamp()), literal(cap.timestamp())
    keys = [p.c.seat, p.c.zone, p.c.state, p.c.reason]
    stmt = (
        select(*keys, func.sum(earlier(p.c.u, hi) - later(p.c.t, lo)))
        .where(p.c.u > lo, p.c.t < hi)
        .group_by(*keys)
    )
    return [
        (seat, zone or "", state, reason if state == "paused" else "", float(secs or 0.0))
        for seat, zone, state, reason, secs in conn.execute(stmt)
    ]


def seat_periods(
    conn: Connection, start: datetime, end: datetime, now: datetime
) -> list[tuple[str, str, str, float, float]]:
    """(seat, state, zone, from, until) in epoch seconds, clipped to [start, end): the
    seats' states one by one, for splitting into intervals (staffing)."""
    cap = min(end, now)
    p = _periods(start - SEAT_LOOKBACK, end, cap)
    lo, hi = start.timestamp(), cap.timestamp()
    stmt = select(p.c.seat, p.c.state, p.c.zone, p.c.t, p.c.u).where(
        p.c.u > literal(lo), p.c.t < literal(hi)
    )
    return [
        (seat, state, zone, max(a, lo), min(b, hi))
        for seat, state, zone, a, b in conn.execute(stmt)
        if min(b, hi) > max(a, lo)
    ]

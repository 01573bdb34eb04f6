"""Service figures, defined once (docs/figures.md) and used by the CLI, the demo, the live
state in Redis, the monitor and the API.

- offered: calls that reached callcore for that number or queue (every stored call).
- answered: a human answered (a 12345 seat, or the 12366 sub-centre over its trunk).
- abandoned: the caller hung up before a human answered.
- SL15: answered within `answer_seconds` of joining the queue, as a share of offered.
- answer rate: answered / offered.
- wait: seconds from joining the queue to a human answering (answered calls).
- talk: seconds from answer to the end of the call.

A call's part in the figures is `contribution()`: integer counters (times in whole
milliseconds), so the live state can add and subtract them in Redis exactly and figures
rebuilt from the store come out identical. `Figures` is the sum of contributions.

Windows: "today" is the calls that entered since local midnight in the site's time zone;
the rolling 15- and 60-minute windows are the calls that entered in the current minute and
the 14 (59) before it (`window_start`), so a window moves a minute at a time and the store
and the live state count the same calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, and_, case, cast, func, literal
from sqlalchemy.sql import FromClause

from callcore.records import CallRecord, Outcome

# The counters of a contribution, in this order; wait_max_ms is kept beside them (a maximum
# is not a sum).
COUNTERS = (
    "offered",
    "answered",
    "abandoned",
    "timeout",
    "failed",
    "within_sl",
    "wait_ms",
    "wait_n",
    "talk_ms",
    "talk_n",
)
ROLLING_WINDOWS = (15, 60)  # minutes


def _ms(seconds: float | None) -> int:
    if seconds is None or not math.isfinite(seconds):
        return 0
    return max(round(seconds * 1000), 0)


def contribution(rec: CallRecord, answer_seconds: int = 15) -> dict[str, int]:
    """What one call adds to every figure of its queue and number (see docs/figures.md)."""
    c = dict.fromkeys(COUNTERS, 0)
    c["offered"] = 1
    if rec.answered_at is not None:
        c["answered"] = 1
        wait = rec.wait_seconds or 0.0
        c["wait_ms"] = _ms(wait)
        c["wait_n"] = 1
        if wait <= answer_seconds:
            c["within_sl"] = 1
        if rec.talk_seconds is not None:
            c["talk_ms"] = _ms(rec.talk_seconds)
            c["talk_n"] = 1
    elif rec.outcome is Outcome.ABANDONED:
        c["abandoned"] = 1
    elif rec.outcome is Outcome.TIMEOUT:
        c["timeout"] = 1
    elif rec.outcome is Outcome.FAILED:
        c["failed"] = 1
    return c


def sql_flag(cond: ColumnElement) -> ColumnElement:
    """SQL, per row: 1 if `cond` holds, else 0."""
    return case((cond, 1), else_=0)


def sql_ms(cond: ColumnElement, seconds: ColumnElement) -> ColumnElement:
    """SQL, per row: `seconds` as whole milliseconds where `cond` holds, else 0 (`_ms`)."""
    return cast(case((and_(cond, seconds > 0), func.round(seconds * 1000)), else_=0), BigInteger)


def sql_contribution(calls: FromClause, answer_seconds: int = 15) -> dict[str, ColumnElement]:
    """`contribution()` in SQL: per call, one expression per counter, so the database sums
    them over many calls (`GROUP BY` whatever a report groups by; `sql_counters`).

    The same rules as `contribution()`, written for SQL; tests check that both give the same
    sums on SQLite and PostgreSQL. A time exactly on a half millisecond may round the other
    way than Python's `round`.
    """
    c = calls.c
    answered = c.answered_at.is_not(None)
    unanswered = c.answered_at.is_(None)
    wait = func.coalesce(c.wait_seconds, literal(0.0))
    talked = and_(answered, c.talk_seconds.is_not(None))
    return {
        "offered": literal(1),
        "answered": sql_flag(answered),
        "abandoned": sql_flag(and_(unanswered, c.outcome == Outcome.ABANDONED.value)),
        "timeout": sql_flag(and_(unanswered, c.outcome == Outcome.TIMEOUT.value)),
        "failed": sql_flag(and_(unanswered, c.outcome == Outcome.FAILED.value)),
        "within_sl": sql_flag(and_(answered, wait <= answer_seconds)),
        "wait_ms": sql_ms(answered, wait),
        "wait_n": sql_flag(answered),
        "talk_ms": sql_ms(talked, c.talk_seconds),
        "talk_n": sql_flag(talked),
    }


def sql_sum(per_row: ColumnElement) -> ColumnElement:
    """SQL: a per-row value summed over the group (0 for an empty group)."""
    return cast(func.coalesce(func.sum(per_row), 0), BigInteger)


def sql_counters(calls: FromClause, answer_seconds: int = 15) -> dict[str, ColumnElement]:
    """`sql_contribution` summed: one aggregate expression per counter."""
    return {k: sql_sum(v) for k, v in sql_contribution(calls, answer_seconds).items()}


def wait_max_ms(rec: CallRecord) -> int | None:
    """The call's part in "longest wait": its wait if a human answered, else none."""
    return _ms(rec.wait_seconds or 0.0) if rec.answered_at is not None else None


@dataclass
class Figures:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    timeout: int = 0
    failed: int = 0
    within_sl: int = 0
    wait_ms: int = 0
    wait_n: int = 0
    talk_ms: int = 0
    talk_n: int = 0
    wait_max_ms: int | None = None

    def add(self, rec: CallRecord, answer_seconds: int) -> None:
        self.merge(contribution(rec, answer_seconds), wait_max_ms(rec))

    def merge(self, counters: Mapping[str, int], wait_max: int | None = None) -> None:
        for k in COUNTERS:
            setattr(self, k, getattr(self, k) + int(counters.get(k, 0)))
        if wait_max is not None and (self.wait_max_ms is None or wait_max > self.wait_max_ms):
            self.wait_max_ms = wait_max

    @classmethod
    def from_counters(cls, counters: Mapping[str, int], wait_max: int | None = None) -> Figures:
        f = cls()
        f.merge(counters, wait_max)
        return f

    @property
    def in_progress(self) -> int:
        """Offered calls with no outcome yet: waiting, ringing, hearing the notice."""
        return self.offered - self.answered - self.abandoned - self.timeout - self.failed

    @property
    def sl(self) -> float | None:
        return self.within_sl / self.offered if self.offered else None

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.offered if self.offered else None

    @property
    def avg_wait(self) -> float | None:
        return self.wait_ms / self.wait_n / 1000 if self.wait_n else None

    @property
    def max_wait(self) -> float | None:
        return self.wait_max_ms / 1000 if self.wait_max_ms is not None else None

    @property
    def avg_talk(self) -> float | None:
        return self.talk_ms / self.talk_n / 1000 if self.talk_n else None

    def as_dict(self) -> dict:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "timeout": self.timeout,
            "failed": self.failed,
            "in_progress": self.in_progress,
            "answered_within": self.within_sl,
            "sl15": self.sl,
            "answer_rate": self.answer_rate,
            "avg_wait": self.avg_wait,
            "max_wait": self.max_wait,
            "avg_talk": self.avg_talk,
        }


def group(
    records: Iterable[CallRecord], key: Callable[[CallRecord], str], answer_seconds: int = 15
) -> dict[str, Figures]:
    out: dict[str, Figures] = {}
    for rec in records:
        out.setdefault(key(rec), Figures()).add(rec, answer_seconds)
    return out


# -- windows ------------------------------------------------------------------------------


def day_start(now: datetime, tz: str) -> datetime:
    """Local midnight of `now` in the site's time zone (the start of "today")."""
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def window_start(now: datetime, minutes: int) -> datetime:
    """Start of the rolling window: the current minute and the `minutes - 1` before it."""
    return now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)


def minute_of(ts: datetime) -> int:
    """The minute bucket of a time (epoch minutes), as the live state keys it."""
    return int(ts.timestamp() // 60)


def day_of(ts: datetime, tz: str) -> str:
    """The local day of a time, as the live state keys it (YYYYMMDD)."""
    return ts.astimezone(ZoneInfo(tz)).strftime("%Y%m%d")


def figure_keys(rec: CallRecord) -> tuple[str, str]:
    """How a call is grouped: its queue (route, or `trunk:<id>`) and its directory number
    (empty for an unknown number)."""
    return rec.route, rec.hotline


def windows(
    records: Iterable[CallRecord], now: datetime, tz: str, answer_seconds: int = 15
) -> dict[str, dict[str, dict[str, Figures]]]:
    """Figures from stored records, as the live state keeps them: per window (`today`,
    `m15`, `m60`), per grouping (`all`, `queue`, `number`), per key.

    The reference the live figures are checked against; also what the API falls back to
    when Redis is unavailable.
    """
    starts = {"today": day_start(now, tz)}
    for m in ROLLING_WINDOWS:
        starts[f"m{m}"] = window_start(now, m)
    out: dict[str, dict[str, dict[str, Figures]]] = {
        w: {"all": {}, "queue": {}, "number": {}} for w in starts
    }
    for rec in records:
        if rec.entered_at is None:
            continue
        queue, number = figure_keys(rec)
        for w, start in starts.items():
            if rec.entered_at < start or rec.entered_at > now:
                continue
            g = out[w]
            for grouping, key in (("all", ""), ("queue", queue), ("number", number)):
                g[grouping].setdefault(key, Figures()).add(rec, answer_seconds)
    return out

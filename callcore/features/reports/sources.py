"""The reports' column sources (docs/figures.md, "Reports"): the after-call ratings, the
QA scores and the callbacks of missed calls, each as one row per call with the optional
counters of `model.OPTIONAL_COUNTERS`, joined to the report's calls on the Linkedid.

Every number counts under the call it belongs to, so a row's share has its numerator and
its denominator from the same calls (the call's arrival interval, number, zone, seat).
`stamp` says what a day's numbers are made of, for the kept days' fingerprint: any new or
rewritten rating, QA score or reached callback of a day's calls changes it.

Bounds on each table's own time keep the scans short: a call is rated and missed after
it arrived and before it ended (within `queries.CALL_TAIL` of the range, as its transfers),
and scored under its own local day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, case, exists, func, literal, select

from callcore.features.callsout.model import Outcome as DialOutcome
from callcore.features.callsout.tables import CallbackMiss, OutboundCall
from callcore.features.quality.tables import QaScore
from callcore.features.ratings.model import Level
from callcore.features.ratings.tables import Rating
from callcore.store.models import Call

from .queries import CALL_TAIL, ColumnSource, epoch

CALLS = Call.__table__
RATINGS = Rating.__table__
SCORES = QaScore.__table__
MISSES = CallbackMiss.__table__
DIALS = OutboundCall.__table__
SATISFIED_LEVELS = tuple(int(lv) for lv in Level if lv.satisfied)
CALLBACK_LIMITS = {"callback_1h": timedelta(hours=1), "callback_24h": timedelta(hours=24)}


def _of_calls(linkedid: Any, start: datetime, end: datetime) -> Any:
    """The row belongs to a call that arrived in [start, end): what a stamp is taken over.
    A correlated test by the calls' key, so a stamp reads the source's own rows of the
    stretch (by their time bounds) and not every call of the day."""
    c = CALLS.c
    return exists().where(c.linkedid == linkedid, c.entered_at >= start, c.entered_at < end)


def _days(start: datetime, end: datetime) -> tuple[Any, Any]:
    """A call's local day, in any zone, lies between the UTC day before and the one after."""
    return start.astimezone(UTC).date() - timedelta(days=1), end.astimezone(UTC).date() + (
        timedelta(days=1)
    )


def _flag(cond: Any) -> Any:
    return case((cond, 1), else_=0)


class RatingSource:
    """一次一评: `rated` a level given, `satisfied` one of the satisfied levels (the rating
    feature's rule, `Level.satisfied`)."""

    name = "ratings"
    counters = ("rated", "satisfied")

    def select(self, start: datetime, end: datetime) -> Select[Any]:
        r = RATINGS.c
        return select(
            r.linkedid,
            _flag(r.level.is_not(None)).label("rated"),
            _flag(r.level.in_(SATISFIED_LEVELS)).label("satisfied"),
        ).where(r.at >= start, r.at < end + CALL_TAIL)

    def stamp(self, conn: Connection, start: datetime, end: datetime) -> list[Any]:
        r = RATINGS.c
        row = conn.execute(
            select(func.count(), func.sum(r.as_of), func.sum(func.coalesce(r.level, 0))).where(
                r.at >= start, r.at < end + CALL_TAIL, _of_calls(r.linkedid, start, end)
            )
        ).one()
        return [row[0], row[1], row[2]]


class QaSource:
    """质检: each scored call's current score (its newest version; a correction replaces
    the score it corrects), `qa_sum` its total (0 when failed), `qa_n` one."""

    name = "quality"
    counters = ("qa_sum", "qa_n")

    def select(self, start: datetime, end: datetime) -> Select[Any]:
        s = SCORES.c
        since, until = _days(start, end)
        newest = (
            select(s.linkedid, func.max(s.version).label("version"))
            .where(s.day >= since, s.day <= until)
            .group_by(s.linkedid)
            .subquery("newest")
        )
        return select(s.linkedid, s.total.label("qa_sum"), literal(1).label("qa_n")).select_from(
            SCORES.join(
                newest, and_(newest.c.linkedid == s.linkedid, newest.c.version == s.version)
            )
        )

    def stamp(self, conn: Connection, start: datetime, end: datetime) -> list[Any]:
        s = SCORES.c
        row = conn.execute(
            select(func.count(), func.sum(s.version), func.sum(s.total)).where(
                s.day.between(*_days(start, end)), _of_calls(s.linkedid, start, end)
            )
        ).one()
        return [row[0], row[1], row[2]]


class CallbackSource:
    """漏话回拨: `missed` a missed call counted into a callback task; `callback_1h` /
    `callback_24h` a call out of that task reached the caller within 1 / 24 hours of the
    miss (from the missed call's end to the citizen answering)."""

    name = "callbacks"
    counters = ("missed", *CALLBACK_LIMITS)

    def select(self, start: datetime, end: datetime) -> Select[Any]:
        m, d = MISSES.c, DIALS.c
        reached = (
            select(func.min(epoch(d.answered_at)))
            .where(
                d.task_id == m.task_id,
                d.outcome == DialOutcome.REACHED.value,
                d.answered_at.is_not(None),
                d.answered_at >= m.at,
            )
            .scalar_subquery()
        )
        after = reached - epoch(m.at)
        return select(
            m.linkedid,
            literal(1).label("missed"),
            *[
                _flag(after <= limit.total_seconds()).label(name)
                for name, limit in CALLBACK_LIMITS.items()
            ],
        ).where(m.at >= start, m.at < end + CALL_TAIL)

    def stamp(self, conn: Connection, start: datetime, end: datetime) -> list[Any]:
        m, d = MISSES.c, DIALS.c
        of_day = (m.at >= start, m.at < end + CALL_TAIL, _of_calls(m.linkedid, start, end))
        mine = select(m.task_id).where(*of_day)
        misses = conn.execute(
            select(func.count(), func.count(func.distinct(m.task_id))).where(*of_day)
        ).one()
        dials = conn.execute(
            select(func.count(), func.sum(d.as_of)).where(
                d.task_id.in_(mine), d.outcome == DialOutcome.REACHED.value
            )
        ).one()
        return [misses[0], misses[1], dials[0], dials[1]]


def standard() -> tuple[ColumnSource, ...]:
    """The sources every report has: ratings, QA scores, callbacks."""
    return (RatingSource(), QaSource(), CallbackSource())

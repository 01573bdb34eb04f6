"""The callback list in the store: tasks made from missed calls, claimed by one engine for
one seat at a time, finished or rescheduled. Synchronous (SQLAlchemy Core); the service
runs each in a thread.

Why straight to the database and not through the store writer's journal: two engines may
read the same store, and a claim is only a claim if the database decides it — every
change here is one conditional statement (`UPDATE … WHERE status = 'open'`, an insert
that meets the open task's unique index), so no task is dialed twice and no caller gets
two open tasks, whichever engine saw the call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from callcore.features.callsout.model import Reason, TaskView, offer_order
from callcore.features.callsout.tables import CallbackMiss, CallbackTask, OutboundCall
from callcore.store.models import Call

TASKS = CallbackTask.__table__
MISSES = CallbackMiss.__table__
OUT = OutboundCall.__table__
CALLS = Call.__table__
OPEN_CALLER = text("status != 'closed' AND reason = 'callback'")
STALE_CLAIM = timedelta(minutes=10)  # an engine that died mid-dial frees its task after this
GOT_THROUGH = ("answered", "transferred")


@dataclass(frozen=True)
class Miss:
    linkedid: str
    caller: str
    zone: str
    dialed: str
    enterprise: bool
    at: datetime


def _insert(conn: Any, table: Any) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


def got_through(conn: Any, caller: str, since: datetime) -> bool:
    """Whether the caller reached a human since then: an answered call in, a reached call out."""
    inbound = conn.execute(
        select(CALLS.c.linkedid)
        .where(CALLS.c.caller_number == caller, CALLS.c.outcome.in_(GOT_THROUGH))
        .where(CALLS.c.answered_at >= since)
        .limit(1)
    ).first()
    if inbound is not None:
        return True
    outbound = conn.execute(
        select(OUT.c.id)
        .where(OUT.c.number == caller, OUT.c.outcome == "reached", OUT.c.started_at >= since)
        .limit(1)
    ).first()
    return outbound is not None


def add_miss(db: Engine, miss: Miss, window: timedelta) -> str | None:
    """Count a missed call into its caller's open task (made if none); the task's id.

    None when the caller got through within `window` before the miss, or when this call
    was counted already (a record is published several times, and by two engines).
    """
    with db.begin() as conn:
        if window and got_through(conn, miss.caller, miss.at - window):
            return None
        ins = _insert(conn, MISSES).values(linkedid=miss.linkedid, task_id="", at=miss.at)
        if conn.execute(ins.on_conflict_do_nothing()).rowcount == 0:
            return None
        task = _insert(conn, TASKS).values(
            id=uuid.uuid4().hex,
            reason=Reason.CALLBACK.value,
            caller=miss.caller,
            zone=miss.zone,
            dialed=miss.dialed,
            request_id="",
            enterprise=miss.enterprise,
            status="open",
            first_missed=miss.at,
            last_missed=miss.at,
            misses=1,
            attempts=0,
            next_attempt_at=miss.at,
            claimed_by="",
            last_outcome="",
            closed_reason="",
        )
        conn.execute(
            task.on_conflict_do_update(
                index_elements=[TASKS.c.caller],
                index_where=OPEN_CALLER,
                set_={
                    "misses": TASKS.c.misses + 1,
                    "last_missed": func.max(TASKS.c.last_missed, task.excluded.last_missed)
                    if conn.dialect.name == "sqlite"
                    else func.greatest(TASKS.c.last_missed, task.excluded.last_missed),
                    "enterprise": or_(TASKS.c.enterprise, task.excluded.enterprise),
                },
            )
        )
        task_id = conn.execute(
            select(TASKS.c.id).where(
                TASKS.c.caller == miss.caller,
                TASKS.c.status != "closed",
                TASKS.c.reason == Reason.CALLBACK.value,
            )
        ).scalar_one()
        conn.execute(
            update(MISSES).where(MISSES.c.linkedid == miss.linkedid).values(task_id=task_id)
        )
        return task_id


def close_for_caller(db: Engine, caller: str, reason: str, at: datetime) -> int:
    """The caller got through by calling in: their open callback task is done."""
    with db.begin() as conn:
        return conn.execute(
            update(TASKS)
            .where(TASKS.c.caller == caller, TASKS.c.status == "open")
            .where(TASKS.c.reason == Reason.CALLBACK.value)
            .values(status="closed", closed_reason=reason, closed_at=at)
        ).rowcount


def _claimable(now: datetime) -> Any:
    ready = and_(TASKS.c.status == "open", TASKS.c.next_attempt_at <= now)
    stale = and_(TASKS.c.status == "dialing", TASKS.c.claimed_at < now - STALE_CLAIM)
    return or_(ready, stale)


def claim(db: Engine, task_id: str, seat: str, now: datetime) -> dict | None:
    """Take the task for `seat` if nobody has it (one conditional update); its row or None."""
    with db.begin() as conn:
        done = conn.execute(
            update(TASKS)
            .where(TASKS.c.id == task_id, _claimable(now))
            .values(status="dialing", claimed_by=seat, claimed_at=now)
        ).rowcount
        if done != 1:
            return None
        return dict(conn.execute(select(TASKS).where(TASKS.c.id == task_id)).mappings().one())


def claim_next(db: Engine, zones: list[str], seat: str, now: datetime) -> dict | None:
    """The first task of these zones in offer order that this seat could claim."""
    for task in ordered(db, zones, now):
        row = claim(db, task.id, seat, now)
        if row is not None:
            return row
    return None


def ordered(db: Engine, zones: list[str] | None, now: datetime) -> list[TaskView]:
    q = select(TASKS.c.id, TASKS.c.enterprise, TASKS.c.first_missed).where(_claimable(now))
    if zones is not None:
        q = q.where(TASKS.c.zone.in_(zones))
    with db.connect() as conn:
        rows = conn.execute(q).all()
    return offer_order([TaskView(r.id, bool(r.enterprise), r.first_missed) for r in rows])


def finish(
    db: Engine, task_id: str, outcome: str, verdict: str, now: datetime, retry_at: datetime
) -> None:
    """After a dial of the citizen: closed (reached / given up) or open again for later."""
    values: dict[str, Any] = {"last_outcome": outcome, "attempts": TASKS.c.attempts + 1}
    if verdict == "retry":
        values |= {"status": "open", "next_attempt_at": retry_at, "claimed_by": ""}
    else:
        values |= {"status": "closed", "closed_at": now, "closed_reason": verdict}
    with db.begin() as conn:
        conn.execute(update(TASKS).where(TASKS.c.id == task_id).values(**values))


def release(db: Engine, task_id: str, at: datetime, outcome: str = "") -> None:
    """Give the task back without an attempt (the seat did not answer; rest hours: `at`)."""
    values: dict[str, Any] = {"status": "open", "claimed_by": "", "next_attempt_at": at}
    if outcome:
        values["last_outcome"] = outcome
    with db.begin() as conn:
        conn.execute(
            update(TASKS).where(TASKS.c.id == task_id, TASKS.c.status == "dialing").values(**values)
        )


def get(db: Engine, task_id: str) -> dict | None:
    with db.connect() as conn:
        row = conn.execute(select(TASKS).where(TASKS.c.id == task_id)).mappings().first()
    return dict(row) if row else None


def listing(db: Engine, status: str | None, zone: str | None, limit: int = 200) -> list[dict]:
    q = select(TASKS)
    if status:
        q = q.where(TASKS.c.status == status)
    if zone:
        q = q.where(TASKS.c.zone == zone)
    q = q.order_by(TASKS.c.enterprise.desc(), TASKS.c.first_missed).limit(limit)
    with db.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


def figures(db: Engine, now: datetime) -> dict[str, Any]:
    """Open tasks, the oldest open one, and the share of missed callers reached in 1 h / 24 h
    (of the callback tasks made in the last 24 h that are at least that old)."""
    with db.connect() as conn:
        open_n, oldest = conn.execute(
            select(func.count(), func.min(TASKS.c.first_missed)).where(
                TASKS.c.status != "closed", TASKS.c.reason == Reason.CALLBACK.value
            )
        ).one()
        made = conn.execute(
            select(TASKS.c.first_missed, TASKS.c.closed_at, TASKS.c.closed_reason).where(
                TASKS.c.reason == Reason.CALLBACK.value,
                TASKS.c.first_missed >= now - timedelta(hours=48),
            )
        ).all()
    return {
        "open": int(open_n or 0),
        "oldest": oldest,
        "within_1h": _share(made, now, timedelta(hours=1)),
        "within_24h": _share(made, now, timedelta(hours=24)),
    }


def _share(rows: list[Any], now: datetime, limit: timedelta) -> float | None:
    due = [r for r in rows if r.first_missed <= now - limit or _in_time(r, limit)]
    if not due:
        return None
    return sum(1 for r in due if _in_time(r, limit)) / len(due)


def _in_time(row: Any, limit: timedelta) -> bool:
    return (
        row.closed_reason in ("reached", "called_in")
        and row.closed_at is not None
        and row.closed_at - row.first_missed <= limit
    )

"""Requests (诉求): one per call a 12345 seat answers, with its lifecycle.

The plan's closed loop is 受理 → 派单 → 办理 → 回访 → 办结; here: registered → dispatched →
handled → followed_up → closed, with the way back the plan allows (退单 returns a
dispatched request, 改派 re-dispatches a handled one, an unsatisfied follow-up reopens
it). The seat that answered owns the request (首接负责制); while it is open, the caller is
offered to that seat first (`callcore.features.firstcontact.index`).

A request is registered by the engine when a seat answers (through the store writer, like
every record); a status change is validated against the lifecycle here and written with a
newer `as_of`, so registration replays never undo it.
"""

from __future__ import annotations

import time
from collections.abc import Container, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import Engine, select

from callcore.records import CallRecord
from callcore.store.kinds import clean_kind, upsert_any
from callcore.store.models import Request


class Status(StrEnum):
    REGISTERED = "registered"  # 受理
    DISPATCHED = "dispatched"  # 派单
    HANDLED = "handled"  # 办理
    FOLLOWED_UP = "followed_up"  # 回访
    CLOSED = "closed"  # 办结


LABELS = {
    Status.REGISTERED: ("已受理", "registered"),
    Status.DISPATCHED: ("已派单", "dispatched"),
    Status.HANDLED: ("已办理", "handled"),
    Status.FOLLOWED_UP: ("已回访", "followed up"),
    Status.CLOSED: ("已办结", "closed"),
}

OPEN = frozenset({Status.REGISTERED, Status.DISPATCHED, Status.HANDLED})

NEXT: dict[Status, frozenset[Status]] = {
    Status.REGISTERED: frozenset({Status.DISPATCHED, Status.HANDLED, Status.CLOSED}),
    Status.DISPATCHED: frozenset({Status.HANDLED, Status.REGISTERED}),  # 退单
    Status.HANDLED: frozenset({Status.FOLLOWED_UP, Status.DISPATCHED}),  # 改派
    Status.FOLLOWED_UP: frozenset({Status.CLOSED, Status.DISPATCHED}),  # not satisfied
    Status.CLOSED: frozenset(),
}


class RequestError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RequestRecord:
    STORE_KIND: ClassVar[str] = "request"

    id: str
    linkedid: str
    caller_number: str
    seat: str
    status: str
    registered_at: datetime | None
    status_at: datetime | None
    status_by: str
    note: str
    as_of: float

    @property
    def open(self) -> bool:
        return self.status in OPEN

    def to_dict(self) -> dict:
        out = {
            k: getattr(self, k)
            for k in ("id", "linkedid", "caller_number", "seat", "status", "status_by", "note")
        }
        for k in ("registered_at", "status_at"):
            v = getattr(self, k)
            out[k] = v.isoformat() if v else None
        return out


def registration(rec: CallRecord, seat_ids: Container[str]) -> RequestRecord | None:
    """The request a call registers: when a seat of 12345 (not the sub-centre) answered it."""
    if rec.answered_at is None or rec.seat not in seat_ids:
        return None
    return RequestRecord(
        id=rec.linkedid,
        linkedid=rec.linkedid,
        caller_number=rec.caller_number,
        seat=rec.seat,
        status=Status.REGISTERED.value,
        registered_at=rec.answered_at,
        status_at=rec.answered_at,
        status_by=rec.seat,
        note="",
        as_of=rec.answered_at.timestamp(),
    )


def change(
    current: RequestRecord, status: str, by: str, note: str = "", now: float | None = None
) -> RequestRecord:
    """The request after a status change; raises RequestError if the lifecycle forbids it."""
    try:
        new = Status(status)
    except ValueError:
        known = ", ".join(s.value for s in Status)
        raise RequestError("unknown_status", f"unknown status {status!r}; one of {known}") from None
    old = Status(current.status)
    if new not in NEXT[old]:
        allowed = ", ".join(sorted(s.value for s in NEXT[old])) or "none (closed)"
        raise RequestError(
            "bad_transition",
            f"request {current.id}: {old.value} -> {new.value} is not allowed"
            f" (from {old.value}: {allowed})",
        )
    now = time.time() if now is None else now
    as_of = max(now, current.as_of + 0.001)
    return replace(
        current,
        status=new.value,
        status_at=datetime.fromtimestamp(as_of, tz=UTC),
        status_by=by[:64],
        note=note or current.note,
        as_of=as_of,
    )


def _from_row(row: Mapping[str, Any]) -> RequestRecord:
    return RequestRecord(**{c.name: row[c.name] for c in Request.__table__.columns})


def load(engine: Engine, request_id: str) -> RequestRecord | None:
    t = Request.__table__
    with engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.id == request_id)).mappings().first()
    return _from_row(row) if row is not None else None


def query(
    engine: Engine,
    *,
    caller: str | None = None,
    seat: str | None = None,
    open_only: bool = False,
    limit: int = 200,
) -> list[RequestRecord]:
    t = Request.__table__
    stmt = select(t)
    if caller:
        stmt = stmt.where(t.c.caller_number == caller)
    if seat:
        stmt = stmt.where(t.c.seat == seat)
    if open_only:
        stmt = stmt.where(t.c.status.in_([s.value for s in OPEN]))
    stmt = stmt.order_by(t.c.registered_at.desc()).limit(limit)
    with engine.connect() as conn:
        return [_from_row(r) for r in conn.execute(stmt).mappings()]


def save(engine: Engine, rec: RequestRecord) -> None:
    """Write directly (the CLI, which has no writer): the same upsert the writer uses."""
    with engine.begin() as conn:
        upsert_any(conn, [clean_kind(rec)])


def set_status(
    engine: Engine, request_id: str, status: str, by: str, note: str = ""
) -> RequestRecord:
    """Load, validate, write: the CLI's way to move a request along its lifecycle."""
    current = load(engine, request_id)
    if current is None:
        raise RequestError("not_found", f"no request {request_id!r}")
    new = change(current, status, by, note)
    save(engine, new)
    return new

"""Calls out by API: a seat's click-to-call, the callback list (take a task and call it),
its figures, the outbound calls made, and the hand-off of a seat's caller to 110 and the
like (blind, or a three-party call the seat can leave).

Citizens' numbers leave the API masked: callcore dials, the seat never needs the number.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from callcore.ami import AmiError
from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.callsout.handoff import HandoffError
from callcore.features.callsout.model import Reason, Refused, mask
from callcore.features.callsout.service import OutboundRecord
from callcore.features.callsout.tables import OutboundCall
from seats.api import own_seat, seat_error
from seats.sessions import SeatError

api = Api("calls out", "Click-to-call, callbacks of missed calls, follow-ups, 110 hand-offs.")

_REFUSED = {"invalid_number": 400, "not_found": 404, "taken": 409, "rest_hours": 409,
            "do_not_call": 409}  # fmt: skip


def refused(exc: Refused) -> ApiError:
    return ApiError(_REFUSED.get(exc.code, 409), exc.code, str(exc))


class CallIn(Model):
    number: str  # the citizen's number: mobile, fixed line with area code, local
    reason: Literal["click", "followup"] = "click"
    request_id: str = ""  # the request the call is about


class OutboundOut(Model):
    id: str
    seat: str
    reason: str
    number: str  # masked
    presented: str  # the number the citizen sees
    task_id: str
    outcome: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None


def _out(rec: OutboundRecord | dict) -> OutboundOut:
    row = rec if isinstance(rec, dict) else vars(rec)
    fields = {k: row.get(k) for k in OutboundOut.model_fields}
    fields["number"] = mask(str(row.get("number", "")))
    return OutboundOut(**fields)


async def _placing(coro) -> OutboundOut:  # type: ignore[no-untyped-def]
    try:
        return _out(await coro)
    except Refused as exc:
        raise refused(exc) from None
    except SeatError as exc:
        raise seat_error(exc) from None


@api.post(
    "/api/v1/seats/{seat}/calls-out",
    role=Role.SEAT,
    body=CallIn,
    response=OutboundOut,
    errors=(400, 403, 404, 409, 503),
)
async def click_to_call(req: ApiRequest) -> OutboundOut:
    """Call a citizen for the seat: its softphone rings first, then the citizen's phone."""
    seat = own_seat(req)
    body: CallIn = req.body
    callsout = req.services.need("callsout")
    reason = Reason(body.reason)
    return await _placing(callsout.place(seat, body.number, reason, request_id=body.request_id))


@api.post(
    "/api/v1/seats/{seat}/callbacks/{task}/call",
    role=Role.SEAT,
    response=OutboundOut,
    errors=(400, 403, 404, 409, 503),
)
async def call_task(req: ApiRequest) -> OutboundOut:
    """Preview: the seat takes a callback task and calls (a task is dialed by one seat)."""
    seat = own_seat(req)
    return await _placing(req.services.need("callsout").call_task(req.path["task"], seat))


class TasksQuery(Model):
    status: Literal["open", "dialing", "closed"] | None = None
    zone: str | None = None


class TaskOut(Model):
    id: str
    reason: str
    caller: str  # masked
    zone: str
    dialed: str
    enterprise: bool
    status: str
    first_missed: datetime
    last_missed: datetime
    misses: int
    attempts: int
    next_attempt_at: datetime
    claimed_by: str
    last_outcome: str
    closed_reason: str


class TasksOut(Model):
    tasks: list[TaskOut]


@api.get("/api/v1/callbacks", role=Role.SEAT, query=TasksQuery, response=TasksOut)
async def list_callbacks(req: ApiRequest) -> TasksOut:
    """The callback list in offer order: registered enterprises first, then the oldest."""
    q: TasksQuery = req.query
    rows = await req.services.need("callsout").tasks(q.status, q.zone)
    return TasksOut(
        tasks=[
            TaskOut(**{**{k: r[k] for k in TaskOut.model_fields}, "caller": mask(r["caller"])})
            for r in rows
        ]
    )


class FiguresOut(Model):
    open: int
    oldest: datetime | None
    within_1h: float | None  # share of missed callers reached (or who called in) within 1 h
    within_24h: float | None


@api.get("/api/v1/callbacks/figures", role=Role.SEAT, response=FiguresOut)
async def callback_figures(req: ApiRequest) -> FiguresOut:
    """Open tasks, the oldest, and the share called back within 1 h and 24 h."""
    return FiguresOut(**(await req.services.need("callsout").figures()))


class OutboundList(Model):
    calls: list[OutboundOut]


class OutboundQuery(Model):
    task: str | None = None
    limit: int = 100


@api.get("/api/v1/calls-out", role=Role.SUPERVISOR, query=OutboundQuery, response=OutboundList)
async def list_calls_out(req: ApiRequest) -> OutboundList:
    """Outbound calls, newest first (a task's calls with `task`)."""
    q: OutboundQuery = req.query
    if not 1 <= q.limit <= 1000:
        raise ApiError(400, "bad_limit", "limit must be 1-1000")
    t = OutboundCall.__table__

    def read() -> list[dict]:
        stmt = select(t).order_by(t.c.started_at.desc()).limit(q.limit)
        if q.task:
            stmt = stmt.where(t.c.task_id == q.task)
        with req.services.db.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    return OutboundList(calls=[_out(r) for r in await asyncio.to_thread(read)])


class HandoffIn(Model):
    target: str  # 110, 119, 120, 122 or a utility line's code (callsout.emergency)
    mode: Literal["blind", "conference"] = "blind"


class HandoffOut(Model):
    seat: str
    target: str
    mode: str
    channel: str
    conference: str = ""


@api.post(
    "/api/v1/seats/{seat}/handoff",
    role=Role.SEAT,
    body=HandoffIn,
    response=HandoffOut,
    errors=(400, 403, 404, 409, 502, 503),
)
async def handoff(req: ApiRequest) -> HandoffOut:
    """Hand the seat's caller to 110 & co.: blind (one click), or a three-party call."""
    seat = own_seat(req)
    body: HandoffIn = req.body
    service = req.services.need("handoff")
    try:
        chan, conf = await service.handoff(seat, body.target, body.mode)
    except HandoffError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None
    except SeatError as exc:
        raise seat_error(exc) from None
    except AmiError as exc:
        raise ApiError(502, "asterisk", f"Asterisk refused: {exc}") from None
    return HandoffOut(seat=seat, target=body.target, mode=body.mode, channel=chan, conference=conf)

"""A seat's own session by API (an agent desktop): log in, log out, pause with a reason,
resume; and a seat's history of states. A seat token acts on its own seat only; a
supervisor on any (supervisors also have the audited actions of `actions.py`).

The operations are `seats.sessions.SeatSessions`, the same as the softphone's feature
codes; the state that results is read back from Asterisk's events, not assumed.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from pydantic import Field

from callcore.ami import AmiError
from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from seats.history import changes
from seats.sessions import SeatError

api = Api("seat sessions", "A seat's own log in / log out / pause / resume, and its history.")

_STATUS = {
    "unknown_seat": 404,
    "unknown_reason": 400,
    "unknown_zone": 400,
    "logged_off": 409,
    "not_in_call": 409,
    "unknown_target": 400,
    "refused": 502,
}


def seat_error(exc: SeatError) -> ApiError:
    return ApiError(_STATUS.get(exc.code, 400), exc.code, str(exc))


def own_seat(req: ApiRequest) -> str:
    """The seat of the path, which a seat token may only name if it is its own."""
    seat = req.path["seat"]
    own = req.own_seat_only()
    if own is not None and own != seat:
        raise ApiError(403, "forbidden", "a seat token acts on its own seat only")
    return seat


class SessionIn(Model):
    action: Literal["login", "logout", "pause", "resume"]
    reason: str | None = None  # pause reason id (break, meal, training, meeting, acw) or code


class SeatStateOut(Model):
    seat: str
    action: str
    queues: list[str] = Field(default_factory=list)
    reason: str = ""
    state: str = ""  # what the engine knows now (the change arrives as Asterisk reports it)


@api.post(
    "/api/v1/seats/{seat}/session",
    role=Role.SEAT,
    body=SessionIn,
    response=SeatStateOut,
    errors=(400, 403, 404, 409, 502, 503),
)
async def seat_session(req: ApiRequest) -> SeatStateOut:
    """Log the seat in or out, pause it with a reason, or resume it."""
    seat = own_seat(req)
    seats = req.services.need("seats")
    body: SessionIn = req.body
    s = seats.sessions
    try:
        queues: list[str] = []
        reason = ""
        if body.action == "login":
            queues = await s.login(seat, source="api")
        elif body.action == "logout":
            queues = await s.logout(seat, source="api")
        elif body.action == "pause":
            if not body.reason:
                raise ApiError(400, "reason_required", "a pause needs a reason")
            reason = await s.pause(seat, body.reason, source="api")
        else:
            await s.resume(seat, source="api")
    except SeatError as exc:
        raise seat_error(exc) from None
    except AmiError as exc:
        raise ApiError(502, "asterisk", f"Asterisk refused: {exc}") from None
    status = seats.board.status(seat)
    return SeatStateOut(
        seat=seat,
        action=body.action,
        queues=queues,
        reason=reason,
        state=status.state.value if status else "",
    )


class HistoryQuery(Model):
    since: datetime | None = None
    limit: int = 500


class SeatChangeOut(Model):
    seat: str
    state: str
    reason: str
    zone: str
    at: datetime
    linkedid: str
    source: str


class HistoryOut(Model):
    seat: str
    changes: list[SeatChangeOut]


@api.get(
    "/api/v1/seats/{seat}/history",
    role=Role.SEAT,
    query=HistoryQuery,
    response=HistoryOut,
    errors=(403, 404),
)
async def seat_history(req: ApiRequest) -> HistoryOut:
    """A seat's changes of state with their times, oldest first (from the store)."""
    seat = own_seat(req)
    if req.services.config().seat(seat) is None:
        raise ApiError(404, "unknown_seat", f"no seat {seat!r}")
    q: HistoryQuery = req.query
    rows = await asyncio.to_thread(changes, req.services.db, seat, q.since, min(q.limit, 5000))
    return HistoryOut(
        seat=seat,
        changes=[
            SeatChangeOut(
                seat=r.seat,
                state=r.state,
                reason=r.reason,
                zone=r.zone,
                at=r.at,
                linkedid=r.linkedid,
                source=r.source,
            )
            for r in rows
        ],
    )

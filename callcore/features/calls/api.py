"""Stored calls, with filters; a seat token sees its own calls only.

A call is shown exactly as `callcore calls --json` shows it (`present.call_json`: the
record's public fields, times in the site's time zone). `CallOut` lists those fields; a
unit test keeps it equal to `records.PUBLIC_FIELDS`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.calls import present
from callcore.records import CallRecord, Outcome
from callcore.store import db

api = Api("calls", "Stored calls (one per citizen's call) with filters; seats see their own.")

MAX_LIMIT = 1000


class CallOut(Model):
    """One stored call, as `callcore calls --json` prints it."""

    linkedid: str
    caller_number: str
    caller_name: str
    dialed_number: str
    hotline: str
    hotline_name: str
    route: str
    priority: int
    entered_at: str | None
    queued_at: str | None
    answered_at: str | None
    ended_at: str | None
    wait_seconds: float | None
    talk_seconds: float | None
    seat: str
    outcome: str | None
    transfer_target: str
    hangup_cause: int | None
    fallback: bool
    affinity: bool
    flags: list[str]
    reason: str


class CallsQuery(Model):
    since: str | None = Field(
        None, description="ISO time, or an age such as 30m, 2h, 7d (default: 24h)"
    )
    until: str | None = Field(None, description="ISO time (exclusive)")
    caller: str | None = Field(None, description="caller number")
    seat: str | None = Field(None, description="seat id (a seat token: its own only)")
    outcome: Literal["answered", "abandoned", "transferred", "timeout", "failed"] | None = None
    queue: str | None = Field(None, description="queue (route), e.g. q-general")
    number: str | None = Field(None, description="directory number, e.g. 12345")
    limit: int = Field(200, ge=1, le=MAX_LIMIT)

    @field_validator("since", "until")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        if v is None or (_AGE.get(v[-1:]) is not None and v[:-1].isdigit()):
            return v
        datetime.fromisoformat(v)  # raises ValueError: reported as a 400
        return v


_AGE = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _when(text: str | None, tz: str, default: timedelta | None) -> datetime | None:
    zone = ZoneInfo(tz)
    now = datetime.now(zone)
    if text is None:
        return None if default is None else now - default
    unit = _AGE.get(text[-1:])
    if unit and text[:-1].isdigit():
        return now - timedelta(**{unit: int(text[:-1])})
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=zone)


class CallsOut(Model):
    """Calls, oldest first (at most `limit`)."""

    calls: list[CallOut]
    truncated: bool


def _out(rec: CallRecord, tz: str) -> CallOut:
    return CallOut(**present.call_json(rec, tz))


@api.get("/api/v1/calls", role=Role.SEAT, query=CallsQuery, response=CallsOut)
async def list_calls(req: ApiRequest) -> CallsOut:
    """Stored calls that entered in [since, until), filtered; a seat sees its own only."""
    q: CallsQuery = req.query
    cfg = req.services.config()
    tz = cfg.site.timezone
    seat = q.seat
    own = req.own_seat_only()
    if own is not None:
        if seat is not None and seat != own:
            raise ApiError(403, "forbidden", "a seat token may read its own calls only")
        seat = own
    since = _when(q.since, tz, timedelta(hours=24))
    until = _when(q.until, tz, None)
    post_filter = q.queue is not None or q.number is not None
    records = await asyncio.to_thread(
        db.query_calls,
        req.services.db,
        since,
        until,
        q.caller,
        seat,
        Outcome(q.outcome) if q.outcome else None,
        None if post_filter else q.limit + 1,
    )
    if q.queue is not None:
        records = [r for r in records if r.route == q.queue]
    if q.number is not None:
        records = [r for r in records if r.hotline == q.number]
    return CallsOut(
        calls=[_out(r, tz) for r in records[: q.limit]], truncated=len(records) > q.limit
    )


@api.get("/api/v1/calls/{linkedid}", role=Role.SEAT, response=CallOut, errors=(404,))
async def get_call(req: ApiRequest) -> CallOut:
    """One stored call by its Linkedid; a seat token gets only the calls it answered."""
    rec = await asyncio.to_thread(db.get_call, req.services.db, req.path["linkedid"])
    own = req.own_seat_only()
    if rec is None or (own is not None and rec.seat != own):
        raise ApiError(404, "unknown_call", "no such call")  # a seat learns nothing of others'
    return _out(rec, req.services.config().site.timezone)

"""Supervisor actions on seats: pause, resume, log off, move, listen, whisper, barge.

Every request, refused or carried out, is audited (`callcore.features.supervisors.actions`);
the reply names its audit id. The monitor's keys and the `callcore seat`/`callcore spy`
commands call these endpoints, so every action has one path and one audit trail."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.supervisors.actions import SPY_MODES, read_audit

api = Api("actions", "Supervisor actions on seats, each audited (who, what, when, result).")


class ActionOut(Model):
    """What the action did, and its audit entry."""

    audit_id: str
    action: str
    seat: str
    ok: bool
    at: float
    detail: dict[str, Any]


class PauseIn(Model):
    reason: str = Field(
        "break",
        pattern=r"^[a-z0-9_]{1,20}$",
        description="a pause reason of the site (id or its digit), e.g. break, meal, training",
    )


class MoveIn(Model):
    zone: str = Field(min_length=1, max_length=32)


class SpyIn(Model):
    mode: Literal["listen", "whisper", "barge"] = "listen"
    supervisor: str = Field(min_length=1, max_length=32, description="supervisor id (softphone)")


assert set(SpyIn.model_fields["mode"].annotation.__args__) == set(SPY_MODES)  # type: ignore[union-attr]


async def _run(req: ApiRequest, action: str, params: dict[str, Any]) -> ActionOut:
    sup = req.services.need("supervisor")
    ident = req.identity
    assert ident is not None  # the route needs a supervisor token
    seat = req.path["seat"]
    r = await sup.run(ident.name, ident.role.value, action, seat, params)
    if not r.ok:
        raise ApiError(r.status, r.code, r.error, {"audit_id": r.audit_id})
    return ActionOut(
        audit_id=r.audit_id, action=action, seat=seat, ok=True, at=r.at, detail=r.detail
    )


_ERRORS = (400, 404, 409, 502, 503)


@api.post(
    "/api/v1/seats/{seat}/pause",
    role=Role.SUPERVISOR,
    body=PauseIn,
    response=ActionOut,
    errors=_ERRORS,
)
async def pause_seat(req: ApiRequest) -> ActionOut:
    """Pause a logged-in seat in all its queues, with a reason."""
    return await _run(req, "pause", {"reason": req.body.reason})


@api.post("/api/v1/seats/{seat}/resume", role=Role.SUPERVISOR, response=ActionOut, errors=_ERRORS)
async def resume_seat(req: ApiRequest) -> ActionOut:
    """Resume a paused seat in all its queues."""
    return await _run(req, "resume", {})


@api.post("/api/v1/seats/{seat}/logoff", role=Role.SUPERVISOR, response=ActionOut, errors=_ERRORS)
async def logoff_seat(req: ApiRequest) -> ActionOut:
    """Log a seat off: remove it from every queue it is in."""
    return await _run(req, "logoff", {})


@api.post(
    "/api/v1/seats/{seat}/move",
    role=Role.SUPERVISOR,
    body=MoveIn,
    response=ActionOut,
    errors=_ERRORS,
)
async def move_seat(req: ApiRequest) -> ActionOut:
    """Move a logged-in seat to another zone: its own queue becomes that zone's (penalty 0),
    its skills and general-seat backups stay; pause state is kept."""
    return await _run(req, "move", {"zone": req.body.zone})


@api.post(
    "/api/v1/seats/{seat}/spy",
    role=Role.SUPERVISOR,
    body=SpyIn,
    response=ActionOut,
    errors=(*_ERRORS, 504),
)
async def spy_on_seat(req: ApiRequest) -> ActionOut:
    """Listen to, whisper to, or barge in on a seat's call from a supervisor's softphone.

    Rings the supervisor's softphone; answers once ChanSpy is attached to the seat's call
    (or with an error if the softphone does not answer).
    """
    body: SpyIn = req.body
    return await _run(req, body.mode, {"supervisor": body.supervisor})


class AuditQuery(Model):
    hours: int = Field(24, ge=1, le=24 * 31, description="how far back")
    seat: str | None = None
    limit: int = Field(200, ge=1, le=1000)


class AuditEntryOut(Model):
    id: str
    at: str
    actor: str
    role: str
    action: str
    target: str
    detail: dict[str, Any]
    result: Literal["ok", "error"]
    error: str


class AuditOut(Model):
    """Audited supervisor actions, newest first."""

    entries: list[AuditEntryOut]


@api.get("/api/v1/audit", role=Role.SUPERVISOR, query=AuditQuery, response=AuditOut)
async def list_audit(req: ApiRequest) -> AuditOut:
    """The audit trail of supervisor actions (rows reach the store within a moment)."""
    q: AuditQuery = req.query
    since = datetime.now(UTC) - timedelta(hours=q.hours)
    rows = await asyncio.to_thread(read_audit, req.services.db, since, q.seat, q.limit)
    return AuditOut(
        entries=[
            AuditEntryOut(
                **{k: v for k, v in r.items() if k not in ("at", "as_of")}, at=r["at"].isoformat()
            )
            for r in rows
        ]
    )

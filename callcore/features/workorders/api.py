"""Requests (诉求) and the enterprise register (一企来) by API.

A seat sees and moves its own requests only (首接负责制: the seat that answered owns it);
supervisors any. A status change is validated against the lifecycle
(`callcore.features.workorders.registration`), written through the store writer's journal
and applied at once to first-contact routing. Enterprise contacts registered here are
recognised from the next call on."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated

from pydantic import Field

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.enterprises import register as enterprises
from callcore.features.workorders import registration as requests

api = Api("registers", "Requests (诉求) and their lifecycle; the enterprise register (一企来).")


class RequestOut(Model):
    id: str
    linkedid: str
    caller_number: str
    seat: str
    status: str
    registered_at: datetime | None
    status_at: datetime | None
    status_by: str
    note: str


class RequestsQuery(Model):
    caller: str | None = None
    seat: str | None = None
    open: bool = False
    limit: Annotated[int, Field(ge=1, le=1000)] = 200


class RequestsOut(Model):
    requests: list[RequestOut]


def _out(r: requests.RequestRecord) -> RequestOut:
    return RequestOut(**{k: getattr(r, k) for k in RequestOut.model_fields})


@api.get("/api/v1/requests", role=Role.SEAT, query=RequestsQuery, response=RequestsOut)
async def list_requests(req: ApiRequest) -> RequestsOut:
    """Requests, newest first; a seat token sees its own only."""
    q: RequestsQuery = req.query
    seat = req.own_seat_only() or q.seat
    rows = await asyncio.to_thread(
        lambda: requests.query(
            req.services.db, caller=q.caller, seat=seat, open_only=q.open, limit=q.limit
        )
    )
    return RequestsOut(requests=[_out(r) for r in rows])


class StatusIn(Model):
    status: str
    note: Annotated[str, Field(max_length=4000)] = ""


@api.post(
    "/api/v1/requests/{request_id}/status",
    role=Role.SEAT,
    body=StatusIn,
    response=RequestOut,
    errors=(400, 403, 404, 409, 503),
)
async def set_request_status(req: ApiRequest) -> RequestOut:
    """Move a request along 受理→派单→办理→回访→办结 (or back, where the plan allows)."""
    current = await asyncio.to_thread(requests.load, req.services.db, req.path["request_id"])
    if current is None:
        raise ApiError(404, "not_found", f"no request {req.path['request_id']!r}")
    own = req.own_seat_only()
    if own is not None and own != current.seat:
        raise ApiError(403, "forbidden", "a seat moves its own requests only")
    floor = req.services.need("floor")
    body: StatusIn = req.body
    assert req.identity is not None
    try:
        new = requests.change(current, body.status, req.identity.name, body.note)
    except requests.RequestError as exc:
        raise ApiError(400 if exc.code == "unknown_status" else 409, exc.code, str(exc)) from None
    floor.request_changed(new)
    return _out(new)


class EnterpriseIn(Model):
    number: Annotated[str, Field(min_length=3, max_length=32)]
    name: Annotated[str, Field(min_length=1, max_length=200)]


class EnterpriseOut(Model):
    number: str
    name: str
    active: bool
    source: str  # config | store


class EnterprisesOut(Model):
    enterprises: list[EnterpriseOut]


@api.get("/api/v1/enterprises", role=Role.SUPERVISOR, response=EnterprisesOut)
async def list_enterprises(req: ApiRequest) -> EnterprisesOut:
    """The enterprise register: the site config's and the store's."""
    rows = await asyncio.to_thread(enterprises.listing, req.services.db)
    out = [
        EnterpriseOut(number=e.number, name=e.name, active=True, source="config")
        for e in req.services.config().enterprises
    ]
    out += [
        EnterpriseOut(number=r.number, name=r.name, active=r.active, source="store") for r in rows
    ]
    return EnterprisesOut(enterprises=out)


def _put(req: ApiRequest, number: str, name: str, active: bool) -> EnterpriseOut:
    floor = req.services.need("floor")
    try:
        rec = enterprises.EnterpriseRecord(enterprises.normalize(number), name, active, time.time())
    except enterprises.EnterpriseError as exc:
        raise ApiError(400, "bad_number", str(exc)) from None
    floor.enterprise_changed(rec)
    return EnterpriseOut(number=rec.number, name=rec.name, active=active, source="store")


@api.post(
    "/api/v1/enterprises",
    role=Role.SUPERVISOR,
    body=EnterpriseIn,
    response=EnterpriseOut,
    errors=(400, 503),
)
async def add_enterprise(req: ApiRequest) -> EnterpriseOut:
    """Register an enterprise contact: its calls get priority and the enterprise zone."""
    return _put(req, req.body.number, req.body.name.strip(), True)


@api.delete(
    "/api/v1/enterprises/{number}",
    role=Role.SUPERVISOR,
    response=EnterpriseOut,
    errors=(400, 503),
)
async def remove_enterprise(req: ApiRequest) -> EnterpriseOut:
    """Withdraw a registered enterprise contact (kept in the store as withdrawn)."""
    return _put(req, req.path["number"], "", False)

"""Requests (诉求) by API.

A seat sees and moves its own requests only (首接负责制: the seat that answered owns it);
supervisors any. A status change is validated against the lifecycle
(`callcore.features.workorders.registration`), written through the store writer's journal
and applied at once to first-contact routing."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from pydantic import Field

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.workorders import registration as requests

api = Api("requests", "Requests (诉求) and their lifecycle.")


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
    service = req.services.need("requests")
    body: StatusIn = req.body
    assert req.identity is not None
    try:
        new = requests.change(current, body.status, req.identity.name, body.note)
    except requests.RequestError as exc:
        raise ApiError(400 if exc.code == "unknown_status" else 409, exc.code, str(exc)) from None
    service.changed(new)
    return _out(new)

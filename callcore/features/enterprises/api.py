"""The enterprise register (一企来) by API: contacts registered here are recognised from
the next call on."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from pydantic import Field

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.enterprises import register as enterprises

api = Api("enterprises", "The enterprise register (一企来): whose calls go to the enterprise zone.")


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
    service = req.services.need("enterprises")
    try:
        rec = enterprises.EnterpriseRecord(enterprises.normalize(number), name, active, time.time())
    except enterprises.EnterpriseError as exc:
        raise ApiError(400, "bad_number", str(exc)) from None
    service.changed(rec)
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

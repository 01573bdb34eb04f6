"""The 12366 sub-centre posts its own call records here; supervisors read them back.

Authenticated by a token of role `subcentre` whose name is the sub-centre's trunk id
(`callcore token add --role subcentre --name tax12366`): a sub-centre can only post, and
only as itself. Records are accepted once validated and journaled (202): the store
writer keeps them, replays included, exactly once per (source, external id); posting a
record again with newer facts (it ended) updates it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated

from pydantic import Field

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.subcentre.records import SubcentreRecord, query
from config.schema import Mode

api = Api("sub-centre", "The 12366 sub-centre's call records flowing into 12345.")

_NUMBER = Annotated[str, Field(max_length=64, pattern=r"^[+0-9*#]*$")]


class SubcentreCallIn(Model):
    external_id: Annotated[str, Field(min_length=1, max_length=64)]
    caller_number: _NUMBER = ""
    dialed_number: _NUMBER = ""
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    agent: Annotated[str, Field(max_length=64)] = ""
    outcome: Annotated[str, Field(max_length=16)] = ""  # answered | abandoned | transferred …
    linkedid: Annotated[str, Field(max_length=64)] = ""  # 12345's call, when we sent it
    transferred_to_12345: bool = False
    summary: Annotated[str, Field(max_length=4000)] = ""


class SubcentreBatchIn(Model):
    calls: Annotated[list[SubcentreCallIn], Field(min_length=1, max_length=1000)]


class AcceptedOut(Model):
    source: str
    accepted: int


def _subcentres(req: ApiRequest) -> set[str]:
    cfg = req.services.config()
    return {h.trunk for h in cfg.hotlines if h.mode is Mode.SUBCENTRE and h.trunk}


@api.post(
    "/api/v1/subcentre/calls",
    role=Role.SUBCENTRE,
    body=SubcentreBatchIn,
    response=AcceptedOut,
    status=202,
    errors=(400, 403, 503),
)
async def post_subcentre_calls(req: ApiRequest) -> AcceptedOut:
    """The sub-centre posts a batch of its call records (accepted once journaled)."""
    assert req.identity is not None
    source = req.identity.name
    if source not in _subcentres(req):
        raise ApiError(403, "forbidden", f"{source!r} is not a sub-centre of this site")
    writer = req.services.need("writer")
    now = time.time()
    body: SubcentreBatchIn = req.body
    for c in body.calls:
        facts = c.model_dump()
        newest = max(
            (t.timestamp() for t in (c.started_at, c.answered_at, c.ended_at) if t), default=now
        )
        writer.submit(SubcentreRecord(source=source, as_of=newest, **facts))
    return AcceptedOut(source=source, accepted=len(body.calls))


class SubcentreQuery(Model):
    source: str | None = None
    since: datetime | None = None
    limit: Annotated[int, Field(ge=1, le=5000)] = 1000


class SubcentreCallOut(Model):
    source: str
    external_id: str
    caller_number: str
    dialed_number: str
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    agent: str
    outcome: str
    linkedid: str
    transferred_to_12345: bool
    summary: str


class SubcentreCallsOut(Model):
    calls: list[SubcentreCallOut]


@api.get(
    "/api/v1/subcentre/calls",
    role=Role.SUPERVISOR,
    query=SubcentreQuery,
    response=SubcentreCallsOut,
)
async def list_subcentre_calls(req: ApiRequest) -> SubcentreCallsOut:
    """The sub-centre's call records as 12345 holds them."""
    q: SubcentreQuery = req.query
    rows = await asyncio.to_thread(query, req.services.db, q.source, q.since, q.limit)
    return SubcentreCallsOut(
        calls=[
            SubcentreCallOut(**{k: getattr(r, k) for k in SubcentreCallOut.model_fields})
            for r in rows
        ]
    )

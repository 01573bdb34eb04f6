"""Call records the 12366 sub-centre posts into 12345's store (its data flows into 12345).

The sub-centre keeps its own seats and system; its calls (including those 12345
transferred to it, named by our Linkedid, and those it transferred back) arrive over the
API in batches and are kept, idempotently by (source, external id), in `subcentre_calls`
through the store writer's journal like every other record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Engine, select

from callcore.store.models import SubcentreCall


@dataclass(frozen=True)
class SubcentreRecord:
    STORE_KIND: ClassVar[str] = "subcentre_call"

    source: str  # the sub-centre's trunk id (tax12366), from its API token
    external_id: str  # the sub-centre's own id of the call
    caller_number: str
    dialed_number: str
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    agent: str
    outcome: str
    linkedid: str  # the 12345 call it came from, when 12345 transferred it
    transferred_to_12345: bool
    summary: str
    as_of: float


def _record(row: Mapping[str, Any]) -> SubcentreRecord:
    return SubcentreRecord(**{c.name: row[c.name] for c in SubcentreCall.__table__.columns})


def query(
    engine: Engine, source: str | None = None, since: datetime | None = None, limit: int = 1000
) -> list[SubcentreRecord]:
    t = SubcentreCall.__table__
    stmt = select(t)
    if source:
        stmt = stmt.where(t.c.source == source)
    if since is not None:
        stmt = stmt.where(t.c.started_at >= since)
    stmt = stmt.order_by(t.c.started_at.asc().nulls_last(), t.c.external_id).limit(limit)
    with engine.connect() as conn:
        return [_record(r) for r in conn.execute(stmt).mappings()]

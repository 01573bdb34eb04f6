"""Reading the seats' history back from the store (`seat_events`): synchronous, run in a
thread by the engine, directly by the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from callcore.store.models import SeatEvent
from seats.states import SeatChange

_T = SeatEvent.__table__


def _change(row: Mapping[str, Any]) -> SeatChange:
    return SeatChange(**{c.name: row[c.name] for c in _T.columns})


def last_changes(engine: Engine) -> dict[str, SeatChange]:
    """Each seat's newest change (its state now, as far as the store knows, and since when)."""
    newest = select(_T.c.seat, func.max(_T.c.at).label("at")).group_by(_T.c.seat).subquery("newest")
    stmt = select(_T).join(newest, (newest.c.seat == _T.c.seat) & (newest.c.at == _T.c.at))
    out: dict[str, SeatChange] = {}
    with engine.connect() as conn:
        for row in conn.execute(stmt.order_by(_T.c.as_of)).mappings():
            out[row["seat"]] = _change(row)
    return out


def changes(
    engine: Engine,
    seat: str | None = None,
    since: datetime | None = None,
    limit: int = 1000,
) -> list[SeatChange]:
    """Changes oldest first, optionally of one seat and from a time on."""
    stmt = select(_T)
    if seat:
        stmt = stmt.where(_T.c.seat == seat)
    if since is not None:
        stmt = stmt.where(_T.c.at >= since)
    stmt = stmt.order_by(_T.c.at, _T.c.as_of).limit(limit)
    with engine.connect() as conn:
        return [_change(r) for r in conn.execute(stmt).mappings()]

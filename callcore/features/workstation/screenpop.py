"""What the screen pop adds from the work orders: the caller's open orders (工单).

Run in a thread by the event hub (`EventHub(open_requests=…)`, given by the wiring) when a
call rings a seat, beside the caller's previous calls. It reads as the centre (a
supervisor actor): the seat ringing is about to serve this caller, whichever seat
registered the earlier orders.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from callcore.features.workorders.model import OPEN, Actor, Role
from callcore.features.workorders.service import Query, WorkOrderService

OPEN_REQUESTS = 5  # the newest ones are enough to see at a glance
READER = Actor("screen pop", Role.SUPERVISOR)


def open_requests(
    service: WorkOrderService, caller: str, exclude: str, tz: str
) -> list[dict[str, Any]]:
    """The caller's open orders, newest first, without one of the ringing call; times on
    the site's clock, as the previous calls have them."""
    zone = ZoneInfo(tz)
    q = Query(caller=caller, states=sorted(OPEN), limit=OPEN_REQUESTS + 1)
    out = []
    for o in service.query(READER, q):
        if exclude and exclude in o.calls_in:
            continue
        out.append(
            {
                "id": o.id,
                "status": o.state.value,
                "seat": o.seat,
                "type": o.type.value if o.type else "",
                "content": o.content[:80],
                "registered_at": o.registered_at.astimezone(zone).isoformat(timespec="seconds"),
                "deadline_at": (
                    o.deadline_at.astimezone(zone).isoformat(timespec="seconds")
                    if o.deadline_at else None
                ),
            }
        )
    return out[:OPEN_REQUESTS]

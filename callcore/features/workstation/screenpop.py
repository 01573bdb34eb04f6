"""What the screen pop adds from the requests: the caller's open requests (诉求).

Run in a thread by the event hub (`EventHub(open_requests=…)`, given by the wiring) when a
call rings a seat, beside the caller's previous calls.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from callcore.features.workorders import registration

OPEN_REQUESTS = 5  # the newest ones are enough to see at a glance
FIELDS = ("id", "linkedid", "seat", "status", "registered_at", "status_at", "note")


def open_requests(store: Engine, caller: str, exclude: str, tz: str) -> list[dict[str, Any]]:
    """The caller's open requests, newest first, without the one of the ringing call; times
    in the site's zone, as the previous calls have them."""
    zone = ZoneInfo(tz)
    rows = registration.query(store, caller=caller, open_only=True, limit=OPEN_REQUESTS + 1)
    out = []
    for r in rows:
        if r.linkedid == exclude:
            continue
        item: dict[str, Any] = {k: getattr(r, k) for k in FIELDS}
        for k in ("registered_at", "status_at"):
            item[k] = item[k].astimezone(zone).isoformat(timespec="seconds") if item[k] else None
        out.append(item)
    return out[:OPEN_REQUESTS]

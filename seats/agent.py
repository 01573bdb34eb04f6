"""A seat logging in to its zone queues through AMI (`seats.sessions` builds on it; logging
out reads the queues the seat is really in, see `SeatSessions.logout`).

Members are added as dynamic, persistent members (Asterisk keeps them in its astdb across
restarts without callcore), named by seat id so that every queue event and queue_log line
says which seat it was, with the seat's device as state interface so a seat on a call is
not offered another.
"""

from __future__ import annotations

from typing import Protocol

from callcore.ami import AmiError
from config.schema import Seat, SiteConfig
from seats.membership import memberships, queue_add


class Ami(Protocol):
    async def action(self, fields: dict[str, str], *, timeout: float | None = None) -> dict: ...


async def login(ami: Ami, cfg: SiteConfig, seat: Seat, paused: bool = False) -> list[str]:
    """Add the seat to each of its queues; returns the queues it is now in."""
    joined = []
    for m in memberships(cfg, seat):
        try:
            await ami.action(queue_add(m, paused))
        except AmiError as exc:
            if "Already there" not in (exc.response or {}).get("Message", ""):
                raise
        joined.append(m.queue)
    return joined


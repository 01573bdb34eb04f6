"""A seat logging in and out of its zone queues through AMI.

Members are added as dynamic, persistent members (Asterisk keeps them in its astdb across
restarts without callcore), named by seat id so that every queue event and queue_log line
says which seat it was, with the seat's device as state interface so a seat on a call is
not offered another.
"""

from __future__ import annotations

from typing import Protocol

from callcore.ami import AmiError
from config.schema import Seat, SiteConfig
from seats.membership import memberships


class Ami(Protocol):
    async def action(self, fields: dict[str, str], *, timeout: float | None = None) -> dict: ...


async def login(ami: Ami, cfg: SiteConfig, seat: Seat, paused: bool = False) -> list[str]:
    """Add the seat to each of its queues; returns the queues it is now in."""
    joined = []
    for m in memberships(cfg, seat):
        try:
            await ami.action(
                {
                    "Action": "QueueAdd",
                    "Queue": m.queue,
                    "Interface": m.interface,
                    "Penalty": str(m.penalty),
                    "MemberName": m.member_name,
                    "StateInterface": m.interface,
                    "Paused": "true" if paused else "false",
                }
            )
        except AmiError as exc:
            if "Already there" not in (exc.response or {}).get("Message", ""):
                raise
        joined.append(m.queue)
    return joined


async def logout(ami: Ami, cfg: SiteConfig, seat: Seat) -> list[str]:
    left = []
    for m in memberships(cfg, seat):
        try:
            await ami.action({"Action": "QueueRemove", "Queue": m.queue, "Interface": m.interface})
        except AmiError as exc:
            if "Not there" in (exc.response or {}).get("Message", ""):
                continue
            raise
        left.append(m.queue)
    return left

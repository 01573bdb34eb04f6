"""The dialplan's `route` request: decide where a call goes and write it onto the caller.

The dialplan runs, on a Local channel,
`AGI(agi://HOST:PORT/route,<dialed>,<caller channel>,<caller number>)`. The decision is
written onto the *caller's* channel in one command, as `SHARED(CC_ROUTE,<caller channel>)`
holding the contract's ROUTE_FIELDS (callcore/contract.py) joined by `|`: one round trip
keeps routing fast, and a decision is either there whole or not at all, so a request cut
short anywhere leaves the static fallback in charge.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agi.protocol import AgiRequest
from agi.server import AgiChannel, AgiHandler, BadRequest
from callcore.contract import FLAG_SEPARATOR, ROUTE_FIELDS, ROUTE_SEPARATOR
from callcore.features.routing.decision import FirstContact, Route, decide
from config.directory import Directory

log = logging.getLogger("callcore.agi.route")

# `Tech/resource`, e.g. PJSIP/carrier-0000002a or Local/x@ctx-00000001;1. Nothing that
# SHARED()'s argument parsing or AGI quoting treats specially: no , ( ) " \ $ { } [ ] or
# spaces, which also keeps a hostile value from reaching another channel or variable.
_CHANNEL = re.compile(r"[A-Za-z][A-Za-z0-9]{0,19}/[A-Za-z0-9_.@:+;/\-]{1,100}")


def valid_channel(name: str) -> bool:
    return len(name) <= 120 and _CHANNEL.fullmatch(name) is not None


def route_fields(route: Route) -> list[tuple[str, str]]:
    """The decision as the dialplan's CC_* variables, in the contract's order.

    Every value is a directory token (queue, number, sound, trunk id, flag names), none of
    which can hold `|` or `+`.
    """
    values = (route.kind.value, route.queue, str(route.priority), route.hotline, route.notice,
              route.trunk, route.trunk_exten, str(route.trunk_timeout),
              FLAG_SEPARATOR.join(sorted(f.value for f in route.flags)),
              route.affinity_seat, route.affinity_dial,
              str(route.affinity_seconds) if route.affinity_dial else "")
    return list(zip((f.variable for f in ROUTE_FIELDS), values, strict=True))


def route_value(route: Route) -> str:
    return ROUTE_SEPARATOR.join(v for _, v in route_fields(route))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def make_route_handler(
    directory_provider: Callable[[], Directory],
    enterprise_numbers_provider: Callable[[], frozenset[str]],
    *,
    clock: Callable[[], datetime] = _utc_now,
    first_contact: Callable[[str], FirstContact | None] | None = None,
) -> AgiHandler:
    """The `route` handler; the providers are called per request so reloads apply at once.

    `clock` returns an aware datetime (tests move it); the day is taken in the site's
    time zone, which decides whether a cancelled number is inside its transition window.
    `first_contact(caller number)` names the seat to ring first (首接负责制), if any; it
    answers from memory (callcore.features.firstcontact.index), never from the database.
    """

    async def route(req: AgiRequest, chan: AgiChannel) -> None:
        dialed, channel, caller = req.arg(1), req.arg(2), req.arg(3)
        if not valid_channel(channel):
            raise BadRequest(f"caller channel is not a channel name: {channel[:40]!r}")
        directory = directory_provider()
        today = clock().astimezone(ZoneInfo(directory.cfg.site.timezone)).date()
        seat = first_contact(caller) if first_contact is not None else None
        decision = decide(directory, dialed, caller, today, enterprise_numbers_provider(), seat)
        await chan.set_variable(f"SHARED(CC_ROUTE,{channel})", route_value(decision))
        log.debug("routed %s for %s: %s", dialed[:32], channel, decision.reason)

    return route

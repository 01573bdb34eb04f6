"""The dialplan's `route` request: decide where a call goes and write it onto the caller.

The dialplan runs, on a Local channel,
`AGI(agi://HOST:PORT/route,<dialed>,<caller channel>,<caller number>)`. The decision is
written onto the *caller's* channel as `SHARED(CC_*,<caller channel>)` variables, with
`CC_ROUTED=1` last: the dialplan trusts a decision only once CC_ROUTED is set, so a
request cut short anywhere leaves the static fallback in charge.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from agi.protocol import AgiRequest
from agi.router import Route, decide
from agi.server import AgiChannel, BadRequest, Handler
from config.directory import Directory

log = logging.getLogger("callcore.agi.route")

# `Tech/resource`, e.g. PJSIP/carrier-0000002a or Local/x@ctx-00000001;1. Nothing that
# SHARED()'s argument parsing or AGI quoting treats specially: no , ( ) " \ $ { } [ ] or
# spaces, which also keeps a hostile value from reaching another channel or variable.
_CHANNEL = re.compile(r"[A-Za-z][A-Za-z0-9]{0,19}/[A-Za-z0-9_.@:+;/\-]{1,100}")


def valid_channel(name: str) -> bool:
    return len(name) <= 120 and _CHANNEL.fullmatch(name) is not None


def route_variables(route: Route) -> list[tuple[str, str]]:
    """The CC_* variables of a decision, in the order they are written (CC_ROUTED last)."""
    return [
        ("CC_KIND", route.kind.value),
        ("CC_QUEUE", route.queue),
        ("CC_PRIO", str(route.priority)),
        ("CC_HOTLINE", route.hotline),
        ("CC_HOTLINE_NAME", route.hotline_name),
        ("CC_NOTICE", route.notice),
        ("CC_TRUNK", route.trunk),
        ("CC_TRUNK_EXTEN", route.trunk_exten),
        ("CC_TRUNK_TIMEOUT", str(route.trunk_timeout)),
        ("CC_FLAGS", ",".join(sorted(f.value for f in route.flags))),
        ("CC_REASON", route.reason),
        ("CC_ROUTED", "1"),
    ]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def make_route_handler(
    directory_provider: Callable[[], Directory],
    enterprise_numbers_provider: Callable[[], frozenset[str]],
    *,
    clock: Callable[[], datetime] = _utc_now,
) -> Handler:
    """The `route` handler; the providers are called per request so reloads apply at once.

    `clock` returns an aware datetime (tests move it); the day is taken in the site's
    time zone, which decides whether a cancelled number is inside its transition window.
    """

    async def route(req: AgiRequest, chan: AgiChannel) -> None:
        dialed, channel, caller = req.arg(1), req.arg(2), req.arg(3)
        if not valid_channel(channel):
            raise BadRequest(f"caller channel is not a channel name: {channel[:40]!r}")
        directory = directory_provider()
        today = clock().astimezone(ZoneInfo(directory.cfg.site.timezone)).date()
        decision = decide(directory, dialed, caller, today, enterprise_numbers_provider())
        for name, value in route_variables(decision):
            await chan.set_variable(f"SHARED({name},{channel})", value)
        log.debug("routed %s for %s: %s", dialed[:32], channel, decision.reason)

    return route

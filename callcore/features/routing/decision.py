"""Where a call goes, decided from what the network tells us: no menus, no key presses.

`decide` is pure and fast: the FastAGI server calls it on the routing path, the static
dialplan is rendered from `static_routes`, and tests check that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

from callcore.contract import Flag
from config.directory import Directory, clean, national
from config.schema import Hotline, Mode, SiteConfig
from queues import priority


class Kind(StrEnum):
    QUEUE = "queue"
    TRUNK = "trunk"


@dataclass(frozen=True)
class Route:
    kind: Kind
    queue: str  # the queue; for a trunk route, where the caller goes if the trunk fails
    priority: int = priority.NORMAL
    hotline: str = ""  # directory number, empty when unknown
    hotline_name: str = ""
    notice: str = ""  # sound name of the merge notice, empty for none
    trunk: str = ""
    trunk_exten: str = ""
    trunk_timeout: int = 0
    flags: frozenset[Flag] = field(default_factory=frozenset)
    reason: str = ""
    # 首接负责制: ring this seat first (device, seconds), then the queue
    affinity_seat: str = ""
    affinity_dial: str = ""
    affinity_seconds: int = 0


@dataclass(frozen=True)
class FirstContact:
    """The seat a repeat caller is offered to first: it took their open request and is
    available now (the route handler checks both; `decide` stays pure)."""

    seat: str
    dial: str  # its device, e.g. PJSIP/8003
    seconds: int


def notice_sound(hotline: Hotline) -> str:
    return "notice-" + hotline.number.replace("-", "")


def _for_hotline(cfg: SiteConfig, h: Hotline) -> Route:
    general = cfg.zone(cfg.general_zone).queue
    if h.mode is Mode.CANCELLED:
        return Route(
            Kind.QUEUE,
            general,
            hotline=h.number,
            hotline_name=h.name,
            notice=notice_sound(h),
            flags=frozenset({Flag.CANCELLED}),
            reason=f"cancelled {h.number} merged into 12345: notice, then general seats",
        )
    zone = cfg.zone(h.zone or cfg.general_zone)
    if h.mode is Mode.SUBCENTRE:
        trunk = cfg.trunk(h.trunk or "")
        return Route(
            Kind.TRUNK,
            zone.queue,
            priority=priority.RETURNED,
            hotline=h.number,
            hotline_name=h.name,
            trunk=trunk.id,
            trunk_exten=h.carrier_numbers[0],
            trunk_timeout=trunk.dial_timeout,
            reason=f"sub-centre {h.number} over trunk {trunk.id}; {zone.id} zone if it fails",
        )
    what = "main number" if h.mode is Mode.MAIN else f"retained {h.number}"
    return Route(
        Kind.QUEUE,
        zone.queue,
        hotline=h.number,
        hotline_name=h.name,
        reason=f"{what} to zone {zone.id}",
    )


def unknown_route(cfg: SiteConfig, dialed: str) -> Route:
    return Route(
        Kind.QUEUE,
        cfg.zone(cfg.general_zone).queue,
        flags=frozenset({Flag.UNKNOWN_NUMBER}),
        reason=f"unknown called number {clean(dialed) or '(none)'}: general seats",
    )


def decide(
    directory: Directory,
    dialed: str,
    caller: str,
    today: date,
    enterprise_numbers: frozenset[str] = frozenset(),
    first_contact: FirstContact | None = None,
) -> Route:
    """Where the call goes. A registered enterprise (一企来) gets priority, and a call that
    would reach the general seats goes to the enterprise zone instead (a kept number's
    call stays with its experts); `first_contact` rings the caller's previous seat first.
    `enterprise_numbers` are compared as `config.directory.national` numbers."""
    cfg = directory.cfg
    h = directory.lookup(dialed)
    if h is None:
        route = unknown_route(cfg, dialed)
    else:
        route = _for_hotline(cfg, h)
        if h.mode is Mode.CANCELLED and h.transition and not h.transition.contains(today):
            route = replace(
                route,
                notice="",
                flags=route.flags | {Flag.OUTSIDE_TRANSITION},
                reason=f"cancelled {h.number} outside its transition window: general seats",
            )
    registered = national(caller, cfg.site.area_code) in enterprise_numbers or (
        clean(caller).lstrip("+") in enterprise_numbers
    )
    if route.kind is Kind.QUEUE and registered:
        zone = cfg.enterprise_zone
        general = cfg.zone(cfg.general_zone).queue
        if zone is not None and route.queue == general:
            queue, why = zone.queue, f"enterprise zone {zone.id} first"
        else:
            queue, why = route.queue, "priority in its zone"
        route = replace(
            route,
            queue=queue,
            priority=max(route.priority, priority.ENTERPRISE),
            flags=route.flags | {Flag.ENTERPRISE},
            reason=route.reason + f"; registered enterprise caller (一企来): {why}",
        )
    if route.kind is Kind.QUEUE and first_contact is not None:
        route = replace(
            route,
            affinity_seat=first_contact.seat,
            affinity_dial=first_contact.dial,
            affinity_seconds=first_contact.seconds,
            reason=route.reason + f"; 首接负责制: seat {first_contact.seat} first"
            f" ({first_contact.seconds} s)",
        )
    return route


def static_routes(directory: Directory) -> list[tuple[Hotline, Route]]:
    """The number-based part of `decide` for the static dialplan (no caller, no date)."""
    return [(h, _for_hotline(directory.cfg, h)) for h in directory]

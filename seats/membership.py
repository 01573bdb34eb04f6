"""Which zone queues a seat joins when it logs in, and at which penalty.

Penalties carry the overflow plan: a zone's own seats at 0, general seats that back the
zone up at their skill level (1-9), any other general seat at ANY_GENERAL. The zone's queue
rule raises the allowed penalty while the caller waits, so the call widens from experts to
skilled general seats to every general seat without ever leaving the queue.
"""

from __future__ import annotations

from collections.abc import KeysView
from dataclasses import dataclass

from config.schema import Role, Seat, SiteConfig, ZoneKind

ANY_GENERAL = 10


@dataclass(frozen=True)
class Membership:
    queue: str
    interface: str  # PJSIP/<extension>
    penalty: int
    member_name: str  # seat id: what AMI events and queue_log carry as MemberName


def queue_add(m: Membership, paused: bool, reason: str = "") -> dict[str, str]:
    """The AMI QueueAdd for one membership: the seat's device is its state interface."""
    fields = {
        "Action": "QueueAdd",
        "Queue": m.queue,
        "Interface": m.interface,
        "Penalty": str(m.penalty),
        "MemberName": m.member_name,
        "StateInterface": m.interface,
        "Paused": "true" if paused else "false",
    }
    if paused and reason:
        fields["Reason"] = reason
    return fields


def interface(seat: Seat) -> str:
    return f"PJSIP/{seat.extension}"


def memberships(cfg: SiteConfig, seat: Seat) -> list[Membership]:
    penalties: dict[str, int] = {seat.zone: 0}
    for zone_id, level in seat.skills.items():
        penalties.setdefault(zone_id, level)
    if seat.role is Role.GENERAL:
        for z in cfg.zones:
            if z.kind in (ZoneKind.EXPERT, ZoneKind.SUBCENTRE, ZoneKind.ENTERPRISE):
                penalties.setdefault(z.id, ANY_GENERAL)
    return [
        Membership(cfg.zone(zone_id).queue, interface(seat), penalty, seat.id)
        for zone_id, penalty in sorted(penalties.items())
    ]


def seat_by_interface(cfg: SiteConfig, iface: str) -> Seat | None:
    ext = iface.split("/", 1)[-1]
    return next((s for s in cfg.seats if s.extension == ext), None)


class SeatLookup:
    """Seats by id and by extension, rebuilt only when the config object changes.

    The AMI consumer looks a seat up on nearly every queue event; a scan of a thousand
    seats each time would be most of its work.
    """

    def __init__(self) -> None:
        self._for: int | None = None
        self._by_id: dict[str, Seat] = {}
        self._by_ext: dict[str, Seat] = {}

    def _index(self, cfg: SiteConfig) -> None:
        if self._for != id(cfg):
            self._by_id = {s.id: s for s in cfg.seats}
            self._by_ext = {s.extension: s for s in cfg.seats}
            self._for = id(cfg)

    def by_id(self, cfg: SiteConfig, seat_id: str) -> Seat | None:
        self._index(cfg)
        return self._by_id.get(seat_id)

    def by_extension(self, cfg: SiteConfig, extension: str) -> Seat | None:
        self._index(cfg)
        return self._by_ext.get(extension)

    def ids(self, cfg: SiteConfig) -> KeysView[str]:
        self._index(cfg)
        return self._by_id.keys()

"""Seat sessions: log in, log out, pause with a reason, resume, move between zones.

One Python API for every way a seat changes state: feature codes from the softphone
(`seats.features`), the CLI, the API and the supervisors' monitor. Each operation is
carried out by Asterisk over AMI (QueueAdd / QueueRemove / QueuePause); the resulting
state is learnt from Asterisk's own events by `SeatBoard`, never assumed here, so the
board and Asterisk cannot disagree. Errors name the seat and what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from callcore.ami import AmiError
from config.schema import Seat, SiteConfig
from seats import agent
from seats.membership import interface, memberships, queue_add
from seats.states import SeatBoard, SeatStatus


class Ami(Protocol):
    async def action(self, fields: dict[str, str], *, timeout: float | None = None) -> dict: ...

    async def action_list(
        self, fields: dict[str, str], *, complete_event: str, timeout: float | None = None
    ) -> tuple[dict, list[dict]]: ...


class SeatError(ValueError):
    """A seat operation that cannot be done as asked; `code` is stable, for the API."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


async def queue_members(ami: Ami, iface: str | None = None) -> list[dict]:
    """QueueStatus `QueueMember` entries, optionally of one interface (PJSIP/8001)."""
    fields = {"Action": "QueueStatus"}
    if iface:
        fields["Member"] = iface
    _, events = await ami.action_list(fields, complete_event="QueueStatusComplete", timeout=10)
    out = [e for e in events if e.get("Event") == "QueueMember"]
    if iface:  # older Asterisks ignore the filter
        out = [e for e in out if e.get("Location") == iface or e.get("StateInterface") == iface]
    return out


class SeatSessions:
    """Seat operations over one AMI session; `board` (in the engine) attributes changes."""

    def __init__(self, ami: Ami, config: Callable[[], SiteConfig], board: SeatBoard | None = None):
        self.ami = ami
        self._config = config
        self.board = board

    # -- lookups -------------------------------------------------------------------------
    def seat(self, seat_id: str) -> Seat:
        seat = self._config().seat(seat_id)
        if seat is None:
            raise SeatError("unknown_seat", f"no seat {seat_id!r} in the site config")
        return seat

    def reason(self, reason: str) -> str:
        """A pause reason id, given its id or its feature code digit."""
        for r in self._config().pause_reasons:
            if reason in (r.id, r.code):
                return r.id
        known = ", ".join(f"{r.id} ({r.code} {r.name})" for r in self._config().pause_reasons)
        raise SeatError("unknown_reason", f"unknown pause reason {reason!r}; known: {known}")

    def status(self, seat_id: str) -> SeatStatus | None:
        self.seat(seat_id)
        return self.board.status(seat_id) if self.board is not None else None

    def statuses(self) -> list[SeatStatus]:
        return self.board.statuses() if self.board is not None else []

    def _expect(self, seat: Seat, source: str) -> None:
        if self.board is not None:
            self.board.expect(seat.id, source)

    async def _current(self, seat: Seat) -> list[dict]:
        return await queue_members(self.ami, interface(seat))

    # -- operations ------------------------------------------------------------------------
    async def login(self, seat_id: str, *, source: str = "api") -> list[str]:
        """Join every queue of the seat's zone and skills; returns the queues joined."""
        seat = self.seat(seat_id)
        self._expect(seat, source)
        return await agent.login(self.ami, self._config(), seat)

    async def logout(self, seat_id: str, *, source: str = "api") -> list[str]:
        """Leave every queue the seat is in (after a move, too); returns the queues left."""
        seat = self.seat(seat_id)
        self._expect(seat, source)
        queues = {m.get("Queue", "") for m in await self._current(seat)}
        queues |= {m.queue for m in memberships(self._config(), seat)}
        left = []
        for q in sorted(q for q in queues if q):
            try:
                await self.ami.action(
                    {"Action": "QueueRemove", "Queue": q, "Interface": interface(seat)}
                )
            except AmiError as exc:
                if "Not there" in (exc.response or {}).get("Message", ""):
                    continue
                raise
            left.append(q)
        return left

    async def pause(self, seat_id: str, reason: str, *, source: str = "api") -> str:
        """Pause the seat in all its queues with a reason (id or code); returns the id."""
        seat = self.seat(seat_id)
        reason_id = self.reason(reason)
        await self._require_logged_in(seat)
        self._expect(seat, source)
        await self.ami.action(
            {
                "Action": "QueuePause",
                "Interface": interface(seat),
                "Paused": "true",
                "Reason": reason_id,
            }
        )
        return reason_id

    async def resume(self, seat_id: str, *, source: str = "api") -> None:
        """Take the seat's pause off in all its queues."""
        seat = self.seat(seat_id)
        await self._require_logged_in(seat)
        self._expect(seat, source)
        await self.ami.action(
            {"Action": "QueuePause", "Interface": interface(seat), "Paused": "false"}
        )

    async def move(self, seat_id: str, zone_id: str, *, source: str = "api") -> list[str]:
        """Make `zone_id` the seat's own zone while it stays logged in.

        The seat leaves the queues it no longer belongs to and joins the new zone's (at
        penalty 0) and its skills' queues; a pause stays as it was. It lasts until the
        seat logs out: a permanent move is a change of the site config.
        """
        seat = self.seat(seat_id)
        cfg = self._config()
        if zone_id not in {z.id for z in cfg.zones}:
            raise SeatError("unknown_zone", f"no zone {zone_id!r} in the site config")
        current = await self._require_logged_in(seat)
        moved = seat.model_copy(update={"zone": zone_id})
        wanted = {m.queue: m for m in memberships(cfg, moved)}
        paused = [m for m in current if str(m.get("Paused")) == "1"]
        reason = next((m.get("PausedReason", "") for m in paused), "")
        all_paused = bool(current) and len(paused) == len(current)
        self._expect(seat, source)
        for m in current:
            q = m.get("Queue", "")
            if q in wanted and str(m.get("Penalty")) == str(wanted[q].penalty):
                del wanted[q]
                continue
            await self.ami.action(
                {"Action": "QueueRemove", "Queue": q, "Interface": interface(seat)}
            )
        for m in wanted.values():
            await self.ami.action(queue_add(m, all_paused, reason))
        if all_paused and reason:  # QueueAdd's Reason is not honoured by every version
            await self.ami.action(
                {
                    "Action": "QueuePause",
                    "Interface": interface(seat),
                    "Paused": "true",
                    "Reason": reason,
                }
            )
        return sorted(m.queue for m in memberships(cfg, moved))

    async def _require_logged_in(self, seat: Seat) -> list[dict]:
        current = await self._current(seat)
        if not current:
            raise SeatError("logged_off", f"seat {seat.id} is not logged in")
        return current

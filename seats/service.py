"""The seats' part of the engine: seat states, feature codes, first contact, requests,
the enterprise register and the transfer chain, wired to the engine's fan-out lists.

`Engine` adds `event_handlers` to its AMI consumer and `record_listeners` to its call
records (both synchronous and quick), serves `agi_handlers`, and calls `start`,
`resync` (after each AMI login), `refresh` (SIGHUP) and `stop`. Everything that touches
the database runs in a thread; everything durable goes through the store writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from agi.server import Handler
from callcore.features.enterprises import register as enterprises
from callcore.features.firstcontact.index import FirstContactIndex, recent_contacts
from callcore.features.routing.decision import FirstContact
from callcore.features.transfers import service as transfers
from callcore.features.transfers.legs import LegTracker
from callcore.features.workorders import registration as requests
from callcore.records import CallRecord
from config.directory import national
from config.schema import SiteConfig
from seats.features import make_agent_handler
from seats.history import last_changes
from seats.membership import SeatLookup
from seats.sessions import Ami, SeatSessions, queue_members
from seats.states import SeatBoard, SeatChange, SeatState

log = logging.getLogger(__name__)

_REGISTERED_MEMORY = 50_000


class SeatFloor:
    REFRESH_SECONDS = 30.0

    def __init__(
        self,
        config: Callable[[], SiteConfig],
        ami: Ami,
        submit: Callable[[Any], None],
        db: Callable[[], Engine],
        ami_connected: Callable[[], bool] = lambda: True,
    ):
        self._config = config
        self._submit = submit
        self._db = db
        self._ami_connected = ami_connected
        # Who hears of each seat change: the store; the live view appends itself here.
        self.change_listeners: list[Callable[[SeatChange], None]] = [submit]
        self.board = SeatBoard(config, self._changed)
        self.sessions = SeatSessions(ami, config, self.board)
        self.index = FirstContactIndex(config)
        self.legs = LegTracker(config, submit)
        self._registered: OrderedDict[str, None] = OrderedDict()
        self._lookup = SeatLookup()
        self._store_enterprises: frozenset[str] = frozenset()
        self._numbers: frozenset[str] = frozenset()
        self._numbers_for: tuple[int, frozenset[str]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._resyncing: asyncio.Lock = asyncio.Lock()

    # -- what the engine wires in -------------------------------------------------------------
    @property
    def event_handlers(self) -> list[Callable[[dict], None]]:
        return [self.board.handle, self.legs.handle]

    @property
    def record_listeners(self) -> list[Callable[[CallRecord], None]]:
        return [self.on_record]

    def agi_handlers(self) -> dict[str, Handler]:
        return {
            "agent": make_agent_handler(lambda: self.sessions if self._ami_connected() else None)
        }

    def _changed(self, change: SeatChange) -> None:
        for listener in self.change_listeners:
            try:
                listener(change)
            except Exception:
                log.exception("seat change listener %r failed", listener)

    def on_record(self, rec: CallRecord) -> None:
        """Each call record: remember who answered (首接) and register its request once."""
        self.index.on_record(rec)
        if rec.linkedid in self._registered:
            return
        req = requests.registration(rec, self._lookup.ids(self._config()))
        if req is None:
            return
        self._registered[rec.linkedid] = None
        while len(self._registered) > _REGISTERED_MEMORY:
            self._registered.popitem(last=False)
        self._submit(req)

    def enterprise_changed(self, rec: enterprises.EnterpriseRecord) -> None:
        """An enterprise contact registered or withdrawn in this process (the API)."""
        if rec.active:
            self._store_enterprises = self._store_enterprises | {rec.number}
        else:
            self._store_enterprises = self._store_enterprises - {rec.number}
        self._submit(rec)

    def request_changed(self, req: requests.RequestRecord) -> None:
        """A request's status changed in this process (the API): store it, apply it now."""
        self.index.on_request(req)
        self._submit(req)

    async def transfer(
        self, seat_id: str, exten: str, *, attended: bool = False, via: str = "api"
    ) -> str:
        """Transfer the caller of a seat (blind, or attended: the seat consults first and
        completes by hanging up, see `complete_transfer`); returns the seat's channel."""
        seat = self.sessions.seat(seat_id)
        status = self.board.status(seat.id)
        channel = status.channel if status is not None and status.channel else None
        return await transfers.transfer(
            self.sessions.ami,
            self._config(),
            seat.extension,
            exten,
            attended=attended,
            channel=channel,
            via=via,
        )

    async def complete_transfer(self, seat_id: str) -> str:
        """Complete a seat's attended transfer: its own leg hangs up, caller meets target."""
        return await transfers.complete_attended(
            self.sessions.ami, self.sessions.seat(seat_id).extension
        )

    # -- routing facts ----------------------------------------------------------------------
    def first_contact(self, caller: str) -> FirstContact | None:
        seat_id = self.index.seat_for(caller)
        if seat_id is None or self.board.state(seat_id) is not SeatState.AVAILABLE:
            return None
        cfg = self._config()
        seat = cfg.seat(seat_id)
        if seat is None:
            return None
        return FirstContact(seat.id, f"PJSIP/{seat.extension}", cfg.first_contact.ring_seconds)

    def enterprise_numbers(self) -> frozenset[str]:
        """The register (config and store) as national numbers, as `decide` compares them."""
        cfg = self._config()
        if self._numbers_for != (id(cfg), self._store_enterprises):
            area = cfg.site.area_code
            every = {e.number for e in cfg.enterprises} | self._store_enterprises
            self._numbers = frozenset(national(n, area) for n in every)
            self._numbers_for = (id(cfg), self._store_enterprises)
        return self._numbers

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start reading the registers (never waits on the database: it may be away)."""
        self._task = asyncio.create_task(self._refresher(), name="seat-floor-refresh")

    async def refresh(self) -> bool:
        """Re-read the enterprise register and recent first contacts from the store."""
        window = self._config().first_contact.window_minutes
        try:
            db = self._db()
            numbers = await asyncio.to_thread(enterprises.numbers, db)
            rows = await asyncio.to_thread(recent_contacts, db, window)
        except Exception as exc:  # the database may be away (or not migrated yet)
            log.info("seat floor: store not readable yet (%s); keeping what is in memory", exc)
            return False
        self._store_enterprises = numbers
        await asyncio.to_thread(self.index.load, rows)
        return True

    async def _refresher(self) -> None:
        while True:
            ok = await self.refresh()
            await asyncio.sleep(self.REFRESH_SECONDS if ok else 1.0)

    async def resync(self) -> None:
        """Rebuild every seat's state from Asterisk (QueueStatus) and the store's history."""
        async with self._resyncing:
            marks = self.board.begin_snapshot()
            try:
                last = await asyncio.to_thread(last_changes, self._db())
            except Exception as exc:
                log.warning("seat floor: no seat history from the store (%s)", exc)
                last = {}
            try:
                members = await queue_members(self.sessions.ami)
            except Exception as exc:
                log.warning("seat floor: QueueStatus failed (%s); seat states follow events", exc)
                return
            changed = self.board.apply_snapshot(members, last, marks)
            log.info("seat states rebuilt from Asterisk: %d seats changed", changed)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

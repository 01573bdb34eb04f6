"""First contact in the engine: who a repeat caller is offered to, answered from memory.

The route handler asks on every call, so the index lives in memory; it follows call
records and work-order changes as they happen and is re-read from the store periodically
(in a thread), so changes made elsewhere (the CLI, another node) arrive too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import Engine

from callcore.features.firstcontact.index import FirstContactIndex, recent_contacts
from callcore.features.routing.decision import FirstContact
from callcore.features.workorders.model import WorkOrder
from callcore.records import CallRecord
from config.schema import SiteConfig
from seats.states import SeatState


class FirstContactService:
    def __init__(
        self,
        config: Callable[[], SiteConfig],
        db: Callable[[], Engine],
        seat_state: Callable[[str], SeatState | None],
    ):
        self._config = config
        self._db = db
        self._seat_state = seat_state
        self.index = FirstContactIndex(config)

    def on_record(self, rec: CallRecord) -> None:
        self.index.on_record(rec)

    def on_request(self, order: WorkOrder) -> None:
        self.index.on_request(order)

    def first_contact(self, caller: str) -> FirstContact | None:
        """The seat this caller is offered to first, if it is available now."""
        seat_id = self.index.seat_for(caller)
        if seat_id is None or self._seat_state(seat_id) is not SeatState.AVAILABLE:
            return None
        cfg = self._config()
        seat = cfg.seat(seat_id)
        if seat is None:
            return None
        return FirstContact(seat.id, f"PJSIP/{seat.extension}", cfg.first_contact.ring_seconds)

    async def refresh(self) -> None:
        """Re-read recent first contacts from the store (raises if it is not readable)."""
        window = self._config().first_contact.window_minutes
        rows = await asyncio.to_thread(recent_contacts, self._db(), window)
        await asyncio.to_thread(self.index.load, rows)



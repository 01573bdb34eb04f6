"""Work orders in the engine: each call a seat answers registers its order, off the loop.

The record listener only notes the call (microseconds, on the AMI consumer); a task
registers what was noted in a thread, in batches, and keeps what the store refused for
the next try, so a slow or absent database never delays a call or the consumer. What is
lost anyway (a crash before the thread ran) is found again by `sweep`: calls a seat
answered recently that have no order yet, read from the calls the store writer journaled.
Changes made through the API are told to whoever follows orders (first contact).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from callcore.features.workorders.model import WorkOrder
from callcore.features.workorders.service import WorkOrderService
from callcore.records import CallRecord
from config.schema import SiteConfig
from seats.membership import SeatLookup

log = logging.getLogger(__name__)
_REGISTERED_MEMORY = 50_000  # calls remembered as registered (replays register nothing)
_RETRY_SECONDS = 2.0
SWEEP_HOURS = 48  # how far back a sweep looks for answered calls without an order


class WorkOrderIntake:
    def __init__(
        self,
        config: Callable[[], SiteConfig],
        service: WorkOrderService,
        on_change: Sequence[Callable[[WorkOrder], None]] = (),
    ):
        self._config = config
        self.service = service
        self._on_change = tuple(on_change)
        self._pending: dict[str, CallRecord] = {}
        self._registered: OrderedDict[str, None] = OrderedDict()
        self._lookup = SeatLookup()
        self._wake: asyncio.Event | None = None
        self.registered = 0  # orders registered by this process (figures, tests)

    def on_record(self, rec: CallRecord) -> None:
        """Each call record: note a call a seat of the floor answered, once."""
        if rec.answered_at is None or not rec.seat or rec.linkedid in self._registered:
            return
        if rec.seat not in self._lookup.ids(self._config()):  # the sub-centre's trunk
            return
        self._pending.setdefault(rec.linkedid, rec)
        if self._wake is not None:
            self._wake.set()

    def _register(self, batch: list[CallRecord]) -> list[WorkOrder]:
        return [o for o in map(self.service.register_record, batch) if o is not None]

    async def run(self, ready: Callable[[], bool] = lambda: True) -> None:
        """Register what `on_record` noted, until cancelled; `ready` says the schema is there."""
        self._wake = asyncio.Event()
        self._wake.set()
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = list(self._pending.values())
            if not batch:
                continue
            try:
                if not await asyncio.to_thread(ready):
                    raise RuntimeError("the store's schema is not in place yet")
                done = await asyncio.to_thread(self._register, batch)
            except Exception as exc:  # the database is away: keep them, try again
                log.info("work orders: %d registrations wait (%s)", len(batch), exc)
                await asyncio.sleep(_RETRY_SECONDS)
                self._wake.set()
                continue
            for rec in batch:
                self._pending.pop(rec.linkedid, None)
                self._registered[rec.linkedid] = None
            while len(self._registered) > _REGISTERED_MEMORY:
                self._registered.popitem(last=False)
            self.registered += len(done)

    async def sweep(self, now: datetime) -> int:
        """Register the orders of answered calls the store has and the orders lack."""
        seats = self._lookup.ids(self._config())
        since = now - timedelta(hours=SWEEP_HOURS)
        return await asyncio.to_thread(self.service.register_answered, since, list(seats))

    def changed(self, order: WorkOrder) -> None:
        """An order changed in this process (the API): tell its followers now."""
        for listener in self._on_change:
            listener(order)

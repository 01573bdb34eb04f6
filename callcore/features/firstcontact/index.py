"""首接负责制 (first-contact responsibility): which seat a repeat caller is offered to first.

A caller who spoke with a seat within the site's `first_contact.window_minutes`, and whose
work order from that call is not closed (nor merged), is offered to that seat first. The
route handler asks on every call, so the answer comes from memory: this index is fed by call records
(a seat answered) and work-order changes, and rebuilt from the store at start and
periodically (in a thread), so changes made elsewhere (the CLI) arrive too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from callcore.features.workorders.model import OPEN, State, WorkOrder
from callcore.features.workorders.tables import WorkOrderRow
from callcore.records import CallRecord
from callcore.store.models import Call
from config.directory import national
from config.schema import SiteConfig
from seats.membership import SeatLookup

_PER_CALLER = 5  # conversations remembered per caller (newest first)


def caller_key(number: str, area_code: str = "") -> str:
    """One key per caller, however the carrier presents the number (+86…, 0515…, …)."""
    return national(number, area_code)


@dataclass
class Contact:
    seat: str
    answered_at: float  # epoch seconds
    request_id: str
    open: bool = True


class FirstContactIndex:
    """caller number -> recent conversations with seats and whether their request is open.

    Fed from the AMI consumer (`on_record`, `on_request`) and from a loader thread
    (`load`); a lock keeps the two apart (held for microseconds, never across I/O).
    """

    def __init__(self, config: Callable[[], SiteConfig], clock: Callable[[], float] = time.time):
        self._config = config
        self._clock = clock
        self._by_caller: dict[str, list[Contact]] = {}
        self._by_request: dict[str, Contact] = {}
        self._lock = threading.Lock()
        self._lookup = SeatLookup()

    def __len__(self) -> int:
        return len(self._by_caller)

    def _window(self) -> float:
        return self._config().first_contact.window_minutes * 60.0

    def _add(self, caller: str, contact: Contact) -> None:
        held = self._by_request.get(contact.request_id)
        if held is not None:
            held.open = held.open and contact.open
            return
        contacts = self._by_caller.setdefault(caller, [])
        contacts.append(contact)
        contacts.sort(key=lambda c: c.answered_at, reverse=True)
        for old in contacts[_PER_CALLER:]:
            self._by_request.pop(old.request_id, None)
        del contacts[_PER_CALLER:]
        self._by_request[contact.request_id] = contact

    def on_record(self, rec: CallRecord) -> None:
        """A call record: once a seat of the floor answered, the caller is theirs (首接)."""
        if rec.answered_at is None or not rec.caller_number:
            return
        if self._lookup.by_id(self._config(), rec.seat) is None:  # the sub-centre, or none
            return
        with self._lock:
            self._add(
                caller_key(rec.caller_number, self._config().site.area_code),
                Contact(rec.seat, rec.answered_at.timestamp(), rec.linkedid),
            )

    def on_request(self, order: WorkOrder) -> None:
        """A work order changed: its caller stays the seat's while it is not closed."""
        with self._lock:
            held = self._by_request.get(order.id)
            if held is not None:
                held.open = order.state in OPEN

    def load(self, rows: Iterable[tuple[str, str, datetime, str, str | None]]) -> None:
        """Merge (caller, seat, answered_at, order id, state or None) rows from the store."""
        with self._lock:
            cfg = self._config()
            for caller, seat, answered_at, request_id, status in rows:
                if self._lookup.by_id(cfg, seat) is None or not caller:
                    continue
                is_open = status is None or State(status) in OPEN
                held = self._by_request.get(request_id)
                if held is not None:
                    held.open = is_open
                else:
                    self._add(
                        caller_key(caller, cfg.site.area_code),
                        Contact(seat, answered_at.timestamp(), request_id, is_open),
                    )
            self._prune()

    def _prune(self) -> None:
        cutoff = self._clock() - self._window()
        for caller in [c for c, xs in self._by_caller.items() if xs[0].answered_at < cutoff]:
            for contact in self._by_caller.pop(caller):
                self._by_request.pop(contact.request_id, None)

    def seat_for(self, caller: str) -> str | None:
        """The seat of the caller's newest open request within the window, if any."""
        window = self._window()
        if window <= 0:
            return None
        cutoff = self._clock() - window
        with self._lock:
            for c in self._by_caller.get(caller_key(caller, self._config().site.area_code), ()):
                if c.answered_at < cutoff:
                    return None
                if c.open:
                    return c.seat
        return None


def recent_contacts(
    engine: Engine, window_minutes: int, now: datetime | None = None
) -> list[tuple[str, str, datetime, str, str | None]]:
    """(caller, seat, answered_at, order id, order state) of calls answered by a seat
    within the window, from the store (run in a thread)."""
    now = now or datetime.now(UTC)
    calls, orders = Call.__table__, WorkOrderRow.__table__
    stmt = (
        select(
            calls.c.caller_number,
            calls.c.seat,
            calls.c.answered_at,
            calls.c.linkedid,
            orders.c.state,
        )
        .select_from(calls.outerjoin(orders, orders.c.id == calls.c.linkedid))
        .where(calls.c.answered_at >= now - timedelta(minutes=window_minutes))
        .where(calls.c.seat != "")
        .where(calls.c.caller_number != "")
    )
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt)]  # type: ignore[misc]

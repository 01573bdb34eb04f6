"""What is happening on the floor now: callers waiting and seats (no I/O).

The engine's AMI consumer feeds `handle` every event and the tracker's record fan-out feeds
`on_record` every changed call; both are synchronous and quick. Seat states are not
derived here: they come from the seats' own `SeatBoard` (seats/states.py), whose every
change arrives at `on_seat_change` and whose current view is read through `seat_status`.
The model notes which waiting callers and seats changed (`take_changes`) and emits stream
events (`emit`), so the Redis writer and the WebSocket hub do their I/O elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callcore.ami import event_time
from callcore.contract import Flag
from callcore.records import CallRecord
from config.schema import SiteConfig
from seats.states import SeatChange, SeatStatus

StreamEvent = dict[str, Any]  # {"type": ..., "at": epoch s, "data": {...}}
SeatStatusOf = Callable[[str], SeatStatus | None]
_CALLS_MEMORY = 20_000  # calls in progress remembered for their details


def _ts(ev: dict) -> float:
    return event_time(ev) or time.time()


@dataclass
class Waiting:
    """A caller waiting in a queue."""

    linkedid: str
    uniqueid: str
    queue: str
    joined_at: float
    position: int = 0
    caller: str = ""
    caller_name: str = ""
    dialed: str = ""
    hotline: str = ""
    priority: int = 0

    def as_json(self) -> dict:
        return {
            "linkedid": self.linkedid,
            "queue": self.queue,
            "joined_at": self.joined_at,
            "position": self.position,
            "caller": self.caller,
            "caller_name": self.caller_name,
            "dialed": self.dialed,
            "hotline": self.hotline,
            "priority": self.priority,
        }


@dataclass
class _CallInfo:
    caller: str = ""
    dialed: str = ""
    hotline: str = ""
    priority: int = 0
    answered: bool = False
    enterprise: bool = False  # a registered enterprise contact (一企来)
    affinity: bool = False  # 首接负责制: offered first to the seat of the caller's open request
    route: str = ""  # the queue (or trunk:<id>) the call was routed to


@dataclass
class Changes:
    waiting: set[str] = field(default_factory=set)  # linkedids whose entry changed or left
    seats: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.waiting or self.seats)


def _unknown(v: str) -> str:
    return "" if v == "<unknown>" else v


class LiveModel:
    def __init__(
        self,
        config: Callable[[], SiteConfig],
        emit: Callable[[StreamEvent], None],
        seat_status: SeatStatusOf | None = None,
    ):
        self._config = config
        self.emit = emit
        self.seat_status: SeatStatusOf = seat_status or (lambda _seat: None)
        self.waiting: dict[str, Waiting] = {}
        self._calls: dict[str, _CallInfo] = {}
        self._changes = Changes()
        self.all_changed()

    def take_changes(self) -> Changes:
        out, self._changes = self._changes, Changes()
        return out

    def put_back(self, changes: Changes) -> None:
        """Changes taken but not written (Redis failed): they are written next time."""
        self._changes.waiting |= changes.waiting
        self._changes.seats |= changes.seats

    def seat_ids(self) -> list[str]:
        return [s.id for s in self._config().seats]

    def all_changed(self) -> None:
        """Mark everything for rewriting (a full resync after Redis came back)."""
        self._changes.waiting |= set(self.waiting)
        self._changes.seats |= set(self.seat_ids())

    def reload_config(self) -> None:
        self._changes.seats |= set(self.seat_ids())

    # -- seats -----------------------------------------------------------------------------
    def seat_json(self, seat_id: str) -> dict | None:
        """A seat as the live state keeps it (None: not a seat of the config)."""
        st = self.seat_status(seat_id)
        if st is None:
            return None
        names = {r.id: r.name for r in self._config().pause_reasons}
        info = self._calls.get(st.linkedid) if st.linkedid else None
        return {
            "seat": st.seat,
            "name": st.name,
            "extension": st.extension,
            "zone": st.zone,
            "state": st.state.value,
            "reason": st.reason,
            "reason_name": names.get(st.reason, st.reason),
            "since": st.since.timestamp() if st.since else None,
            "queues": list(st.queues),
            "call": st.linkedid,
            "caller": info.caller if info else "",
        }

    def on_seat_change(self, change: SeatChange) -> None:
        """A `SeatBoard` change (the seats give it every change)."""
        self._changes.seats.add(change.seat)
        self.emit(
            {
                "type": "seat.state",
                "at": change.as_of,
                "data": {
                    "seat": change.seat,
                    "state": change.state,
                    "reason": change.reason,
                    "zone": change.zone,
                    "since": change.at.timestamp(),
                    "call": change.linkedid,
                    "source": change.source,
                },
            }
        )

    # -- AMI events ------------------------------------------------------------------------
    EVENTS = ("QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "Hangup",
              "AgentCalled", "AgentConnect", "AgentComplete", "DialBegin")

    def handle(self, ev: dict) -> None:
        name = ev.get("Event", "")
        if name == "QueueCallerJoin":
            self._joined(ev)
        elif name in ("QueueCallerLeave", "QueueCallerAbandon"):
            self._left(ev)
        elif name == "Hangup":
            w = self.waiting.get(ev.get("Linkedid", ""))
            if w is not None and w.uniqueid == ev.get("Uniqueid"):
                self._left(ev)
        elif name == "AgentCalled":
            self._offered_to_seat(ev)
        elif name == "DialBegin":
            self._affinity_ring(ev)
        elif name in ("AgentConnect", "AgentComplete"):
            # the seat's caller is shown from the call's details: rewrite the seat
            seat = ev.get("MemberName", "")
            if seat:
                self._changes.seats.add(seat)

    def _joined(self, ev: dict) -> None:
        linked = ev.get("Linkedid", "")
        if not linked:
            return
        info = self._calls.get(linked, _CallInfo())
        w = Waiting(
            linkedid=linked,
            uniqueid=ev.get("Uniqueid", ""),
            queue=ev.get("Queue", ""),
            joined_at=_ts(ev),
            position=int(ev.get("Position") or 0),
            caller=_unknown(ev.get("CallerIDNum", "")),
            caller_name=_unknown(ev.get("CallerIDName", "")),
            dialed=info.dialed,
            hotline=info.hotline,
            priority=info.priority,
        )
        self.waiting[linked] = w
        self._changes.waiting.add(linked)
        self.emit({"type": "call.offered", "at": w.joined_at, "data": w.as_json()})

    def _left(self, ev: dict) -> None:
        linked = ev.get("Linkedid", "")
        if self.waiting.pop(linked, None) is not None:
            self._changes.waiting.add(linked)

    def _offered_to_seat(self, ev: dict) -> None:
        seat = ev.get("MemberName", "")
        if seat:
            self._changes.seats.add(seat)
        self._pop(ev, seat, ev.get("Queue", ""))

    def _affinity_ring(self, ev: dict) -> None:
        """首接负责制: the dialplan rings the seat of the caller's open request itself, before
        the queue, so no AgentCalled tells of it; the caller's Dial of that seat is the
        seat's screen pop all the same."""
        linked = ev.get("Linkedid", "")
        info = self._calls.get(linked)
        if info is None or not info.affinity or linked in self.waiting or info.answered:
            return
        if ev.get("Uniqueid") != linked:  # not the caller's own channel dialing
            return
        ext = ev.get("DestChannel", "").removeprefix("PJSIP/").rsplit("-", 1)[0]
        seat = next((s.id for s in self._config().seats if s.extension == ext), "")
        if seat:
            self._pop(ev, seat, info.route)

    def _pop(self, ev: dict, seat: str, queue: str) -> None:
        """The `seat.offered` event: a call rings this seat (the screen pop)."""
        linked = ev.get("Linkedid", "")
        w = self.waiting.get(linked)
        info = self._calls.get(linked, _CallInfo())
        self.emit(
            {
                "type": "seat.offered",
                "at": _ts(ev),
                "data": {
                    "seat": seat,
                    "linkedid": linked,
                    "queue": queue,
                    "caller": _unknown(ev.get("CallerIDNum", "")) or info.caller,
                    "caller_name": _unknown(ev.get("CallerIDName", "")),
                    "dialed": w.dialed if w else info.dialed,
                    "hotline": w.hotline if w else info.hotline,
                    "priority": w.priority if w else info.priority,
                    "zone": self._zone_of(queue),
                    "enterprise": info.enterprise,
                    "affinity": info.affinity,
                },
            }
        )

    def _zone_of(self, queue: str) -> str:
        """The zone whose queue this is, for the screen pop ("" for none)."""
        return next((z.id for z in self._config().zones if z.queue == queue), "")

    # -- call records ----------------------------------------------------------------------
    def _remember(self, rec: CallRecord) -> _CallInfo:
        info = self._calls.get(rec.linkedid)
        if info is None:
            info = self._calls[rec.linkedid] = _CallInfo()
            if len(self._calls) > _CALLS_MEMORY:  # calls whose end was never seen
                del self._calls[next(iter(self._calls))]
        info.caller = rec.caller_number
        info.dialed, info.hotline, info.priority = rec.dialed_number, rec.hotline, rec.priority
        info.enterprise = Flag.ENTERPRISE.value in rec.flags
        info.affinity = rec.affinity
        info.route = rec.route
        return info

    def on_record(self, rec: CallRecord) -> None:
        info = self._remember(rec)
        w = self.waiting.get(rec.linkedid)
        if w is not None and (w.dialed, w.hotline, w.priority) != (
            info.dialed,
            info.hotline,
            info.priority,
        ):
            w.dialed, w.hotline, w.priority = info.dialed, info.hotline, info.priority
            self._changes.waiting.add(rec.linkedid)
        data = {
            "linkedid": rec.linkedid,
            "queue": rec.route,
            "caller": rec.caller_number,
            "caller_name": rec.caller_name,
            "dialed": rec.dialed_number,
            "hotline": rec.hotline,
            "seat": rec.seat,
            "wait": rec.wait_seconds,
        }
        if rec.answered_at is not None and not info.answered:
            info.answered = True
            if rec.seat:
                self._changes.seats.add(rec.seat)
            self.emit({"type": "call.answered", "at": rec.answered_at.timestamp(), "data": data})
        if rec.ended_at is not None:
            self._calls.pop(rec.linkedid, None)
            data |= {
                "outcome": rec.outcome.value if rec.outcome else None,
                "talk": rec.talk_seconds,
            }
            self.emit({"type": "call.ended", "at": rec.ended_at.timestamp(), "data": data})

    # -- rebuild from Asterisk ---------------------------------------------------------------
    def rebuild(self, entries: list[dict], now: float) -> None:
        """Replace the waiting callers with a QueueStatus's QueueEntry events (`Wait` is the
        seconds so far). Entries need `Linkedid` (the caller of `rebuild` adds it from
        CoreShowChannels when Asterisk does not give it)."""
        old = set(self.waiting)
        self.waiting = {}
        for e in entries:
            linked = e.get("Linkedid") or e.get("LinkedID") or ""
            if not linked:
                continue
            info = self._calls.get(linked, _CallInfo())
            try:
                wait = float(e.get("Wait") or 0)
            except ValueError:
                wait = 0.0
            self.waiting[linked] = Waiting(
                linkedid=linked,
                uniqueid=e.get("Uniqueid", ""),
                queue=e.get("Queue", ""),
                joined_at=now - wait,
                position=int(e.get("Position") or 0),
                caller=_unknown(e.get("CallerIDNum", "")),
                caller_name=_unknown(e.get("CallerIDName", "")),
                dialed=info.dialed,
                hotline=info.hotline,
                priority=int(e.get("Priority") or info.priority or 0),
            )
        self._changes.waiting |= old | set(self.waiting)
        self._changes.seats |= set(self.seat_ids())

    def remember_call(self, rec: CallRecord) -> None:
        """Details of a call still in progress, from the store (dialed number, priority),
        for callers found waiting at a rebuild."""
        info = self._remember(rec)
        info.answered = rec.answered_at is not None
        w = self.waiting.get(rec.linkedid)
        if w is not None:
            w.dialed, w.hotline, w.priority = info.dialed, info.hotline, info.priority
            self._changes.waiting.add(rec.linkedid)

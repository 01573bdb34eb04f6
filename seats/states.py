"""Seat states, derived from what Asterisk says about its queue members.

Asterisk is the truth about seats: which queues a seat is in (logged in), paused or not
and why, whether its phone rings or is in a call. `SeatBoard` is fed every AMI event in
order (it sits in `Engine.event_handlers`: synchronous, no I/O) and keeps, per seat, the
facts those events carry; the state is *derived* from the facts, so a feature code, the
CLI, the API, the static dialplan fallback and an operator at the Asterisk console all
change states the same way. Every change of state is published as a `SeatChange` with the
Asterisk time it happened, for the store (history) and the live view.

After a controller restart, `apply_snapshot` rebuilds the facts from `QueueStatus` and
keeps the time a seat entered its state from the store, so a seat that did not change
keeps its "since".
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

from callcore.ami import EventTable, event_time
from config.schema import Seat, SiteConfig
from seats.membership import SeatLookup

log = logging.getLogger(__name__)


class SeatState(StrEnum):
    LOGGED_OFF = "logged_off"
    AVAILABLE = "available"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"
    UNREACHABLE = "unreachable"  # logged in, but its softphone is not registered


STATE_LABELS: dict[SeatState, tuple[str, str]] = {
    SeatState.LOGGED_OFF: ("未签入", "logged off"),
    SeatState.AVAILABLE: ("空闲", "available"),
    SeatState.RINGING: ("振铃", "ringing"),
    SeatState.TALKING: ("通话中", "talking"),
    SeatState.WRAP_UP: ("话后整理", "wrap-up"),
    SeatState.PAUSED: ("暂停", "paused"),
    SeatState.UNREACHABLE: ("话机未注册", "phone unreachable"),
}


def state_label(state: SeatState | str, lang: str = "zh") -> str:
    zh, en = STATE_LABELS[SeatState(state)]
    return zh if lang == "zh" else en


class Device(IntEnum):
    """Asterisk's device states, as QueueMember* events carry them in `Status`."""

    UNKNOWN = 0
    NOT_INUSE = 1
    INUSE = 2
    BUSY = 3
    INVALID = 4
    UNAVAILABLE = 5
    RINGING = 6
    RINGINUSE = 7
    ONHOLD = 8


_IN_CALL = frozenset({Device.INUSE, Device.BUSY, Device.ONHOLD, Device.RINGINUSE})
_OFFLINE = frozenset({Device.UNAVAILABLE, Device.INVALID})


@dataclass(frozen=True)
class SeatChange:
    """A seat entered a state: one row of the store's seat history (`seat_events`)."""

    STORE_KIND: ClassVar[str] = "seat_event"

    id: str
    seat: str
    state: str
    reason: str
    zone: str
    at: datetime
    linkedid: str
    source: str
    as_of: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "seat": self.seat,
            "state": self.state,
            "reason": self.reason,
            "zone": self.zone,
            "at": self.at.isoformat(),
            "linkedid": self.linkedid,
            "source": self.source,
        }


@dataclass(frozen=True)
class SeatStatus:
    """A seat as it is now, for the CLI, the API and the monitor."""

    seat: str
    name: str
    extension: str
    zone: str
    state: SeatState
    reason: str  # pause reason id when paused
    since: datetime | None
    linkedid: str  # the call it rings for, talks on or wraps up
    channel: str  # its channel in that call (what a transfer by API acts on)
    queues: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "seat": self.seat,
            "name": self.name,
            "extension": self.extension,
            "zone": self.zone,
            "state": self.state.value,
            "reason": self.reason,
            "since": self.since.isoformat() if self.since else None,
            "linkedid": self.linkedid,
            "channel": self.channel,
            "queues": list(self.queues),
        }


@dataclass
class _Facts:
    queues: dict[str, bool] = field(default_factory=dict)  # queue -> paused
    penalties: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    device: Device = Device.UNKNOWN
    wrap_until: float = 0.0
    timer_for: float = 0.0  # the wrap_until whose end is scheduled
    call_queue: str = ""  # queue of the queue call in progress (wrap-up follows it)
    linkedid: str = ""
    channel: str = ""
    call_at: float = 0.0  # when an event last named the call
    state: SeatState = SeatState.LOGGED_OFF
    shown_reason: str = ""
    zone: str = ""
    since: datetime | None = None
    touched: int = 0  # events applied (a snapshot taken before them must not undo them)
    hint: tuple[str, float] = ("", 0.0)  # (source, until): who asked for the next change
    last: SeatChange | None = None  # the change published last


def _ts(ev: dict) -> float:
    return event_time(ev) or time.time()


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def _repeats(f: _Facts, ev: dict) -> bool:
    """Whether a QueueMemberStatus tells nothing the seat's facts do not already hold."""
    queue = ev.get("Queue", "")
    paused = _flag(ev.get("Paused"))
    return (
        queue in f.queues
        and f.queues[queue] == paused
        and f.device == _device(ev.get("Status"))
        and str(f.penalties.get(queue)) == ev.get("Penalty", str(f.penalties.get(queue)))
        and (not paused or f.reason == (ev.get("PausedReason") or ""))
    )


def _device(value: Any) -> Device:
    try:
        return Device(int(value))
    except (TypeError, ValueError):
        return Device.UNKNOWN


Schedule = Callable[[float, Callable[[], None]], Any]


def _loop_schedule(delay: float, callback: Callable[[], None]) -> Any:
    import asyncio

    return asyncio.get_running_loop().call_later(delay, callback)


class SeatBoard(EventTable):
    """Every seat's facts and state, from AMI events; publishes each change of state.

    `schedule(delay, callback)` runs the end of a wrap-up (the one change no event marks);
    the default is the running loop's `call_later`.
    """

    HINT_SECONDS = 10.0

    def __init__(
        self,
        config: Callable[[], SiteConfig],
        emit: Callable[[SeatChange], None],
        *,
        schedule: Schedule = _loop_schedule,
        clock: Callable[[], float] = time.time,
    ):
        self._config = config
        self._emit = emit
        self._schedule = schedule
        self._clock = clock
        self._facts: dict[str, _Facts] = {}
        self._zones_for: object = None
        self._zones: dict[str, str] = {}
        self._lookup = SeatLookup()
        self.events = 0

    # -- lookups -------------------------------------------------------------------------
    def _seat_for(self, ev: dict) -> Seat | None:
        cfg = self._config()
        name = ev.get("MemberName") or ev.get("Name") or ""
        seat = self._lookup.by_id(cfg, name) if name else None
        if seat is None:
            iface = ev.get("Interface") or ev.get("Location") or ev.get("StateInterface") or ""
            ext = iface.split("/", 1)[-1] if iface.startswith("PJSIP/") else ""
            seat = self._lookup.by_extension(cfg, ext) if ext else None
        return seat

    def _facts_of(self, seat: Seat) -> _Facts:
        f = self._facts.get(seat.id)
        if f is None:
            f = self._facts[seat.id] = _Facts(zone=seat.zone)
        return f

    def status(self, seat_id: str) -> SeatStatus | None:
        seat = self._lookup.by_id(self._config(), seat_id)
        if seat is None:
            return None
        f = self._facts.get(seat_id) or _Facts(zone=seat.zone)
        return SeatStatus(
            seat=seat.id,
            name=seat.name,
            extension=seat.extension,
            zone=f.zone or seat.zone,
            state=f.state,
            reason=f.shown_reason,
            since=f.since,
            linkedid=f.linkedid if f.state in _CALL_STATES else "",
            channel=f.channel if f.state in _CALL_STATES else "",
            queues=tuple(sorted(f.queues)),
        )

    def statuses(self) -> list[SeatStatus]:
        return [s for seat in self._config().seats if (s := self.status(seat.id)) is not None]

    def state(self, seat_id: str) -> SeatState:
        f = self._facts.get(seat_id)
        return f.state if f is not None else SeatState.LOGGED_OFF

    def expect(self, seat_id: str, source: str) -> None:
        """The next change of this seat (within a few seconds) was asked for by `source`."""
        seat = self._config().seat(seat_id)
        if seat is not None:
            self._facts_of(seat).hint = (source, self._clock() + self.HINT_SECONDS)

    # -- the event pump --------------------------------------------------------------------
    def handle(self, ev: dict) -> None:  # the table's methods also take the seat's facts
        self.events += 1
        name = ev.get("Event", "")
        handler = self._HANDLERS.get(name)
        if handler is None:
            return
        seat = self._seat_for(ev)
        if seat is None:
            return
        try:
            f = self._facts_of(seat)
            f.touched += 1
            if name == "QueueMemberStatus" and _repeats(f, ev):
                return  # the same device change, told once per queue the seat is in
            handler(self, f, ev)
            self._derive(seat, f, _ts(ev))
        except Exception:  # one odd event must never stop the pump
            log.exception("seat board could not handle %s", ev.get("Event"))

    def _member(self, f: _Facts, ev: dict) -> None:
        queue = ev.get("Queue", "")
        if queue:
            f.queues[queue] = _flag(ev.get("Paused"))
            try:
                f.penalties[queue] = int(ev.get("Penalty", f.penalties.get(queue, 0)))
            except ValueError:
                pass
        if "PausedReason" in ev and _flag(ev.get("Paused")):
            f.reason = ev.get("PausedReason") or ""
        if "Status" in ev:
            self._set_device(f, _device(ev.get("Status")), _ts(ev))

    def _on_QueueMemberAdded(self, f: _Facts, ev: dict) -> None:
        self._member(f, ev)

    def _on_QueueMemberStatus(self, f: _Facts, ev: dict) -> None:
        self._member(f, ev)

    def _on_QueueMemberPenalty(self, f: _Facts, ev: dict) -> None:
        try:
            f.penalties[ev.get("Queue", "")] = int(ev.get("Penalty", 0))
        except ValueError:
            pass

    def _on_QueueMemberPause(self, f: _Facts, ev: dict) -> None:
        paused = _flag(ev.get("Paused"))
        f.queues[ev.get("Queue", "")] = paused
        if paused:
            f.reason = ev.get("PausedReason") or ev.get("Reason") or ""

    def _on_QueueMemberRemoved(self, f: _Facts, ev: dict) -> None:
        f.queues.pop(ev.get("Queue", ""), None)
        f.penalties.pop(ev.get("Queue", ""), None)
        if not f.queues:
            f.reason, f.wrap_until, f.call_queue = "", 0.0, ""

    def _on_AgentCalled(self, f: _Facts, ev: dict) -> None:
        f.linkedid = ev.get("Linkedid", "") or f.linkedid
        f.channel = ev.get("DestChannel", "") or f.channel
        f.call_at = _ts(ev)

    def _on_AgentConnect(self, f: _Facts, ev: dict) -> None:
        f.linkedid = ev.get("Linkedid", "") or f.linkedid
        f.channel = ev.get("DestChannel", "") or f.channel
        f.call_at = _ts(ev)
        f.call_queue = ev.get("Queue", "")
        f.wrap_until = 0.0

    def _on_AgentComplete(self, f: _Facts, ev: dict) -> None:
        if f.call_queue or not f.wrap_until:
            self._start_wrap(f, ev.get("Queue", "") or f.call_queue, _ts(ev))

    def _on_AgentRingNoAnswer(self, f: _Facts, ev: dict) -> None:
        if not f.call_queue:
            f.linkedid, f.channel = "", ""

    # -- derivation ------------------------------------------------------------------------
    def _set_device(self, f: _Facts, device: Device, ts: float) -> None:
        was_in_call = f.device in _IN_CALL
        f.device = device
        if was_in_call and device not in _IN_CALL and f.call_queue:
            self._start_wrap(f, f.call_queue, ts)

    def _start_wrap(self, f: _Facts, queue: str, ts: float) -> None:
        f.call_queue = ""
        zone = next((z for z in self._config().zones if z.queue == queue), None)
        seconds = zone.wrapup_seconds if zone is not None else 0
        f.wrap_until = ts + seconds if seconds else 0.0

    def _zone_of_queue(self) -> dict[str, str]:
        """queue -> zone id of the current config (rebuilt only when the config changes)."""
        cfg = self._config()
        if self._zones_for is not cfg:
            self._zones_for, self._zones = cfg, {z.queue: z.id for z in cfg.zones}
        return self._zones

    def _own_zone(self, seat: Seat, f: _Facts) -> str:
        """The zone whose queue has the seat at penalty 0: its zone now (a move changes it)."""
        own = [q for q, p in f.penalties.items() if p == 0 and q in f.queues]
        zones = self._zone_of_queue()
        if seat.zone in [zones.get(q) for q in own] or not own:
            return seat.zone
        return zones.get(sorted(own)[0], seat.zone)

    @staticmethod
    def _state_of(f: _Facts, now: float) -> SeatState:
        """The state the facts give, the first that holds: out of every queue, in a call,
        ringing, paused in every queue, wrapping up, phone unreachable, else available."""
        if not f.queues:
            return SeatState.LOGGED_OFF
        if f.device in _IN_CALL:
            return SeatState.TALKING
        if f.device is Device.RINGING:
            return SeatState.RINGING
        if all(f.queues.values()):
            return SeatState.PAUSED
        if f.wrap_until > now:
            return SeatState.WRAP_UP
        if f.device in _OFFLINE:
            return SeatState.UNREACHABLE
        return SeatState.AVAILABLE

    def _derive(self, seat: Seat, f: _Facts, now: float, source: str = "") -> None:
        state = self._state_of(f, now)
        reason = f.reason if state is SeatState.PAUSED else ""
        zone = self._own_zone(seat, f) if f.queues else f.zone or seat.zone
        if state is SeatState.WRAP_UP and f.timer_for != f.wrap_until:
            f.timer_for = f.wrap_until
            delay = max(f.wrap_until - self._clock(), 0.0) + 0.05
            self._schedule(delay, lambda s=seat.id: self._wrap_over(s))
        if (state, reason, zone) == (f.state, f.shown_reason, f.zone) and f.since is not None:
            last = f.last
            if last is not None and not last.linkedid and f.linkedid and state in _CALL_STATES:
                # Asterisk reports the device ringing before AgentCalled names the call: the
                # same change, now with its call (same id: the store updates the row)
                f.last = replace(last, linkedid=f.linkedid, as_of=max(now, last.as_of))
                self._emit(f.last)
            return
        if state not in _CALL_STATES and f.state in _CALL_STATES and f.call_at < now:
            f.linkedid, f.channel = "", ""  # that call is over (not one this event names)
        hint, until = f.hint
        if not source:
            # an operation changes membership and pauses, not calls: a call state that comes
            # first (the feature code's own call) leaves the hint for the change it asked for
            if hint and self._clock() <= until and state not in _DEVICE_STATES:
                source, f.hint = hint, ("", 0.0)
            else:
                source = "asterisk"
        f.state, f.shown_reason, f.zone = state, reason, zone
        f.since = datetime.fromtimestamp(now, tz=UTC)
        f.last = SeatChange(
            id=uuid.uuid4().hex,
            seat=seat.id,
            state=state.value,
            reason=reason,
            zone=zone,
            at=f.since,
            linkedid=f.linkedid if state in _CALL_STATES else "",
            source=source,
            as_of=now,
        )
        self._emit(f.last)

    def _wrap_over(self, seat_id: str) -> None:
        seat = self._config().seat(seat_id)
        f = self._facts.get(seat_id)
        if seat is None or f is None or f.state is not SeatState.WRAP_UP:
            return
        if self._clock() + 0.01 < f.wrap_until:
            return  # a newer wrap-up: its own timer ends it
        try:
            self._derive(seat, f, max(f.wrap_until, 0.0) + 1e-6)
        except Exception:
            log.exception("seat board: end of wrap-up for %s", seat_id)

    # -- rebuild ---------------------------------------------------------------------------
    def begin_snapshot(self) -> dict[str, int]:
        """Call before asking Asterisk for QueueStatus: marks what events change meanwhile."""
        return {seat: f.touched for seat, f in self._facts.items()}

    def apply_snapshot(
        self,
        members: Iterable[dict],
        last: dict[str, SeatChange],
        marks: dict[str, int] | None = None,
        now: float | None = None,
    ) -> int:
        """Rebuild every seat from QueueStatus `QueueMember` entries and the store's last
        change per seat. Seats changed by events since `begin_snapshot` keep what the events
        said. Returns how many seats changed state (each is published, source `rebuild`)."""
        now = self._clock() if now is None else now
        marks = marks or {}
        cfg = self._config()
        fresh = self._facts_from(members, cfg)
        changed = 0
        for seat in cfg.seats:
            old = self._facts.get(seat.id)
            if old is not None and old.touched != marks.get(seat.id, 0):
                continue  # events arrived after the snapshot was asked for
            f = fresh.get(seat.id) or _Facts(zone=seat.zone)
            prev = last.get(seat.id)
            if old is not None:
                f.state, f.shown_reason, f.since = old.state, old.shown_reason, old.since
                f.touched = old.touched
            elif prev is not None:
                f.state, f.shown_reason = SeatState(prev.state), prev.reason
                f.zone, f.since = prev.zone or seat.zone, prev.at
            before = (f.state, f.shown_reason, f.since)
            self._facts[seat.id] = f
            self._derive(seat, f, now, source="rebuild")
            changed += (f.state, f.shown_reason, f.since) != before
        return changed

    def _facts_from(self, members: Iterable[dict], cfg: SiteConfig) -> dict[str, _Facts]:
        """Each seat's facts as QueueStatus tells them: its queues, penalties, pause, device,
        and a wrap-up still running after its last call."""
        wrapup = {z.queue: z.wrapup_seconds for z in cfg.zones}
        fresh: dict[str, _Facts] = {}
        for m in members:
            seat = self._seat_for(m)
            if seat is None:
                continue
            f = fresh.setdefault(seat.id, _Facts(zone=seat.zone))
            queue = m.get("Queue", "")
            f.queues[queue] = _flag(m.get("Paused"))
            try:
                f.penalties[queue] = int(m.get("Penalty") or 0)
            except ValueError:
                f.penalties[queue] = 0
            if _flag(m.get("Paused")) and m.get("PausedReason"):
                f.reason = m.get("PausedReason", "")
            dev = _device(m.get("Status"))
            if dev is not Device.UNKNOWN:
                f.device = dev
            try:
                last_call = float(m.get("LastCall") or 0)
            except ValueError:
                last_call = 0.0
            if last_call and f.device not in _IN_CALL:
                f.wrap_until = max(f.wrap_until, last_call + wrapup.get(queue, 0))
        return fresh

    # The AMI events this component follows, and the method each goes to.
    _HANDLERS: ClassVar[dict[str, Callable[..., None]]] = {
        "QueueMemberAdded": _on_QueueMemberAdded,
        "QueueMemberStatus": _on_QueueMemberStatus,
        "QueueMemberPenalty": _on_QueueMemberPenalty,
        "QueueMemberPause": _on_QueueMemberPause,
        "QueueMemberRemoved": _on_QueueMemberRemoved,
        "AgentCalled": _on_AgentCalled,
        "AgentConnect": _on_AgentConnect,
        "AgentComplete": _on_AgentComplete,
        "AgentRingNoAnswer": _on_AgentRingNoAnswer,
    }


_CALL_STATES = frozenset({SeatState.RINGING, SeatState.TALKING, SeatState.WRAP_UP})
_DEVICE_STATES = frozenset({SeatState.RINGING, SeatState.TALKING})

"""The transfer chain: every leg of a citizen's call, linked to the call it belongs to.

A call's record (`callcore.features.calls.tracker`) says how the call went as a whole; its
legs say where it was offered, one after the other, and who answered each: leg 0 is the
first routing (a queue, the 12366 trunk, or first the seat of the caller's open request),
and every transfer (blind or attended, from the softphone or the API), every return from a
sub-centre that did not answer, adds the next leg. All legs carry the Linkedid of the
channel the carrier (or the 12366 trunk) brought in, whatever Linkedid the bridges of a
transfer give later channels.

Like the tracker it is fed every AMI event in order, is synchronous and does no I/O; each
change of a leg goes to the store writer as a `LegRecord`.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from callcore.ami import EventTable, event_time
from callcore.contract import Flag, UserEvent
from callcore.records import clean_text
from config.schema import SiteConfig
from seats.membership import SeatLookup

log = logging.getLogger(__name__)

INBOUND_CONTEXTS = frozenset({"from-carrier", "from-trunk"})
_CONSULT_MEMORY = 2000
_SEAT_CHANNEL = re.compile(r"^PJSIP/([0-9]{3,8})-[0-9a-f]+$")


class LegKind:
    QUEUE = "queue"  # first routing to a zone's queue
    TRUNK = "trunk"  # first routing to a sub-centre over its trunk
    FIRST_CONTACT = "first_contact"  # 首接: the seat of the caller's open request, first
    TRANSFER_IN = "transfer_in"  # brought in by the 12366 sub-centre over its trunk
    BLIND = "blind"  # a seat's blind transfer
    ATTENDED = "attended"  # a seat's attended transfer (after a consultation)
    RETURNED = "returned"  # back to a queue: a sub-centre did not answer, or no such target


@dataclass(frozen=True)
class LegRecord:
    STORE_KIND: ClassVar[str] = "call_leg"

    id: str
    linkedid: str
    seq: int
    kind: str
    target: str
    from_seat: str = ""
    via: str = ""
    seat: str = ""
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str = ""
    as_of: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in ("linkedid", "seq", "kind", "target", "from_seat", "via", "seat", "outcome"):
            out[k] = getattr(self, k)
        for k in ("started_at", "answered_at", "ended_at"):
            v = getattr(self, k)
            out[k] = v.isoformat() if v else None
        return out


@dataclass
class _Call:
    linkedid: str
    caller_uid: str
    legs: list[LegRecord] = field(default_factory=list)

    @property
    def current(self) -> LegRecord | None:
        return self.legs[-1] if self.legs else None


@dataclass
class _Consult:
    """A seat's consultation call (before an attended transfer): where it went, who answered."""

    seat: str
    target: str
    started_at: datetime
    via: str = ""
    answered_by: str = ""


def local_base(channel: str) -> str:
    """`Local/x@ctx-0000001;2` -> `Local/x@ctx-0000001`: both halves of one Local pair."""
    return channel.rsplit(";", 1)[0] if channel.startswith("Local/") else ""


def _where(ev: dict) -> str:
    """Where a CallcoreTransfer event says the transfer goes: a queue or trunk:<id>."""
    trunk = ev.get("Trunk", "")
    return f"trunk:{trunk}" if ev.get("Kind") == "trunk" and trunk else ev.get("Route", "")


def _ts(ev: dict) -> float:
    return event_time(ev) or 0.0


def _at(ev: dict) -> datetime:
    return datetime.fromtimestamp(_ts(ev), tz=UTC)


class LegTracker(EventTable):
    def __init__(self, config: Callable[[], SiteConfig], emit: Callable[[LegRecord], None]):
        self._config = config
        self._emit = emit
        self._calls: dict[str, _Call] = {}  # caller channel uniqueid -> call
        self._consults: OrderedDict[str, _Consult] = OrderedDict()  # seat channel uid
        self._lookup = SeatLookup()
        self.events = 0

    def legs(self, linkedid: str) -> list[LegRecord]:
        """The legs of a call still up (the store has every call's)."""
        call = next((c for c in self._calls.values() if c.linkedid == linkedid), None)
        return list(call.legs) if call is not None else []

    # -- helpers -------------------------------------------------------------------------
    def _seat_of(self, channel: str) -> str:
        m = _SEAT_CHANNEL.match(channel or "")
        if m is None:
            return ""
        seat = self._lookup.by_extension(self._config(), m.group(1))
        return seat.id if seat is not None else ""

    def _put(self, call: _Call, leg: LegRecord, ev: dict) -> LegRecord:
        leg = replace(leg, as_of=max(leg.as_of, _ts(ev)))
        if call.legs and call.legs[-1].seq == leg.seq:
            call.legs[-1] = leg
        else:
            call.legs.append(leg)
        self._emit(leg)
        return leg

    def _open(self, call: _Call, ev: dict, kind: str, target: str, **kw: Any) -> LegRecord:
        seq = len(call.legs)
        leg = LegRecord(
            id=f"{call.linkedid}/{seq}",
            linkedid=call.linkedid,
            seq=seq,
            kind=kind,
            target=clean_text(target, 128),
            started_at=kw.pop("started_at", None) or _at(ev),
            **kw,
        )
        return self._put(call, leg, ev)

    def _close(self, call: _Call, ev: dict, outcome: str) -> None:
        leg = call.current
        if leg is None or leg.ended_at is not None:
            return
        self._put(call, replace(leg, ended_at=_at(ev), outcome=outcome), ev)

    def _answer(self, call: _Call, ev: dict, seat: str) -> None:
        leg = call.current
        if leg is None or leg.answered_at is not None or leg.ended_at is not None:
            return
        self._put(call, replace(leg, answered_at=_at(ev), seat=clean_text(seat, 64)), ev)

    # -- the AMI events it follows (its _HANDLERS table, below) ------------------------------
    def _on_Newchannel(self, ev: dict) -> None:
        uid = ev.get("Uniqueid", "")
        if not uid or uid in self._calls:
            return
        if ev.get("Context") not in INBOUND_CONTEXTS or ev.get("Channel", "").startswith("Local/"):
            return
        if ev.get("Linkedid", uid) not in (uid, ""):
            return  # a trunk channel dialed for another call (a call callcore placed)
        self._calls[uid] = _Call(ev.get("Linkedid") or uid, uid)

    def _on_UserEvent(self, ev: dict) -> None:
        kind = ev.get("UserEvent", "")
        call = self._calls.get(ev.get("Uniqueid", ""))
        if call is None:
            if kind == UserEvent.TRANSFER:  # a seat consulting a transfer target
                self._consult(ev)
            return
        step = self._USER_EVENTS.get(kind)
        if step is not None:
            step(self, call, ev)

    def _first_leg(self, call: _Call, ev: dict) -> None:
        """Leg 0, from the routing decision: first contact, transferred in, trunk or queue."""
        if call.legs:
            return
        flags = re.split(r"[+,|]", ev.get("Flags", ""))
        route = ev.get("Route", "")
        if ev.get("Affinity"):
            self._open(call, ev, LegKind.FIRST_CONTACT, f"seat:{ev['Affinity']}")
        elif Flag.TRANSFERRED_IN in flags:
            trunk = ev.get("Trunk", "") or "trunk"
            self._open(call, ev, LegKind.TRANSFER_IN, route, via=f"trunk:{trunk}")
        elif ev.get("Kind") == "trunk":
            self._open(call, ev, LegKind.TRUNK, f"trunk:{ev.get('Trunk', '')}")
        else:
            self._open(call, ev, LegKind.QUEUE, route)

    def _affinity_missed(self, call: _Call, ev: dict) -> None:
        self._close(call, ev, "unanswered")
        self._open(call, ev, LegKind.QUEUE, ev.get("Route", "") or "queue")

    def _arrived_by_transfer(self, call: _Call, ev: dict) -> None:
        # The caller itself arrived where a seat blind-transferred it: the transferee's
        # own dialplan says so in order (Asterisk's BlindTransfer event may come later).
        self._blind(call, ev, _where(ev), ev.get("Transferer", ""), ev.get("Via", ""))

    def _trunk_failed(self, call: _Call, ev: dict) -> None:
        leg = call.current
        if leg is None or leg.answered_at is not None:
            return
        status = clean_text(ev.get("Status", ""), 16).lower()
        self._close(call, ev, "failed" if status == "chanunavail" else "unanswered")
        queue = ev.get("Route", "") or ev.get("Queue", "")
        if queue.startswith("seat:"):  # a hand-off to 110 & co. brings the caller to the seat
            seat = self._lookup.by_extension(self._config(), queue.removeprefix("seat:"))
            queue = f"seat:{seat.id}" if seat is not None else queue
        self._open(call, ev, LegKind.RETURNED, queue or "queue", from_seat=leg.from_seat)

    def _transfer_invalid(self, call: _Call, ev: dict) -> None:
        """A transfer to no target: its leg failed at once, and the caller is back in the
        queue it came from, ahead of the others (`[cc-xfer-invalid]`)."""
        from_seat = self._seat_of(ev.get("Transferer", ""))
        via = clean_text(ev.get("Via", ""), 16) or "softphone"
        self._close(call, ev, "transferred")
        self._open(call, ev, LegKind.BLIND, ev.get("Target", "") or "?", from_seat=from_seat,
                   via=via)  # fmt: skip
        self._close(call, ev, "failed")
        self._open(call, ev, LegKind.RETURNED, ev.get("Route", "") or "queue", from_seat=from_seat)

    _USER_EVENTS: ClassVar[dict[str, Callable[[LegTracker, _Call, dict], None]]] = {
        UserEvent.ROUTE: _first_leg,
        UserEvent.AFFINITY: _affinity_missed,
        UserEvent.TRANSFER: _arrived_by_transfer,
        UserEvent.TRUNK_FAILED: _trunk_failed,
        UserEvent.TRANSFER_INVALID: _transfer_invalid,
    }

    def _consult(self, ev: dict) -> None:
        """A consultation: the seat's own call to a target (softphone), or the Local
        channel pair an AMI Atxfer dials (known by its name without ;1/;2)."""
        consult = _Consult(ev.get("Seat", ""), _where(ev), _at(ev), ev.get("Via", ""))
        self._consults[ev.get("Uniqueid", "")] = consult
        for key in (local_base(ev.get("Channel", "")), ev.get("Consulting", "")):
            if key:  # Atxfer's Local pair, and the seat channel that asked (API, CLI)
                self._consults[key] = consult
        while len(self._consults) > _CONSULT_MEMORY:
            self._consults.popitem(last=False)

    def _on_QueueCallerJoin(self, ev: dict) -> None:
        call = self._calls.get(ev.get("Uniqueid", ""))
        leg = call.current if call is not None else None
        if call is None or leg is None or leg.ended_at is not None:
            return
        queue = ev.get("Queue", "")
        if leg.kind in (LegKind.QUEUE, LegKind.RETURNED, LegKind.BLIND) and leg.target != queue:
            self._put(call, replace(leg, target=clean_text(queue, 128)), ev)

    def _on_AgentConnect(self, ev: dict) -> None:
        uid = ev.get("Uniqueid", "")
        call = self._calls.get(uid)
        if call is not None:
            self._answer(call, ev, ev.get("MemberName", ""))
        elif uid in self._consults:
            self._consults[uid].answered_by = clean_text(ev.get("MemberName", ""), 64)

    def _on_DialEnd(self, ev: dict) -> None:
        if ev.get("DialStatus") != "ANSWER":
            return
        uid = ev.get("Uniqueid", "")
        dest = ev.get("DestChannel", "")
        trunk = next((t.id for t in self._config().trunks if dest.startswith(f"PJSIP/{t.id}-")), "")
        call = self._calls.get(uid)
        if call is not None:
            leg = call.current
            if leg is None:
                return
            if leg.kind == LegKind.FIRST_CONTACT:
                self._answer(call, ev, leg.target.removeprefix("seat:"))
            elif leg.target.startswith("seat:"):  # back with the seat (a hand-off not answered)
                self._answer(call, ev, self._seat_of(dest) or leg.target.removeprefix("seat:"))
            elif trunk and (leg.target == f"trunk:{trunk}" or leg.target.startswith("emergency:")):
                self._answer(call, ev, trunk)
        elif uid in self._consults and trunk:
            self._consults[uid].answered_by = trunk

    def _on_BlindTransfer(self, ev: dict) -> None:
        """A blind transfer outside `cc-transfer` (ours are followed by CallcoreTransfer)."""
        if ev.get("Result", "Success") != "Success" or ev.get("Context") == "cc-transfer":
            return
        call = self._calls.get(ev.get("TransfereeUniqueid", ""))
        if call is not None:
            target = f"{ev.get('Extension', '')}@{ev.get('Context', '')}"
            self._blind(call, ev, target, ev.get("TransfererChannel", ""))

    def _blind(self, call: _Call, ev: dict, target: str, transferer: str, via: str = "") -> None:
        self._close(call, ev, "transferred")
        self._open(
            call,
            ev,
            LegKind.BLIND,
            target,
            from_seat=self._seat_of(transferer),
            via=clean_text(via, 16) or "softphone",
        )

    def _on_AttendedTransfer(self, ev: dict) -> None:
        if ev.get("Result", "Success") != "Success":
            return
        call = self._calls.get(ev.get("TransfereeUniqueid", "")) or self._calls.get(
            ev.get("OrigTransfereeUniqueid", "")
        )
        if call is None:
            call = next(
                (c for c in self._calls.values() if c.linkedid == ev.get("OrigTransfererLinkedid")),
                None,
            )
        if call is None:
            return
        transferer = ev.get("OrigTransfererChannel", "")
        consult = (
            self._consults.get(ev.get("SecondTransfererUniqueid", ""))
            or self._consults.get(local_base(ev.get("TransferTargetChannel", "")))
            or self._consults.get(transferer)
        )
        target = consult.target if consult else ev.get("SecondTransfererExten", "")
        answered_by = consult.answered_by if consult else ""
        if not answered_by:
            answered_by = self._seat_of(ev.get("TransferTargetChannel", ""))
        self._close(call, ev, "transferred")
        self._open(
            call,
            ev,
            LegKind.ATTENDED,
            target,
            from_seat=self._seat_of(transferer),
            via=clean_text(consult.via, 16) if consult and consult.via else "softphone",
            seat=answered_by,
            started_at=consult.started_at if consult else None,
            answered_at=_at(ev),
        )

    def _on_Hangup(self, ev: dict) -> None:
        call = self._calls.pop(ev.get("Uniqueid", ""), None)
        if call is None:
            return
        leg = call.current
        if leg is not None and leg.ended_at is None:
            self._close(call, ev, "answered" if leg.answered_at else "abandoned")

    # The AMI events this component follows, and the method each goes to.
    _HANDLERS: ClassVar[dict[str, Callable[..., None]]] = {
        "Newchannel": _on_Newchannel,
        "UserEvent": _on_UserEvent,
        "QueueCallerJoin": _on_QueueCallerJoin,
        "AgentConnect": _on_AgentConnect,
        "DialEnd": _on_DialEnd,
        "BlindTransfer": _on_BlindTransfer,
        "AttendedTransfer": _on_AttendedTransfer,
        "Hangup": _on_Hangup,
    }



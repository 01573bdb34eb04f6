"""Follow each citizen's call through Asterisk's events and keep its record.

One instance is fed every AMI event in order by the controller's single consumer; it is
synchronous and does no I/O, so it can never hold up the AMI reader. A call is keyed by
the Linkedid of the channel the carrier (or the 12366 trunk) brought in; channels that
later appear under another Linkedid (bridges, attended transfers) are re-keyed onto the
same call. Replayed or duplicated events change nothing: first times win, ended calls are
remembered, and every record carries the timestamp of the newest event it reflects.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from callcore.ami import EventTable, event_time
from callcore.contract import Flag, UserEvent
from callcore.features.routing.decision import Kind, decide
from callcore.records import CallRecord, Outcome, clean_text, from_epoch
from config.directory import Directory, national

log = logging.getLogger(__name__)

INBOUND_CONTEXTS = frozenset({"from-carrier", "from-trunk"})
ROUTE_CONTEXT = "cc-route"  # where the dialplan runs FastAGI on a Local channel
_ENDED_MEMORY = 50_000
_UNKNOWN = "<unknown>"


@dataclass
class _Call:
    record: CallRecord
    caller_uid: str
    channels: set[str] = field(default_factory=set)
    trunk_channel: str = ""  # uniqueid of the outgoing leg to a sub-centre
    trunk_dialed_at: datetime | None = None
    affinity_seat: str = ""  # 首接: the seat rung first, and its leg's uniqueid
    affinity_channel: str = ""
    talk_ended_at: datetime | None = None  # the seat hung up first; the caller rates the call


def _ts(ev: dict) -> float:
    return event_time(ev) or 0.0


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round(max((b - a).total_seconds(), 0.0), 3)


# AMI sends caller ID C-escaped (manager.c, ast_escape_c): \' \" \? \\ \n \t …
_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", "'": "'", '"': '"', "?": "?"}
_C_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def c_unescape(value: str) -> str:
    """Caller ID as the carrier sent it, from AMI's C-escaped form (`O\\'Brien` -> `O'Brien`)."""
    if "\\" not in value:
        return value
    return _C_ESCAPED.sub(lambda m: _C_ESCAPES.get(m[1], m[0]), value)


def _transfer_target(ev: dict) -> str:
    """Where a CallcoreTransfer event says the caller went: a queue or trunk:<id>."""
    trunk = ev.get("Trunk", "")
    return f"trunk:{trunk}" if ev.get("Kind") == "trunk" and trunk else ev.get("Route", "")


def _caller_field(value: str, limit: int) -> str:
    return "" if value == _UNKNOWN else clean_text(c_unescape(value), limit)


class CallTracker(EventTable):
    def __init__(self, directory: Callable[[], Directory], emit: Callable[[CallRecord], None]):
        self._directory = directory
        self._emit = emit
        self._calls: dict[str, _Call] = {}  # linkedid (and re-keyed aliases) -> call
        self._by_channel: dict[str, _Call] = {}  # uniqueid -> call
        self._ended: OrderedDict[str, None] = OrderedDict()
        # Seats' consultation calls (before an attended transfer): channel uid -> target.
        self._consults: OrderedDict[str, str] = OrderedDict()
        self.events = 0
        self.ignored = 0

    @property
    def active(self) -> list[CallRecord]:
        seen: set[int] = set()
        out = []
        for c in self._calls.values():
            if id(c) not in seen:
                seen.add(id(c))
                out.append(c.record)
        return out

    # -- lookups -------------------------------------------------------------------
    def _call_for(self, ev: dict) -> _Call | None:
        uid = ev.get("Uniqueid", "")
        call = self._by_channel.get(uid)
        linked = ev.get("Linkedid", "")
        if call is not None:
            if linked and linked not in self._calls:  # re-keyed by a bridge or transfer
                self._calls[linked] = call
            return call
        return self._calls.get(linked)

    def _publish(self, call: _Call, ev: dict) -> None:
        call.record.as_of = max(call.record.as_of, _ts(ev))
        self._emit(replace(call.record, flags=list(call.record.flags)))

    # -- handlers ------------------------------------------------------------------
    def _on_Newchannel(self, ev: dict) -> None:
        uid, linked = ev.get("Uniqueid", ""), ev.get("Linkedid", "")
        if not uid or uid in self._by_channel or linked in self._ended:
            return
        call = self._calls.get(linked)
        if call is not None:
            if ev.get("Context") == ROUTE_CONTEXT:
                return  # the routing leg: a stalled FastAGI server may hold it long after
            call.channels.add(uid)
            self._by_channel[uid] = call
            return
        if ev.get("Context") not in INBOUND_CONTEXTS or ev.get("Channel", "").startswith("Local/"):
            return  # seat-to-seat calls, supervisor legs: not citizens' calls
        if linked and linked != uid:
            return  # dialed out over a trunk for another call (a call callcore placed)
        ts = _ts(ev)
        rec = CallRecord(
            linkedid=linked or uid,
            caller_number=_caller_field(ev.get("CallerIDNum", ""), 64),
            caller_name=_caller_field(ev.get("CallerIDName", ""), 255),
            dialed_number=clean_text(ev.get("Exten", ""), 64),
            entered_at=from_epoch(ts),
            as_of=ts,
        )
        call = _Call(rec, uid, {uid})
        self._calls[rec.linkedid] = call
        self._by_channel[uid] = call

    def _on_UserEvent(self, ev: dict) -> None:
        call = self._call_for(ev)
        kind = ev.get("UserEvent", "")
        if kind == UserEvent.TRANSFER and (call is None or ev.get("Uniqueid") != call.caller_uid):
            self._note_consultation(ev)
            return
        if call is None:
            return
        step = self._USER_EVENTS.get(kind)
        if step is not None and step(self, call, ev):
            self._publish(call, ev)

    def _note_consultation(self, ev: dict) -> None:
        """A seat's consultation (its own call, or the Local pair of an AMI Atxfer)."""
        for key in (ev.get("Uniqueid", ""), ev.get("Channel", "").rsplit(";", 1)[0],
                    ev.get("Consulting", "")):  # fmt: skip
            if key:
                self._consults[key] = _transfer_target(ev)
        while len(self._consults) > 4000:
            self._consults.popitem(last=False)

    # Each UserEvent's step returns whether the record changed (and is published).
    def _routed(self, call: _Call, ev: dict) -> bool:
        self._apply_route(call, ev)
        return True

    def _transferred(self, call: _Call, ev: dict) -> bool:
        """The caller arrived where a seat transferred it."""
        call.record.transfer_target = clean_text(_transfer_target(ev), 64)
        call.record.outcome = Outcome.TRANSFERRED
        return True

    def _trunk_failed(self, call: _Call, ev: dict) -> bool:
        rec = call.record
        status = ev.get("Status", "")
        if rec.outcome is Outcome.TRANSFERRED:
            # a transfer to the sub-centre it did not take: the caller is back in 12345
            if Flag.TRANSFER_RETURNED not in rec.flags:
                rec.flags.append(Flag.TRANSFER_RETURNED)
            rec.outcome = None
            rec.reason += f"; transfer to {rec.transfer_target} failed ({status})"
            rec.reason += f": back in {ev.get('Route', '') or 'the queue'}, ahead of others"
            return True
        flag = Flag.SUBCENTRE_FAILED.detail(clean_text(status, 20).lower())
        if flag not in rec.flags:
            rec.flags.append(flag)
        rec.reason += f"; sub-centre trunk {ev.get('Trunk', '')} failed"
        rec.reason += f" ({status}): caller queued in its zone"
        return True

    def _transfer_invalid(self, call: _Call, ev: dict) -> bool:
        """A seat transferred the caller to no target: the caller is back in its queue."""
        rec = call.record
        if Flag.TRANSFER_RETURNED not in rec.flags:
            rec.flags.append(Flag.TRANSFER_RETURNED)
        target = clean_text(ev.get("Target", ""), 32)
        rec.reason += f"; transfer to {target or '?'} failed (no such target)"
        rec.reason += f": back in {ev.get('Route', '') or 'the queue'}, ahead of others"
        return True

    def _affinity_missed(self, call: _Call, ev: dict) -> bool:
        call.record.reason += f" (not answered: {clean_text(ev.get('Status', ''), 20).lower()})"
        return True

    def _queue_exited(self, call: _Call, ev: dict) -> bool:
        rec = call.record
        if rec.outcome is not None or rec.answered_at is not None:
            return False
        status = ev.get("Status", "")
        if status == "TIMEOUT":
            rec.outcome = Outcome.TIMEOUT
            rec.wait_seconds = _seconds(rec.queued_at, from_epoch(_ts(ev)))
        elif status in ("FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL"):
            rec.outcome = Outcome.FAILED
        return True

    def _rate_asked(self, call: _Call, ev: dict) -> bool:
        """The seat hung up and the caller stayed to rate the call: talk time ends here."""
        if ev.get("Uniqueid") == call.caller_uid and call.record.answered_at is not None:
            call.talk_ended_at = from_epoch(_ts(ev))
        return False

    _USER_EVENTS: ClassVar[dict[str, Callable[[CallTracker, _Call, dict], bool]]] = {
        UserEvent.ROUTE: _routed,
        UserEvent.TRANSFER: _transferred,
        UserEvent.TRUNK_FAILED: _trunk_failed,
        UserEvent.TRANSFER_INVALID: _transfer_invalid,
        UserEvent.AFFINITY: _affinity_missed,
        UserEvent.QUEUE_EXIT: _queue_exited,
        UserEvent.RATE_ASKED: _rate_asked,
    }

    def _apply_route(self, call: _Call, ev: dict) -> None:
        rec = call.record
        if rec.route:  # a replayed route event
            return
        kind = ev.get("Kind", "queue")
        queue = clean_text(ev.get("Route", ""), 64)
        trunk = clean_text(ev.get("Trunk", ""), 32)
        rec.route = f"trunk:{trunk}" if kind == Kind.TRUNK and trunk else queue
        if not rec.dialed_number:  # a call adopted from a live channel after an outage
            rec.dialed_number = clean_text(ev.get("Dialed", ""), 64)
        rec.fallback = ev.get("Fallback") == "1"
        try:
            rec.priority = int(ev.get("Prio") or 0)
        except ValueError:
            rec.priority = 0
        flags = [f for f in re.split(r"[+,|]", ev.get("Flags", "")) if f]
        rec.flags = sorted(set(rec.flags) | {clean_text(f, 40) for f in flags})
        directory = self._directory()
        hotline = directory.lookup(ev.get("Hotline", "")) if ev.get("Hotline") else None
        if hotline is not None:
            rec.hotline, rec.hotline_name = hotline.number, hotline.name
        rec.reason = self._reason(directory, rec, kind, queue)
        seat = clean_text(ev.get("Affinity", ""), 32)
        if seat:
            rec.affinity = True
            call.affinity_seat = seat
            rec.reason += f"; 首接负责制: offered first to seat {seat}"

    def _reason(self, directory: Directory, rec: CallRecord, kind: str, queue: str) -> str:
        """Why the call went where it went: the router's own words when it agrees."""
        tz = ZoneInfo(directory.cfg.site.timezone)
        day = rec.entered_at.astimezone(tz).date() if rec.entered_at else date.today()
        area = directory.cfg.site.area_code
        registered = (
            frozenset({national(rec.caller_number, area)})
            if Flag.ENTERPRISE in rec.flags
            else frozenset()
        )
        expected = decide(directory, rec.dialed_number, rec.caller_number, day, registered)
        how = "static dialplan (FastAGI unavailable)" if rec.fallback else "FastAGI"
        if Flag.TRANSFERRED_IN in rec.flags:
            return f"transferred in over a trunk: {queue}, priority {rec.priority}"
        if expected.queue == queue and expected.kind.value == kind:
            return f"{expected.reason} [{how}]"
        return f"{kind} {queue or '?'} for {rec.hotline or 'unknown number'} [{how}]"

    def _on_QueueCallerJoin(self, ev: dict) -> None:
        call = self._call_for(ev)
        if call is None or ev.get("Uniqueid") != call.caller_uid:
            return
        rec = call.record
        if rec.queued_at is None or call.affinity_channel:
            # the first queue (a transfer's later queues are legs: callcore/legs.py)
            if rec.queued_at is None:
                rec.queued_at = from_epoch(_ts(ev))
            rec.route = clean_text(ev.get("Queue", rec.route), 64)
            call.affinity_channel = ""
        call.record.as_of = max(rec.as_of, _ts(ev))

    def _on_AgentConnect(self, ev: dict) -> None:
        call = self._call_for(ev)
        if call is None or call.record.answered_at is not None:
            return
        rec = call.record
        rec.answered_at = from_epoch(_ts(ev))
        rec.seat = clean_text(ev.get("MemberName", ""), 32)
        rec.wait_seconds = _seconds(rec.queued_at, rec.answered_at)
        self._publish(call, ev)

    def _on_QueueCallerAbandon(self, ev: dict) -> None:
        call = self._call_for(ev)
        if call is None or call.record.answered_at is not None or call.record.outcome:
            return
        rec = call.record
        rec.outcome = Outcome.ABANDONED
        rec.wait_seconds = _seconds(rec.queued_at, from_epoch(_ts(ev)))

    def _on_DialBegin(self, ev: dict) -> None:
        call = self._call_for(ev)
        if call is None or ev.get("Uniqueid") != call.caller_uid:
            return
        if call.affinity_seat and not call.affinity_channel and call.record.answered_at is None:
            seat = self._directory().cfg.seat(call.affinity_seat)
            dest = ev.get("DestChannel", "")
            if seat is not None and dest.startswith(f"PJSIP/{seat.extension}-"):
                call.affinity_channel = ev.get("DestUniqueid", "")
                if call.record.queued_at is None:  # the caller waits for a human from here
                    call.record.queued_at = from_epoch(_ts(ev))
                return
        trunk = call.record.route.removeprefix("trunk:")
        if call.record.route.startswith("trunk:") and ev.get("DestChannel", "").startswith(
            f"PJSIP/{trunk}-"
        ):
            call.trunk_channel = ev.get("DestUniqueid", "")
            call.trunk_dialed_at = from_epoch(_ts(ev))

    def _on_DialEnd(self, ev: dict) -> None:
        call = self._call_for(ev)
        if call is not None and call.affinity_channel == ev.get("DestUniqueid"):
            rec = call.record
            if ev.get("DialStatus") == "ANSWER" and rec.answered_at is None:
                rec.answered_at = from_epoch(_ts(ev))
                rec.seat = call.affinity_seat
                rec.wait_seconds = _seconds(rec.queued_at, rec.answered_at)
                self._publish(call, ev)
            return
        if call is None or not call.trunk_channel:
            return
        if ev.get("DestUniqueid") != call.trunk_channel or ev.get("DialStatus") != "ANSWER":
            return
        rec = call.record
        if rec.answered_at is None:
            rec.answered_at = from_epoch(_ts(ev))
            rec.wait_seconds = _seconds(call.trunk_dialed_at, rec.answered_at)
            trunk = rec.route.removeprefix("trunk:")
            rec.seat = trunk
            rec.transfer_target = trunk
            rec.outcome = Outcome.TRANSFERRED
            self._publish(call, ev)

    def _on_BlindTransfer(self, ev: dict) -> None:
        call = self._calls.get(ev.get("TransfereeLinkedid", "")) or self._by_channel.get(
            ev.get("TransfererUniqueid", "")
        )
        if call is None or ev.get("Result", "Success") != "Success":
            return
        if ev.get("Context") == "cc-transfer":  # ours: the caller's CallcoreTransfer says it
            return
        target = f"{ev.get('Extension', '')}@{ev.get('Context', '')}".strip("@")
        call.record.transfer_target = clean_text(target, 64)
        call.record.outcome = Outcome.TRANSFERRED
        self._publish(call, ev)

    def _on_AttendedTransfer(self, ev: dict) -> None:
        call = self._calls.get(ev.get("OrigTransfereeLinkedid", "")) or self._by_channel.get(
            ev.get("OrigTransfererUniqueid", "")
        )
        if call is None or ev.get("Result", "Success") != "Success":
            return
        target = (
            self._consults.get(ev.get("SecondTransfererUniqueid", ""))
            or self._consults.get(ev.get("TransferTargetChannel", "").rsplit(";", 1)[0])
            or self._consults.get(ev.get("OrigTransfererChannel", "") or "-")
            or ev.get("SecondTransfereeChannel", ev.get("DestType", ""))
        )
        call.record.transfer_target = clean_text(target, 64)
        call.record.outcome = Outcome.TRANSFERRED
        self._publish(call, ev)

    def _on_Hangup(self, ev: dict) -> None:
        uid = ev.get("Uniqueid", "")
        call = self._by_channel.pop(uid, None)
        if call is None:
            return
        call.channels.discard(uid)
        rec = call.record
        if uid == call.caller_uid:
            try:
                rec.hangup_cause = int(ev.get("Cause") or 0)
            except ValueError:
                rec.hangup_cause = None
        if call.channels:
            return
        self._finish(call, ev)

    def _finish(self, call: _Call, ev: dict) -> None:
        rec = call.record
        rec.ended_at = from_epoch(_ts(ev))
        if rec.outcome is None:
            if rec.answered_at is not None:
                rec.outcome = Outcome.ANSWERED
            elif rec.queued_at is not None or rec.route:
                # the caller hung up before a human answered (in the queue, or during the notice)
                rec.outcome = Outcome.ABANDONED
                rec.wait_seconds = _seconds(rec.queued_at, rec.ended_at) if rec.queued_at else 0.0
            else:
                rec.outcome = Outcome.FAILED
        if rec.answered_at is not None:
            rec.talk_seconds = _seconds(rec.answered_at, call.talk_ended_at or rec.ended_at)
        for key in [k for k, c in self._calls.items() if c is call]:
            del self._calls[key]
            self._ended[key] = None
        while len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)
        self._publish(call, ev)

    # -- catching up after an outage (callcore/reconcile.py) -------------------------------
    def record(self, linkedid: str) -> CallRecord | None:
        """The record of a call this tracker follows now (None once it ended)."""
        call = self._calls.get(linkedid)
        return call.record if call is not None else None

    def tracked(self, linkedid: str) -> bool:
        """A call this tracker follows now."""
        return linkedid in self._calls

    def has_ended(self, linkedid: str) -> bool:
        """A call this tracker saw end (and still remembers)."""
        return linkedid in self._ended

    def channels_of_calls(self) -> dict[str, set[str]]:
        """The channels (uniqueids) of each followed call, by the call's own Linkedid."""
        out: dict[str, set[str]] = {}
        for c in self._calls.values():
            out[c.record.linkedid] = set(c.channels)
        return out

    def attach_channels(self, linkedid: str, uids: set[str]) -> None:
        """Channels found live in Asterisk that belong to a followed call: it ends with them."""
        call = self._calls.get(linkedid)
        if call is None:
            return
        for uid in uids:
            if uid and uid not in self._by_channel:
                call.channels.add(uid)
                self._by_channel[uid] = call

    def mark(self, linkedid: str, flag: str) -> None:
        """Add a flag to a followed call's record (published with its next change)."""
        call = self._calls.get(linkedid)
        if call is not None and flag not in call.record.flags:
            call.record.flags.append(flag)

    def end_call(self, linkedid: str, ts: float, *, lost: str = "") -> None:
        """End a followed call whose channels are gone without a Hangup we saw.

        `lost` names why it died unobserved (Asterisk went away): a call a human had
        answered stays answered, ending at `ts`; one still waiting becomes failed. `ts` is
        inferred, so it is taken no earlier than the call's own entry, queueing and answer.
        """
        call = self._calls.get(linkedid)
        if call is None:
            return
        for uid in call.channels:
            self._by_channel.pop(uid, None)
        call.channels.clear()
        rec = call.record
        known = (rec.entered_at, rec.queued_at, rec.answered_at)
        ts = max([ts, *(t.timestamp() for t in known if t is not None)])
        if lost:
            if Flag.ASTERISK_LOST not in rec.flags:
                rec.flags.append(Flag.ASTERISK_LOST)
            rec.reason = f"{rec.reason}; {lost}" if rec.reason else lost
            if rec.answered_at is None and rec.outcome is None:
                rec.outcome = Outcome.FAILED
                if rec.queued_at is not None:
                    rec.wait_seconds = _seconds(rec.queued_at, from_epoch(ts))
        self._finish(call, {"Timestamp": f"{ts:.6f}"})

    # The AMI events this component follows, and the method each goes to.
    _HANDLERS: ClassVar[dict[str, Callable[..., None]]] = {
        "Newchannel": _on_Newchannel,
        "UserEvent": _on_UserEvent,
        "QueueCallerJoin": _on_QueueCallerJoin,
        "AgentConnect": _on_AgentConnect,
        "QueueCallerAbandon": _on_QueueCallerAbandon,
        "DialBegin": _on_DialBegin,
        "DialEnd": _on_DialEnd,
        "BlindTransfer": _on_BlindTransfer,
        "AttendedTransfer": _on_AttendedTransfer,
        "Hangup": _on_Hangup,
    }



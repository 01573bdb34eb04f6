"""A call's queue_log facts turned into the AMI events they stand for, and replayed into a
tracker, so a rebuilt record is what the live tracker would have written (see
`callcore.features.calls.reconcile` for when and why).
"""


from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from callcore.contract import Flag, UserEvent
from callcore.features.calls.queue_log import Facts, QueueLog
from callcore.features.calls.tracker import CallTracker
from callcore.records import CallRecord
from config.directory import Directory

if TYPE_CHECKING:
    from callcore.ami import Message


log = logging.getLogger(__name__)


_TRUNK_SUFFIX = "-trunk"




def stamp(t: float) -> str:
    return f"{t:.6f}"


def facts_events(
    f: Facts, *, newchannel: bool = True, hangup: bool = True, trunk_uid: str = ""
) -> list[Message]:
    """The AMI events the call's facts stand for, in time order, for the tracker to replay.

    `trunk_uid`: the live sub-centre leg of an adopted call, whose DialEnd is still to come.
    """
    lid = f.linkedid
    evs: list[tuple[float, int, dict[str, Any]]] = []

    def add(t: float | None, ev: dict[str, Any]) -> None:
        if t is not None:
            ev.setdefault("Uniqueid", lid)
            ev.setdefault("Linkedid", lid)
            ev["Timestamp"] = stamp(t)
            evs.append((t, len(evs), ev))

    if newchannel:
        add(f.entered_at, {
            "Event": "Newchannel",
            "Channel": f"Reconciled/{lid}",
            "Context": "from-carrier",
            "Exten": f.dialed,
            "CallerIDNum": f.number,
            "CallerIDName": f.name,
        })
    if f.route is not None:
        add(f.route_at, {"Event": "UserEvent", "UserEvent": UserEvent.ROUTE, **f.route})
    if f.trunk_at is not None:
        _trunk_events(f, add, trunk_uid or lid + _TRUNK_SUFFIX)
    add(f.queued_at, {"Event": "QueueCallerJoin", "Queue": f.queue})
    add(f.connect_at, {"Event": "AgentConnect", "MemberName": f.seat, "Queue": f.queue})
    add(f.qexit_at, {"Event": "UserEvent", "UserEvent": UserEvent.QUEUE_EXIT,
                     "Route": f.queue, "Status": f.qexit})
    if f.transfer is not None:
        add(f.transfer_at, _transfer_event(f.transfer, lid))
    add(f.rate_asked_at, {"Event": "UserEvent", "UserEvent": UserEvent.RATE_ASKED})
    if hangup and f.ended_at is not None:
        add(f.ended_at, {"Event": "Hangup", "Cause": f.cause})
    evs.sort(key=lambda e: (e[0], e[1]))
    return [e for _, _, e in evs]


def _trunk_events(
    f: Facts, add: Callable[[float | None, dict[str, Any]], None], dest_uid: str
) -> None:
    """The sub-centre leg: dialed, then answered, or failed (the dialplan's own event)."""
    dest = {"DestChannel": f"PJSIP/{f.trunk}-reconciled", "DestUniqueid": dest_uid}
    add(f.trunk_at, {"Event": "DialBegin", **dest})
    if f.trunk_answered_at is not None:
        add(f.trunk_answered_at, {"Event": "DialEnd", "DialStatus": "ANSWER", **dest})
    else:
        add(f.trunk_end_at, {"Event": "UserEvent", "UserEvent": UserEvent.TRUNK_FAILED,
                             "Trunk": f.trunk, "Status": f.trunk_status})


def _transfer_event(transfer: dict[str, str], lid: str) -> dict[str, Any]:
    """A seat's transfer as the AMI event Asterisk would have sent: blind or attended."""
    if "Extension" in transfer:
        return {"Event": "BlindTransfer", "TransfereeLinkedid": lid, "Result": "Success",
                **transfer}
    return {"Event": "AttendedTransfer", "OrigTransfereeLinkedid": lid, "Result": "Success",
            "SecondTransfereeChannel": transfer["Target"]}


def lost_time(f: Facts, qlog: QueueLog, went_away: float | None) -> float:
    """When a call that ended unobserved (no CCEND) died: when Asterisk went away.

    The engine's own moment of loss if it saw Asterisk go after the call's last fact;
    else the last line Asterisk wrote before it started again (to the millisecond when
    the dialplan wrote it); else the call's last fact. Never before the call's last fact
    (its answer included): the line order, not the clock, tells which restart followed it.
    """
    if went_away is not None and went_away >= f.last_at:
        return went_away
    for start in qlog.restarts:
        if start.line > f.last_line:
            return max(start.stopped_at or f.last_at, f.last_at)
    return f.last_at


LOST_REASON = "Asterisk went away during the call (reconciled)"


def use_stored_answer(f: Facts, held: CallRecord) -> None:
    """Take the answer time a dead engine stored for the call (AMI's, to the microsecond)
    over the one inferred from CONNECT's whole second, when both tell of the same answer."""
    if f.connect_at is None or held.answered_at is None or held.seat != f.seat:
        return
    at = held.answered_at.timestamp()
    earliest = f.queued_at if f.queued_at is not None else f.entered_at
    latest = min((t for t in (f.qexit_at, f.ended_at) if t is not None), default=at)
    if earliest is not None and earliest <= at <= latest and abs(at - f.connect_at) < 1.0:
        f.connect_at = at
        f.last_at = max(f.last_at, at)


def rebuild(
    facts: Iterable[Facts],
    directory: Callable[[], Directory],
    qlog: QueueLog,
    went_away: float | None = None,
    held: Mapping[str, CallRecord] | None = None,
) -> list[CallRecord]:
    """Final records of calls that are over, replayed through a scratch tracker.

    `held`: the open rows the store holds for some of these calls (stored by an engine
    that died). A rebuilt record keeps their answer time when it is better, and its
    `as_of` is no older than theirs, so every reader that keeps the newest snapshot of a
    call (the store, the live figures) takes the end.
    """
    held = held or {}
    last: dict[str, CallRecord] = {}
    scratch = CallTracker(directory, lambda r: last.__setitem__(r.linkedid, r))
    for f in facts:
        if f.entered_at is None:
            continue
        if f.linkedid in held:
            use_stored_answer(f, held[f.linkedid])
        for ev in facts_events(f):
            scratch.handle(ev)
        if scratch.tracked(f.linkedid):  # no CCEND: it died with Asterisk
            scratch.end_call(f.linkedid, lost_time(f, qlog, went_away), lost=LOST_REASON)
    out = []
    for rec in last.values():
        if Flag.RECONCILED not in rec.flags:
            rec.flags.append(Flag.RECONCILED)
        if rec.linkedid in held:
            rec.as_of = max(rec.as_of, held[rec.linkedid].as_of)
        out.append(rec)
    return out



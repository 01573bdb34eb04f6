"""Catching up after an outage: every call of the time callcore was away, stored once.

While callcore is down (crashed, restarting) or cut off from AMI (Asterisk restarting, a
half-open connection), Asterisk keeps routing calls statically and nobody sees their AMI
events. Two sources tell what happened meanwhile:

- **queue_log**, Asterisk's own durable log. The dialplan writes one `CC…` line per
  milestone of every call (`[cc-log]` in extensions.conf.j2: entry with caller ID, the
  routing decision, queue join and exit, sub-centre dial and answer, end with the hangup
  cause from a hangup handler), with millisecond times; app_queue adds its own lines
  (CONNECT with the seat, transfers, QUEUESTART at every Asterisk start).
- **CoreShowChannels**, the calls up right now.

On every AMI login the engine pauses its event consumer and `Reconciler.resync` runs:

1. calls the tracker follows whose channels are all gone are ended, from their queue_log
   end if there is one, else as lost when Asterisk went away (`tracker.end_call`);
2. live calls the tracker does not know are adopted: their queue_log facts are replayed
   into the tracker as the AMI events they stand for, and their live channels attached,
   so the events that follow finish them as usual;
3. calls that began and ended inside the window (`lookback` seconds of queue_log) and are
   neither followed, nor remembered as ended, nor ended in the store, are rebuilt the same
   way by a scratch tracker and published like any record.

The same tracker code turns facts into records, so a rebuilt record is what the live
tracker would have written. Every time is the best queue_log has: the dialplan's lines to
the millisecond, the answer from app_queue's CONNECT line (whole seconds, kept before what
the dialplan logged after it), or the answer a dead engine stored from AMI; a call lost
with Asterisk ends at the last line Asterisk wrote before it started again, never before
its own answer or entry.

A rebuilt record's `as_of` is its newest fact (CCEND for a call that ended), which precedes
the Hangup events the live tracker stamps its final record with: if a call was in fact
stored whole, the store keeps the live record, so a replay never changes a row (and the
store check only saves work). If the store holds the call as still open (an engine died
with it), the rebuilt record is stamped no older than that row, and the store closes an
open row with an ended record whatever their `as_of` (`callcore.store.db`). Rebuilt or
adopted records carry the flag `reconciled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from callcore.contract import FACT_FIELDS, FACT_PREFIX, Fact, Flag, UserEvent
from callcore.features.calls.tracker import CallTracker
from callcore.records import CallRecord
from config.directory import Directory

if TYPE_CHECKING:
    from callcore.ami import AmiSession, Message

log = logging.getLogger(__name__)

LOOKBACK = 6 * 3600.0  # seconds of queue_log read back: longer than any call
_FLAG = Flag.RECONCILED
_TRUNK_SUFFIX = "-trunk"


# ---------------------------------------------------------------------------- queue_log


@dataclass
class Facts:
    """What queue_log says about one call (times are epoch seconds)."""

    linkedid: str
    entered_at: float | None = None
    dialed: str = ""
    number: str = ""
    name: str = ""
    route: dict[str, str] | None = None
    route_at: float | None = None
    queue: str = ""
    queued_at: float | None = None
    connect_at: float | None = None
    seat: str = ""
    qexit: str = ""
    qexit_at: float | None = None
    trunk: str = ""
    trunk_at: float | None = None
    trunk_answered_at: float | None = None
    trunk_status: str = ""
    trunk_end_at: float | None = None
    transfer: dict[str, str] | None = None
    transfer_at: float | None = None
    ended_at: float | None = None
    cause: str = ""
    last_at: float = 0.0  # the newest fact of the call
    last_line: int = 0  # where its newest line is (QueueLog.lines when it was read)

    def settle(self) -> None:
        """Keep the facts in the order they happened once all lines are read.

        app_queue's lines have whole seconds, so the answer inferred from CONNECT may come
        out later than what the dialplan logged after it to the millisecond (the queue
        exit, the end): it is taken no later than those, and a transfer no earlier.
        """
        if self.connect_at is None:
            return
        for later in (self.qexit_at, self.ended_at):
            if later is not None and later < self.connect_at:
                self.connect_at = later
        if self.transfer_at is not None and self.transfer_at < self.connect_at:
            self.transfer_at = self.connect_at
        self.last_at = max(self.last_at, self.connect_at)


@dataclass(frozen=True)
class Restart:
    """A QUEUESTART line: Asterisk started; the one before it stopped after its last line."""

    at: float
    line: int  # its place among the lines read
    stopped_at: float | None  # the best time of the line before it (None: none read)


@dataclass
class QueueLog:
    """The calls of a stretch of queue_log, and when Asterisk (re)started in it."""

    calls: dict[str, Facts] = field(default_factory=dict)
    restarts: list[Restart] = field(default_factory=list)
    lines: int = 0
    last_line_at: float | None = None  # the best time of the newest line read
    bad_lines: int = 0

    def note_line(self, event: str, data: str, epoch: float) -> None:
        """Count a line and keep its time: to the millisecond on the dialplan's own lines
        (`CC…`: <time.ms> first), else app_queue's whole second."""
        self.lines += 1
        if event == "QUEUESTART":
            self.restarts.append(Restart(epoch, self.lines, self.last_line_at))
        best = epoch
        if event.startswith(FACT_PREFIX):
            best = max(epoch, _float(data.split("|", 1)[0]) or 0.0)
        self.last_line_at = best

    def settle(self) -> None:
        """Once every line is read: each call's facts in the order they happened."""
        for f in self.calls.values():
            f.settle()


def _float(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if v == v and abs(v) < 1e11 else None  # finite, sane epoch


def _seek_time(f, since: float, size: int) -> int:
    """Byte offset of a line at or before the first line stamped >= `since` (binary search).

    queue_log is appended in time order; a line torn by the search is skipped.
    """
    lo, hi = 0, size
    while hi - lo > 4096:
        mid = (lo + hi) // 2
        f.seek(mid)
        f.readline()  # the rest of a line cut in the middle
        line = f.readline()
        t = _float(line.split(b"|", 1)[0].decode("ascii", "replace")) if line else None
        if t is None or t >= since:
            hi = mid
        else:
            lo = mid
    return lo


def read_queue_log(path: Path, since: float) -> QueueLog:
    """Parse queue_log from the first line stamped `since` on; never raises on bad lines."""
    out = QueueLog()
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return out
    with f:
        size = os.fstat(f.fileno()).st_size
        start = _seek_time(f, since, size)
        f.seek(start)
        if start:
            f.readline()
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # a line still being written
            try:
                _parse_line(out, raw[:-1].decode("utf-8", "replace"), since)
            except (ValueError, IndexError):
                out.bad_lines += 1
    out.settle()
    return out


def parse_queue_log(text: str, since: float = 0.0) -> QueueLog:
    """The same as `read_queue_log`, for text in memory (tests)."""
    out = QueueLog()
    for line in text.splitlines():
        try:
            _parse_line(out, line, since)
        except (ValueError, IndexError):
            out.bad_lines += 1
    out.settle()
    return out


def _parse_line(out: QueueLog, line: str, since: float) -> None:
    parts = line.split("|", 5)
    if len(parts) < 5:
        raise ValueError("not a queue_log line")
    epoch = _float(parts[0])
    if epoch is None:
        raise ValueError("no time")
    if epoch < since:
        return
    callid, agent, event = parts[1], parts[3], parts[4]
    data = parts[5] if len(parts) > 5 else ""
    out.note_line(event, data, epoch)
    if event == "QUEUESTART" or not callid or callid in ("NONE", "MANAGER") or len(callid) > 64:
        return
    if event.startswith(FACT_PREFIX):
        _custom(out, callid, event, data, epoch)
        return
    f = out.calls.get(callid)
    if f is None:
        return  # app_queue lines of a call whose CCIN is outside the window
    f.last_at, f.last_line = max(f.last_at, epoch), out.lines
    _app_queue(f, event, agent, data.split("|"), epoch)


def _app_queue(f: Facts, event: str, agent: str, fields: list[str], epoch: float) -> None:
    if event == "CONNECT":
        hold = _float(fields[0]) or 0.0
        at = float(epoch)
        if f.queued_at is not None:
            at = max(at, f.queued_at + hold)
        if f.connect_at is None:
            f.connect_at, f.seat = at, agent
    elif event in ("BLINDTRANSFER", "ATTENDEDTRANSFER") and f.transfer is None:
        if event == "BLINDTRANSFER":
            f.transfer = {"Extension": fields[0], "Context": fields[1] if len(fields) > 1 else ""}
        else:
            f.transfer = {"Target": fields[1] if len(fields) > 1 else fields[0]}
        f.transfer_at = float(epoch)


# The facts that carry one field: the Facts attribute for their time and for the field
# (None: the fact has no field). The first of each wins.
_ONE_FIELD: dict[str, tuple[str, str | None]] = {
    Fact.QUEUE: ("queued_at", "queue"),
    Fact.QUEUE_EXIT: ("qexit_at", "qexit"),
    Fact.TRUNK: ("trunk_at", "trunk"),
    Fact.TRUNK_ANSWERED: ("trunk_answered_at", None),
    Fact.TRUNK_END: ("trunk_end_at", "trunk_status"),
    Fact.END: ("ended_at", "cause"),
}
# CCROUTE's fields as the CallcoreRoute event's headers (the event they stand in for).
_ROUTE_HEADERS = ("Kind", "Route", "Prio", "Hotline", "Fallback", "Flags", "Trunk")


def _arrival(out: QueueLog, callid: str, data: str) -> None:
    """CCIN: <time.ms>|dialed|caller|name (the name, free text, may hold '|')."""
    fields = data.split("|", len(FACT_FIELDS[Fact.IN]))
    at = _float(fields[0])
    if at is None or callid in out.calls:
        return
    f = out.calls[callid] = Facts(callid, entered_at=at)
    f.dialed, f.number, f.name = [*fields[1:], "", "", ""][:3]
    f.last_at, f.last_line = at, out.lines


def _custom(out: QueueLog, callid: str, event: str, data: str, epoch: float) -> None:
    # CC lines: <time.ms>|fields…, the caller name (free text) always last
    if event == Fact.IN:
        _arrival(out, callid, data)
        return
    f = out.calls.get(callid)
    if f is None:
        return
    fields = data.split("|")
    at = _float(fields[0])
    if at is None:
        raise ValueError(f"{event} without a time")
    f.last_at, f.last_line = max(f.last_at, at), out.lines
    if event == Fact.ROUTE:
        if f.route is None:
            f.route = dict(zip(_ROUTE_HEADERS, fields[1:8], strict=False))
            f.route_at = at
        return
    one = _ONE_FIELD.get(event)
    if one is None or getattr(f, one[0]) is not None:
        return
    setattr(f, one[0], at)
    if one[1] is not None:
        setattr(f, one[1], fields[1] if len(fields) > 1 else "")


# ---------------------------------------------------------------------------- facts → events


def _stamp(t: float) -> str:
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
            ev["Timestamp"] = _stamp(t)
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
        if _FLAG not in rec.flags:
            rec.flags.append(_FLAG)
        if rec.linkedid in held:
            rec.as_of = max(rec.as_of, held[rec.linkedid].as_of)
        out.append(rec)
    return out


# ---------------------------------------------------------------------------- the engine's side


def stored_calls(engine: Engine, linkedids: list[str]) -> dict[str, CallRecord]:
    """What the store holds of these calls, ended or not: only what the rebuild uses
    (end, answer, seat, `as_of`), so hours of calls are read within the bound."""
    from callcore.store.db import calls

    c = calls.c
    out: dict[str, CallRecord] = {}
    with engine.connect() as conn:
        for i in range(0, len(linkedids), 500):
            chunk = linkedids[i : i + 500]
            stmt = select(c.linkedid, c.ended_at, c.answered_at, c.seat, c.as_of).where(
                c.linkedid.in_(chunk)
            )
            for lid, ended_at, answered_at, seat, as_of in conn.execute(stmt):
                out[lid] = CallRecord(lid, ended_at=ended_at, answered_at=answered_at,
                                      seat=seat, as_of=as_of)
    return out


@dataclass
class ResyncReport:
    at: float = 0.0
    took_ms: float = 0.0
    live_calls: int = 0
    adopted: int = 0
    ended: int = 0  # followed calls whose end was missed
    lost: int = 0  # of those and the rebuilt, how many died with Asterisk
    rebuilt: int = 0
    skipped_stored: int = 0
    store_checked: bool = False
    queue_log_lines: int = 0
    error: str | None = None


class Reconciler:
    """Resynchronises the tracker with Asterisk after every (re)connection of AMI."""

    def __init__(
        self,
        tracker: CallTracker,
        directory: Callable[[], Directory],
        publish: Callable[[CallRecord], None],
        queue_log: Path,
        *,
        store: Callable[[], Engine] | None = None,
        report_file: Path | None = None,
        lookback: float = LOOKBACK,
        store_timeout: float = 5.0,
    ):
        self.tracker = tracker
        self.directory = directory
        self.publish = publish
        self.queue_log = queue_log
        self.store = store
        self.report_file = report_file
        self.lookback = lookback
        self.store_timeout = store_timeout
        self.went_away: float | None = None  # wall time the AMI connection was lost
        self.reports = 0
        self.last: ResyncReport | None = None
        self._rebuilt: OrderedDict[str, None] = OrderedDict()  # published by an earlier resync

    def disconnected(self) -> None:
        """The AMI connection is gone: Asterisk may be going away now."""
        self.went_away = time.time()

    async def resync(self, ami: AmiSession) -> ResyncReport:
        """Compare with Asterisk and the queue_log, then adopt, end and rebuild calls.

        The caller must hold the event consumer while this runs (see Engine): the snapshot
        and the events queued behind it are then applied in the right order.
        """
        t0 = time.perf_counter()
        rep = ResyncReport(at=time.time())
        try:
            _, chans = await ami.action_list(
                {"Action": "CoreShowChannels"}, complete_event="CoreShowChannelsComplete",
                timeout=15,
            )
            since = time.time() - self.lookback
            qlog = await asyncio.to_thread(read_queue_log, self.queue_log, since)
            rep.queue_log_lines = qlog.lines
            live = _live_calls(chans)
            rep.live_calls = len(live)
            self._end_dead(qlog, live, rep)
            self._adopt(qlog, live, rep, _callers(chans, self._trunk_prefixes()))
            await self._rebuild(qlog, live, rep)
        except Exception as exc:  # never leave the consumer held or the engine down
            rep.error = f"{type(exc).__name__}: {exc}"
            log.exception("resync with Asterisk failed; tracking goes on without it")
        rep.took_ms = round((time.perf_counter() - t0) * 1000, 1)
        self.went_away = None
        self.last = rep
        self.reports += 1
        log.info("resync: %s", _summary(rep))
        if self.report_file is not None:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(_write_json, self.report_file, vars(rep))
        return rep

    def _end_dead(self, qlog: QueueLog, live: dict[str, dict[str, str]], rep: ResyncReport) -> None:
        for lid, channels in self.tracker.channels_of_calls().items():
            gone = channels - set(live.get(lid, ()))
            if lid in live:
                for uid in gone:  # a leg whose Hangup we missed
                    self.tracker.handle({"Event": "Hangup", "Uniqueid": uid, "Linkedid": lid,
                                         "Timestamp": _stamp(time.time())})
                continue
            f = qlog.calls.get(lid)
            if f is not None:
                for ev in facts_events(f, newchannel=False):
                    self.tracker.handle(ev)
            if not self.tracker.tracked(lid):
                rep.ended += 1
                continue
            self.tracker.mark(lid, _FLAG)
            if f is not None and f.ended_at is not None:
                self.tracker.end_call(lid, f.ended_at)
            else:
                if f is not None:
                    when = lost_time(f, qlog, self.went_away)
                else:
                    when = self.went_away or time.time()
                self.tracker.end_call(lid, when, lost=LOST_REASON)
                rep.lost += 1
            rep.ended += 1

    def _trunk_prefixes(self) -> tuple[str, ...]:
        return tuple(f"PJSIP/{t.id}-" for t in self.directory().cfg.trunks)

    def _adopt(self, qlog: QueueLog, live: dict[str, dict[str, str]], rep: ResyncReport,
               callers: dict[str, Message]) -> None:
        for lid, chans in live.items():
            if self.tracker.tracked(lid) or self.tracker.has_ended(lid):
                continue
            f = qlog.calls.get(lid)
            if f is None:
                caller = callers.get(lid)
                if caller is None:
                    continue  # not a citizen's call (seat to seat), or older than the window
                # A call that came in while we logged in: Asterisk's logger has not written
                # its first queue_log line yet. Start it from the live channel; its route and
                # everything after arrive as events queued behind this resync.
                self.tracker.handle(_newchannel_from(caller))
                if self.tracker.tracked(lid):
                    self.tracker.mark(lid, _FLAG)
                    self.tracker.attach_channels(lid, set(chans))
                    rep.adopted += 1
                continue
            prefix = f"PJSIP/{f.trunk}-" if f.trunk else "\0"
            trunk_uid = next((u for u, name in chans.items() if name.startswith(prefix)), "")
            for ev in facts_events(f, hangup=False, trunk_uid=trunk_uid):
                self.tracker.handle(ev)
            if not self.tracker.tracked(lid):
                continue
            self.tracker.mark(lid, _FLAG)
            self.tracker.attach_channels(lid, set(chans))
            rep.adopted += 1

    async def _rebuild(
        self, qlog: QueueLog, live: dict[str, dict[str, str]], rep: ResyncReport
    ) -> None:
        todo = [
            f
            for lid, f in qlog.calls.items()
            if lid not in live and not self.tracker.tracked(lid)
            and not self.tracker.has_ended(lid) and lid not in self._rebuilt
        ]
        if not todo:
            return
        stored: dict[str, CallRecord] = {}
        if self.store is not None:
            try:
                stored = await asyncio.wait_for(
                    asyncio.to_thread(stored_calls, self.store(), [f.linkedid for f in todo]),
                    self.store_timeout,
                )
                rep.store_checked = True
            except Exception as exc:  # the store's rule keeps stored rows as they are anyway
                log.warning("resync: store not readable (%s); rebuilding all", exc)
        ended = {lid for lid, r in stored.items() if r.ended_at is not None}
        held = {lid: r for lid, r in stored.items() if r.ended_at is None}
        rep.skipped_stored = len(ended)
        todo = [f for f in todo if f.linkedid not in ended]
        for rec in rebuild(todo, self.directory, qlog, self.went_away, held):
            if Flag.ASTERISK_LOST in rec.flags:
                rep.lost += 1
            self.publish(rec)
            rep.rebuilt += 1
            self._rebuilt[rec.linkedid] = None
        while len(self._rebuilt) > 50_000:
            self._rebuilt.popitem(last=False)


def _callers(chans: list[Message], trunk_prefixes: tuple[str, ...]) -> dict[str, Message]:
    """The inbound (carrier or sub-centre trunk) channel of each live call, by Linkedid."""
    return {
        ch.get("Linkedid", ""): ch
        for ch in chans
        if ch.get("Event") == "CoreShowChannel"
        and ch.get("Uniqueid") == ch.get("Linkedid")
        and str(ch.get("Channel", "")).startswith(trunk_prefixes)
    }


def _newchannel_from(ch: Message) -> Message:
    """A Newchannel event standing for a live caller channel (CoreShowChannel entry)."""
    up = 0  # Duration is HH:MM:SS
    for part in str(ch.get("Duration") or "").split(":"):
        up = up * 60 + (int(part) if part.isdigit() else 0)
    return {
        "Event": "Newchannel",
        "Channel": ch.get("Channel", ""),
        "Uniqueid": ch.get("Uniqueid", ""),
        "Linkedid": ch.get("Linkedid", ""),
        "Context": "from-carrier",
        "Exten": "",  # the route event that follows carries the dialed number
        "CallerIDNum": ch.get("CallerIDNum", ""),
        "CallerIDName": ch.get("CallerIDName", ""),
        "Timestamp": _stamp(time.time() - up),
    }


def _live_calls(chans: list[Message]) -> dict[str, dict[str, str]]:
    """Live channels (uniqueid -> channel name) by Linkedid, from a CoreShowChannels reply."""
    out: dict[str, dict[str, str]] = {}
    for ch in chans:
        if ch.get("Event") != "CoreShowChannel":
            continue
        lid, uid = ch.get("Linkedid") or ch.get("Uniqueid", ""), ch.get("Uniqueid", "")
        if lid and uid:
            out.setdefault(lid, {})[uid] = str(ch.get("Channel", ""))
    return out


def _summary(rep: ResyncReport) -> str:
    return (
        f"{rep.live_calls} live, {rep.adopted} adopted, {rep.ended} ended unseen "
        f"({rep.lost} lost with Asterisk), {rep.rebuilt} rebuilt from queue_log, "
        f"{rep.skipped_stored} already stored, {rep.took_ms} ms"
        + (f", error: {rep.error}" if rep.error else "")
    )


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)

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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select

from callcore.contract import Flag
from callcore.features.calls.queue_log import LOOKBACK, QueueLog, read_queue_log
from callcore.features.calls.rebuild import (
    LOST_REASON,
    facts_events,
    lost_time,
    rebuild,
    stamp,
)
from callcore.features.calls.tracker import CallTracker
from callcore.records import CallRecord
from config.directory import Directory

if TYPE_CHECKING:
    from callcore.ami import AmiSession, Message


log = logging.getLogger(__name__)

# What a feature above calls does with a resync's queue_log once the calls are done (the
# ratings' CCRATE facts): the log read and the records rebuilt from it, by Linkedid.
AfterResync = Callable[[QueueLog, Mapping[str, CallRecord]], Awaitable[None]]


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
        after: Sequence[AfterResync] = (),
    ):
        self.tracker = tracker
        self.directory = directory
        self.publish = publish
        self.queue_log = queue_log
        self.store = store
        self.report_file = report_file
        self.lookback = lookback
        self.store_timeout = store_timeout
        self.after = tuple(after)
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
            rebuilt = await self._rebuild(qlog, live, rep)
            for step in self.after:
                await step(qlog, rebuilt)
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
                                         "Timestamp": stamp(time.time())})
                continue
            f = qlog.calls.get(lid)
            if f is not None:
                for ev in facts_events(f, newchannel=False):
                    self.tracker.handle(ev)
            if not self.tracker.tracked(lid):
                rep.ended += 1
                continue
            self.tracker.mark(lid, Flag.RECONCILED)
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
                    self.tracker.mark(lid, Flag.RECONCILED)
                    self.tracker.attach_channels(lid, set(chans))
                    rep.adopted += 1
                continue
            prefix = f"PJSIP/{f.trunk}-" if f.trunk else "\0"
            trunk_uid = next((u for u, name in chans.items() if name.startswith(prefix)), "")
            for ev in facts_events(f, hangup=False, trunk_uid=trunk_uid):
                self.tracker.handle(ev)
            if not self.tracker.tracked(lid):
                continue
            self.tracker.mark(lid, Flag.RECONCILED)
            self.tracker.attach_channels(lid, set(chans))
            rep.adopted += 1

    async def _rebuild(
        self, qlog: QueueLog, live: dict[str, dict[str, str]], rep: ResyncReport
    ) -> dict[str, CallRecord]:
        todo = [
            f
            for lid, f in qlog.calls.items()
            if lid not in live and not self.tracker.tracked(lid)
            and not self.tracker.has_ended(lid) and lid not in self._rebuilt
        ]
        out: dict[str, CallRecord] = {}
        if not todo:
            return out
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
            out[rec.linkedid] = rec
        while len(self._rebuilt) > 50_000:
            self._rebuilt.popitem(last=False)
        return out


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
        "Timestamp": stamp(time.time() - up),
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

"""Asterisk's queue_log read back: each call's facts as the dialplan and app_queue wrote them.

The dialplan writes one `CC…` line per milestone of every call (`[cc-log]`, defined by
callcore/contract.py), with millisecond times; app_queue adds its own lines (CONNECT with
the seat, transfers, QUEUESTART at every Asterisk start). Reading is pure: a file or a text
in, the calls' facts and Asterisk's restarts out.
"""


from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from callcore.contract import FACT_FIELDS, FACT_PREFIX, Fact

if TYPE_CHECKING:
    pass

LOOKBACK = 6 * 3600.0  # seconds of queue_log read back: longer than any call




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
    rate_asked_at: float | None = None  # the seat hung up first: talk ended, rating asked
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
    # The dialplan's facts the call record does not use, for the features that do (the
    # ratings' CCRATE): (call id, event, data), in order.
    other: list[tuple[str, str, str]] = field(default_factory=list)

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
    Fact.RATE_ASKED: ("rate_asked_at", None),
}
# Facts of a call read by other features, whatever the window holds of the call.
_OTHER = frozenset({Fact.RATE})
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
    if event in _OTHER:
        out.other.append((callid, event, data))
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



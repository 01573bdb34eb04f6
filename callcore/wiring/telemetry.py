"""How the engine itself is doing: AMI event lag, routing latency, CPU and memory.

Measured on the hot path with a few float operations per event and kept in bounded rings,
so percentiles are always over the recent past. The engine writes a snapshot to
<home>/run/engine-stats.json every few seconds and at shutdown; benchmarks read it, and the
HTTP API can serve the same numbers.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections import deque
from pathlib import Path

from callcore.ami import EVERY, Subscriptions


def percentiles(values, *qs: float) -> dict[str, float | None]:
    data = sorted(values)
    out: dict[str, float | None] = {}
    for q in qs:
        key = f"p{int(q * 100)}"
        out[key] = data[min(len(data) - 1, int(q * len(data)))] if data else None
    return out


class EventLag:
    """Seconds from Asterisk stamping an event to the engine having handled it.

    Sampled (one event in `every`): the lag of neighbouring events is the same, and the
    consumer's time is better spent on the events themselves.
    """

    def __init__(self, size: int = 100_000, every: int = 8):
        self.samples: deque[float] = deque(maxlen=size)
        self.count = 0
        self.every = every

    def subscriptions(self) -> Subscriptions:
        return {EVERY: self.observe}

    def observe(self, ev: dict) -> None:
        self.count += 1
        if self.count % self.every:
            return
        stamp = ev.get("Timestamp")
        if stamp:
            try:
                self.samples.append(time.time() - float(stamp))
            except ValueError:
                return

    def summary(self) -> dict:
        ms = [s * 1000 for s in self.samples]
        return {"events": self.count, **{k + "_ms": v for k, v in
                                         percentiles(ms, 0.5, 0.99, 1.0).items()}}


class RouteTiming:
    """Routing as Asterisk sees it: from the routing leg's creation to the end of the AGI
    command that wrote the decision (Newchannel of the Local ;2 leg → its AGIExecEnd)."""

    def __init__(self, size: int = 100_000, context: str = "cc-route"):
        self.samples: deque[float] = deque(maxlen=size)
        self._started: dict[str, float] = {}
        self._context = context

    def subscriptions(self) -> Subscriptions:
        return dict.fromkeys(("Newchannel", "AGIExecEnd", "Hangup"), self.observe)

    def observe(self, ev: dict) -> None:
        name = ev.get("Event")
        if name == "Newchannel" and ev.get("Context") == self._context:
            if ev.get("Channel", "").endswith(";2"):
                self._started[ev.get("Uniqueid", "")] = float(ev.get("Timestamp") or 0)
        elif name == "AGIExecEnd":
            start = self._started.pop(ev.get("Uniqueid", ""), None)
            if start:
                self.samples.append(float(ev.get("Timestamp") or 0) - start)
        elif name == "Hangup":
            self._started.pop(ev.get("Uniqueid", ""), None)

    def summary(self) -> dict:
        ms = [s * 1000 for s in self.samples]
        return {"routes": len(ms), **{k + "_ms": v for k, v in
                                      percentiles(ms, 0.5, 0.99, 1.0).items()}}


def process_usage(pid: int | None = None) -> dict:
    """CPU seconds and peak resident memory of a process (this one by default)."""
    if pid is None:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024}
    return proc_usage(pid)


def proc_usage(pid: int) -> dict:
    """The same for another process, from /proc (e.g. Asterisk, for benchmarks)."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return {"cpu_s": cpu, "peak_rss_mb": peak}


def write_snapshot(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, default=str))
    os.replace(tmp, path)

"""Figures from Asterisk's queue_log alone, as the queue tools sites already own build them
(QueueMetrics and the like): app_queue's own events only, callcore's `CC…` lines ignored.

Per queue, a call is one ENTERQUEUE (its first in that queue); then CONNECT (answered,
with the hold time in whole seconds), ABANDON, EXITWITHTIMEOUT, EXITEMPTY or EXITWITHKEY
(with the wait). COMPLETEAGENT / COMPLETECALLER and the transfer events end an answered
call and add nothing here. The counters are `queues.stats`' (so `Figures` gives answer
rate, SL15 and the average wait by the same definitions as the store-based report).
docs/figures.md says which events callcore's calls leave and where the two differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from queues.stats import COUNTERS, Figures

_EXITS = {
    "ABANDON": ("abandoned", 2),  # position|origposition|waittime
    "EXITWITHTIMEOUT": ("timeout", 2),
    "EXITEMPTY": ("failed", 2),
    "EXITWITHKEY": ("failed", 3),  # key|position|origposition|waittime
}


@dataclass
class QueueStint:
    """One call in one queue, from its ENTERQUEUE line."""

    callid: str
    queue: str
    entered: float
    outcome: str = ""  # answered | abandoned | timeout | failed; empty while waiting
    wait: float | None = None
    agent: str = ""


def _int(text: str) -> float | None:
    try:
        return float(int(text))
    except ValueError:
        return None


def stints(lines: Iterable[str], start: float, end: float) -> dict[tuple[str, str], QueueStint]:
    """The queue stints that entered in [start, end), by (callid, queue); bad lines skipped."""
    out: dict[tuple[str, str], QueueStint] = {}
    for line in lines:
        parts = line.rstrip("\n").split("|")
        if len(parts) < 5:
            continue
        epoch = _int(parts[0].split(".")[0])
        callid, queue, agent, event, data = parts[1], parts[2], parts[3], parts[4], parts[5:]
        if epoch is None or queue in ("", "NONE"):
            continue
        key = (callid, queue)
        if event == "ENTERQUEUE":
            if key not in out and start <= epoch < end:
                out[key] = QueueStint(callid, queue, epoch)
            continue
        stint = out.get(key)
        if stint is None or stint.outcome:
            continue
        if event == "CONNECT" and data:
            stint.outcome, stint.wait, stint.agent = "answered", _int(data[0]), agent
        elif event in _EXITS:
            outcome, i = _EXITS[event]
            stint.outcome = outcome
            stint.wait = _int(data[i]) if len(data) > i else None
    return out


def figures(
    lines: Iterable[str], start: float, end: float, answer_seconds: int = 15
) -> dict[str, Figures]:
    """Per queue, `queues.stats.Figures` from queue_log's stints."""
    per: dict[str, dict[str, int]] = {}
    for stint in stints(lines, start, end).values():
        c = per.setdefault(stint.queue, dict.fromkeys(COUNTERS, 0))
        c["offered"] += 1
        if stint.outcome == "answered":
            wait = stint.wait or 0.0
            c["answered"] += 1
            c["wait_ms"] += round(wait * 1000)
            c["wait_n"] += 1
            c["within_sl"] += wait <= answer_seconds
        elif stint.outcome:
            c[stint.outcome] += 1
    return {q: Figures.from_counters(c) for q, c in per.items()}


def read(path: Path, start: float, end: float, answer_seconds: int = 15) -> dict[str, Figures]:
    with path.open(encoding="utf-8", errors="replace") as f:
        return figures(f, start, end, answer_seconds)

"""Service figures, defined once (docs/figures.md) and used by the CLI, the demo and the API.

- offered: calls that reached callcore for that number or queue (every stored call).
- answered: a human answered (a 12345 seat, or the 12366 sub-centre over its trunk).
- abandoned: the caller hung up before a human answered.
- SL15: answered within `answer_seconds` of joining the queue, as a share of offered.
- answer rate: answered / offered.
- wait: seconds from joining the queue to a human answering (answered calls).
- talk: seconds from answer to the end of the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from callcore.records import CallRecord, Outcome


@dataclass
class Figures:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    timeout: int = 0
    failed: int = 0
    within_sl: int = 0
    in_progress: int = 0
    waits: list[float] = field(default_factory=list)
    talks: list[float] = field(default_factory=list)

    def add(self, rec: CallRecord, answer_seconds: int) -> None:
        self.offered += 1
        if rec.answered_at is not None:
            self.answered += 1
            wait = rec.wait_seconds or 0.0
            self.waits.append(wait)
            if wait <= answer_seconds:
                self.within_sl += 1
            if rec.talk_seconds is not None:
                self.talks.append(rec.talk_seconds)
        elif rec.outcome is Outcome.ABANDONED:
            self.abandoned += 1
        elif rec.outcome is Outcome.TIMEOUT:
            self.timeout += 1
        elif rec.outcome is Outcome.FAILED:
            self.failed += 1
        else:
            self.in_progress += 1

    @property
    def sl(self) -> float | None:
        return self.within_sl / self.offered if self.offered else None

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.offered if self.offered else None

    @property
    def avg_wait(self) -> float | None:
        return sum(self.waits) / len(self.waits) if self.waits else None

    @property
    def max_wait(self) -> float | None:
        return max(self.waits) if self.waits else None

    @property
    def avg_talk(self) -> float | None:
        return sum(self.talks) / len(self.talks) if self.talks else None

    def as_dict(self) -> dict:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "timeout": self.timeout,
            "failed": self.failed,
            "in_progress": self.in_progress,
            "sl15": self.sl,
            "answer_rate": self.answer_rate,
            "avg_wait": self.avg_wait,
            "max_wait": self.max_wait,
            "avg_talk": self.avg_talk,
        }


def group(
    records: Iterable[CallRecord], key: Callable[[CallRecord], str], answer_seconds: int = 15
) -> dict[str, Figures]:
    out: dict[str, Figures] = {}
    for rec in records:
        out.setdefault(key(rec), Figures()).add(rec, answer_seconds)
    return out

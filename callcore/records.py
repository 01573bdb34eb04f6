"""The call record: one per call (keyed by Linkedid), built by the tracker, kept by the store.

A record is written whenever it changes (entered, answered, ended), always whole, stamped
with `as_of`, the Asterisk timestamp of the newest event it reflects. The store applies a
record only if it is not older than what it holds, so replaying events or journal entries
changes nothing; an ended record always closes an open row, and an open one never reopens
an ended row, whatever their `as_of` (`callcore.store.db`).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum


class Outcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    TRANSFERRED = "transferred"
    TIMEOUT = "timeout"
    FAILED = "failed"


@dataclass
class CallRecord:
    linkedid: str
    caller_number: str = ""
    caller_name: str = ""
    dialed_number: str = ""  # as the carrier delivered it
    hotline: str = ""  # directory number it resolved to; empty when unknown
    hotline_name: str = ""
    route: str = ""  # queue name, or trunk:<id>
    priority: int = 0
    entered_at: datetime | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: float | None = None  # in queue until answered or abandoned
    talk_seconds: float | None = None
    seat: str = ""  # seat id (or trunk id when the sub-centre answered)
    outcome: Outcome | None = None  # set once known (a transfer, before the end); final at end
    transfer_target: str = ""
    hangup_cause: int | None = None
    fallback: bool = False  # routed by the static dialplan, not by FastAGI
    affinity: bool = False  # 首接负责制: offered first to the seat of the caller's open request
    flags: list[str] = field(default_factory=list)
    reason: str = ""  # why the call went where it went
    as_of: float = 0.0  # Asterisk epoch seconds of the newest event reflected

    def to_dict(self) -> dict:
        d = asdict(self)
        d["outcome"] = self.outcome.value if self.outcome else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CallRecord:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for k in ("entered_at", "queued_at", "answered_at", "ended_at"):
            if isinstance(kw.get(k), str):
                kw[k] = datetime.fromisoformat(kw[k])
        if kw.get("outcome"):
            kw["outcome"] = Outcome(kw["outcome"])
        return cls(**kw)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(value: str, limit: int) -> str:
    """Caller-supplied text made safe to store and show: controls replaced, length capped."""
    return _CONTROL.sub("\ufffd", value or "")[:limit]


def from_epoch(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


# The field names `callcore calls --json` prints, in this order (scripts read them by name).
PUBLIC_FIELDS = (
    "linkedid",
    "caller_number",
    "caller_name",
    "dialed_number",
    "hotline",
    "hotline_name",
    "route",
    "priority",
    "entered_at",
    "queued_at",
    "answered_at",
    "ended_at",
    "wait_seconds",
    "talk_seconds",
    "seat",
    "outcome",
    "transfer_target",
    "hangup_cause",
    "fallback",
    "affinity",
    "flags",
    "reason",
)

"""CallRecord <-> row and <-> journal dict, with the store's input hygiene.

Records carry carrier-controlled strings (caller number and name), so before anything is
journaled or written the store makes every record storable, and storable *identically* on
SQLite and PostgreSQL: NUL characters (PostgreSQL text and JSONB refuse them) and lone
surrogates (not encodable as UTF-8) become U+FFFD, identifier fields longer than their column
are clipped, non-finite durations become NULL and integers are clamped to 32 bits. A record
that cannot be stored meaningfully (no or an overlong Linkedid, an unknown outcome, no finite
`as_of`) raises `RejectedRecord` rather than poisoning the writer's retry loop.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from callcore.records import CallRecord, Outcome
from callcore.store.models import (
    HOTLINE_LEN,
    LINKEDID_LEN,
    NUMBER_LEN,
    RECORD_COLUMNS,
    SEAT_LEN,
)

_LIMITS: dict[str, int | None] = {
    "caller_number": NUMBER_LEN,
    "caller_name": None,
    "dialed_number": NUMBER_LEN,
    "hotline": HOTLINE_LEN,
    "hotline_name": None,
    "route": NUMBER_LEN,
    "seat": SEAT_LEN,
    "transfer_target": NUMBER_LEN,
    "reason": None,
}
_TIMES = ("entered_at", "queued_at", "answered_at", "ended_at")
_INT32 = (-(2**31), 2**31 - 1)
_SURROGATE = re.compile("[\ud800-\udfff]")


class RejectedRecord(ValueError):
    """The record cannot be stored as it is; it is set aside instead of retried forever."""


def clean_text(value: Any) -> str:
    """A string both databases and a UTF-8 file store unchanged."""
    s = value if isinstance(value, str) else ("" if value is None else str(value))
    if s.isascii():
        return s.replace("\x00", "\ufffd") if "\x00" in s else s
    if "\x00" in s:
        s = s.replace("\x00", "\ufffd")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = _SURROGATE.sub("\ufffd", s)
    return s


def _int32(value: Any, field: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError) as e:
        raise RejectedRecord(f"{field}={value!r} is not an integer") from e
    return min(max(n, _INT32[0]), _INT32[1])


def _duration(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as e:
            raise RejectedRecord(f"{field}={value[:80]!r} is not an ISO datetime") from e
    if not isinstance(value, datetime):
        raise RejectedRecord(f"{field}={value!r} is not a datetime")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _outcome(value: Any) -> Outcome | None:
    if value is None or value == "":
        return None
    try:
        return Outcome(value)
    except ValueError as e:
        raise RejectedRecord(f"unknown outcome {value!r}") from e


def clean_record(rec: CallRecord) -> CallRecord:
    """A storable copy of `rec` (see the module docstring), or RejectedRecord."""
    linkedid = clean_text(rec.linkedid)
    if not linkedid or len(linkedid) > LINKEDID_LEN:
        raise RejectedRecord(f"linkedid must be 1..{LINKEDID_LEN} characters: {linkedid[:80]!r}")
    try:
        as_of = float(rec.as_of)
    except (TypeError, ValueError) as e:
        raise RejectedRecord(f"as_of={rec.as_of!r} is not a number") from e
    if not math.isfinite(as_of):
        raise RejectedRecord(f"as_of={rec.as_of!r} is not finite")
    kw: dict[str, Any] = {"linkedid": linkedid, "as_of": as_of}
    for name, limit in _LIMITS.items():
        s = clean_text(getattr(rec, name))
        kw[name] = s[:limit] if limit else s
    for name in _TIMES:
        kw[name] = _time(getattr(rec, name), name)
    try:
        kw["wait_seconds"] = _duration(rec.wait_seconds)
        kw["talk_seconds"] = _duration(rec.talk_seconds)
    except (TypeError, ValueError) as e:
        raise RejectedRecord(f"bad duration: {e}") from e
    kw["priority"] = _int32(rec.priority, "priority")
    kw["hangup_cause"] = None if rec.hangup_cause is None else _int32(rec.hangup_cause, "cause")
    kw["fallback"] = bool(rec.fallback)
    flags = rec.flags
    if not isinstance(flags, list | tuple):
        flags = [flags] if flags else []
    kw["flags"] = [clean_text(f) for f in flags]
    kw["outcome"] = _outcome(rec.outcome)
    return CallRecord(**kw)


def to_journal(rec: CallRecord) -> dict[str, Any]:
    """The record as a JSON-ready dict (datetimes as ISO 8601; cheaper than asdict)."""
    d = {name: getattr(rec, name) for name in RECORD_COLUMNS}
    for name in _TIMES:
        if d[name] is not None:
            d[name] = d[name].isoformat()
    d["outcome"] = rec.outcome.value if rec.outcome else None
    d["flags"] = list(rec.flags)
    return d


def from_journal(d: dict[str, Any]) -> CallRecord:
    return CallRecord.from_dict(d)


def to_row(rec: CallRecord) -> dict[str, Any]:
    """Bind parameters for one `calls` row; `rec` must have been through clean_record."""
    d = {name: getattr(rec, name) for name in RECORD_COLUMNS}
    d["outcome"] = rec.outcome.value if rec.outcome else None
    d["flags"] = list(rec.flags)
    return d


def from_row(row: Any) -> CallRecord:
    """A CallRecord from a `calls` row mapping (extra columns are ignored)."""
    kw = {name: row[name] for name in RECORD_COLUMNS}
    kw["outcome"] = Outcome(kw["outcome"]) if kw["outcome"] else None
    kw["flags"] = list(kw["flags"] or [])
    return CallRecord(**kw)

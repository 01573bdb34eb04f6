"""CallRecord -> clean row dict (journal entry and database row) -> CallRecord.

Records carry carrier-controlled strings (caller number and name), so before anything is
journaled or written the store makes every record storable, and storable *identically* on
SQLite and PostgreSQL: NUL characters (PostgreSQL text and JSONB refuse them) and lone
surrogates (not encodable as UTF-8) become U+FFFD, identifier fields longer than their column
are clipped, non-finite durations become NULL, integers are clamped to 32 bits and naive
datetimes are taken as UTC. A record that cannot be stored meaningfully (no or an overlong
Linkedid, an unknown outcome, no finite `as_of`) raises `RejectedRecord` rather than
poisoning the writer's retry loop.

The clean row is a plain dict keyed like `CallRecord.to_dict()`, so the journal holds
exactly what goes to the database and `CallRecord.from_dict` reads it back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from datetime import UTC, datetime
from math import isfinite
from typing import Any

from callcore.records import CallRecord, Outcome
from callcore.store.models import (
    HOTLINE_LEN,
    LINKEDID_LEN,
    NUMBER_LEN,
    OUTCOMES,
    RECORD_COLUMNS,
    SEAT_LEN,
)

_TEXT_LIMITS: dict[str, int | None] = {
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
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_DEFAULTS = {
    f.name: (f.default if f.default is not MISSING else f.default_factory())  # type: ignore[misc]
    for f in fields(CallRecord)
    if f.default is not MISSING or f.default_factory is not MISSING
}
assert set(RECORD_COLUMNS) == {f.name for f in fields(CallRecord)}, "model and CallRecord differ"


class RejectedRecord(ValueError):
    """The record cannot be stored as it is; it is set aside instead of retried forever."""


def clean_text(value: Any) -> str:
    """A string both databases and a UTF-8 file store unchanged."""
    s = value if type(value) is str else ("" if value is None else str(value))
    if "\x00" in s:
        s = s.replace("\x00", "\ufffd")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            s = _SURROGATE.sub("\ufffd", s)
    return s


def _int32(value: Any, name: str) -> int:
    try:
        n = int(value or 0)
    except (TypeError, ValueError, OverflowError) as e:
        raise RejectedRecord(f"{name}={value!r:.80} is not an integer") from e
    return _INT32_MIN if n < _INT32_MIN else _INT32_MAX if n > _INT32_MAX else n


def _duration(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError) as e:
        raise RejectedRecord(f"{name}={value!r:.80} is not a number") from e
    return f if math.isfinite(f) else None


def clean_time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as e:
            raise RejectedRecord(f"{name}={value!r:.80} is not an ISO datetime") from e
    if not isinstance(value, datetime):
        raise RejectedRecord(f"{name}={value!r:.80} is not a datetime")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def clean_row(src: CallRecord | Mapping[str, Any]) -> dict[str, Any]:
    """The storable row of a record (or of a record dict, e.g. a journal entry).

    Raises RejectedRecord when the record cannot be stored (see the module docstring).
    """
    d: Mapping[str, Any] = src if isinstance(src, Mapping) else vars(src)
    get = d.get
    linkedid = _linkedid(get("linkedid"))
    as_of = _as_of(get)
    outcome = _outcome(get("outcome"))
    row: dict[str, Any] = {"linkedid": linkedid}
    for name, limit in _TEXT_LIMITS.items():
        s = get(name, "")
        if type(s) is not str or "\x00" in s or not s.isascii():
            s = clean_text(s)
        row[name] = s[:limit] if limit and len(s) > limit else s
    for name in _TIMES:
        t = get(name)
        fast = t is None or (type(t) is datetime and t.tzinfo is UTC)
        row[name] = t if fast else clean_time(t, name)
    # Fast paths for what the tracker sends; the helpers deal with everything else.
    n = get("priority", 0)
    ok = type(n) is int and _INT32_MIN <= n <= _INT32_MAX
    row["priority"] = n if ok else _int32(n, "priority")
    for name in ("wait_seconds", "talk_seconds"):
        f = get(name)
        row[name] = f if f is None or (type(f) is float and isfinite(f)) else _duration(f, name)
    n = get("hangup_cause")
    ok = n is None or (type(n) is int and _INT32_MIN <= n <= _INT32_MAX)
    row["hangup_cause"] = n if ok else _int32(n, "hangup_cause")
    row["fallback"] = bool(get("fallback", False))
    row["affinity"] = bool(get("affinity", False))
    row["flags"] = _flags(get("flags"))
    row["outcome"] = outcome
    row["as_of"] = as_of
    return row


# The fields a record cannot be stored without; each raises RejectedRecord.
def _linkedid(value: Any) -> str:
    linkedid = clean_text(value)
    if not linkedid or len(linkedid) > LINKEDID_LEN:
        raise RejectedRecord(f"linkedid must be 1..{LINKEDID_LEN} characters: {linkedid!r:.80}")
    return linkedid


def _as_of(get: Callable[..., Any]) -> float:
    try:
        as_of = float(get("as_of", 0.0))
    except (TypeError, ValueError) as e:
        raise RejectedRecord(f"as_of={get('as_of')!r:.80} is not a number") from e
    if not math.isfinite(as_of):
        raise RejectedRecord(f"as_of={as_of!r} is not finite")
    return as_of


def _outcome(outcome: Any) -> str | None:
    if outcome is not None:
        outcome = outcome.value if isinstance(outcome, Outcome) else (outcome or None)
        if outcome is not None and outcome not in OUTCOMES:
            raise RejectedRecord(f"unknown outcome {outcome!r:.80}")
    return outcome


def _flags(flags: Any) -> list[str]:
    """A list of clean strings; one flag given alone counts as a list of one."""
    if not flags:
        return []
    if isinstance(flags, str) or not isinstance(flags, list | tuple):
        flags = [flags]
    return [clean_text(f) for f in flags]


def row_to_record(row: Mapping[str, Any]) -> CallRecord:
    """A CallRecord from a clean row or a `calls` result row (extra keys are ignored)."""
    kw = {name: row[name] if name in row else _DEFAULTS[name] for name in RECORD_COLUMNS}
    kw["outcome"] = Outcome(kw["outcome"]) if kw["outcome"] else None
    kw["flags"] = list(kw["flags"] or [])
    return CallRecord(**kw)


def clean_record(rec: CallRecord | Mapping[str, Any]) -> CallRecord:
    """The record as the store keeps it (what a round trip through the store gives back)."""
    return row_to_record(clean_row(rec))

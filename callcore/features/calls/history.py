"""A caller's previous calls, for the screen pop a seat sees when the phone rings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from callcore.features.calls.present import call_json
from callcore.store import db

HISTORY_DAYS = 90  # how far back a screen pop looks
HISTORY_CALLS = 5
FIELDS = ("linkedid", "entered_at", "hotline", "hotline_name", "route", "seat", "outcome")


def previous_calls(store: Engine, caller: str, exclude: str, tz: str) -> list[dict[str, Any]]:
    """The caller's latest calls before `exclude`, newest first (run in a thread)."""
    since = datetime.now(UTC) - timedelta(days=HISTORY_DAYS)
    records = db.query_calls(store, since, None, caller)
    out = []
    for rec in reversed(records):
        if rec.linkedid == exclude:
            continue
        j = call_json(rec, tz)
        out.append({k: j[k] for k in FIELDS})
        if len(out) == HISTORY_CALLS:
            break
    return out

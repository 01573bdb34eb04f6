"""The daily batch of work orders for the province's exchange: JSON Lines and CSV.

A day's batch holds every order with a history entry on that local day (registered, moved
or closed), as it stands when the batch is written, with its calls from the store and, in
the JSON Lines file, its whole history. The CSV has one row per order and call (an order
without calls has one row), UTF-8 with a BOM so spreadsheets read the Chinese. The field
list is docs/workorders-export.md. Files are written to a temporary name and renamed, so a
reader never sees half a batch; writing is synchronous (run it in a thread).
"""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from callcore.features.workorders.model import Event, WorkOrder, label
from callcore.features.workorders.service import _event, _from_row, events_t, orders_t
from callcore.store import audit
from callcore.store.models import Call

calls_t = Call.__table__

FORMAT_VERSION = 1
ORDER_FIELDS = (
    "id", "state", "state_label", "hotline", "seat", "registered_at", "caller_number",
    "caller_name", "contact_number", "confidential", "content", "type", "urgency", "address",
    "district", "class_id", "lead_unit", "assist_units", "dispatched_at", "deadline_at",
    "deadline_estimated", "signed_at", "replied_at", "followed_up_at", "closed_at", "result",
    "return_reason", "satisfaction", "returns", "extensions", "chases", "reopens", "escalated",
    "master_id", "calls_in", "calls_out", "recordings", "ratings", "updated_at",
)  # fmt: skip
CALL_FIELDS = (
    "linkedid", "dialed_number", "hotline", "entered_at", "answered_at", "ended_at",
    "wait_seconds", "talk_seconds", "seat", "outcome",
)  # fmt: skip
EVENT_FIELDS = ("seq", "at", "actor", "role", "unit", "action", "from_state", "to_state", "note")


@dataclass(frozen=True)
class Batch:
    day: date
    orders: int
    jsonl: Path
    csv: Path


def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """The local day [start, end) in the site's timezone."""
    start = datetime.combine(day, time(), ZoneInfo(tz))
    return start, start + timedelta(days=1)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def order_fields(order: WorkOrder) -> dict[str, Any]:
    data = order.model_dump(mode="json")
    data["state_label"] = label(order.state)
    return {k: data[k] for k in ORDER_FIELDS}


def _event_fields(e: Event) -> dict[str, Any]:
    out = {k: _iso(getattr(e, k)) for k in EVENT_FIELDS}
    out["from_state"] = e.from_state.value if e.from_state else ""
    out["to_state"], out["action"] = e.to_state.value, e.action.value
    return {**out, "detail": e.detail}


def collect(engine: Engine, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """The orders with a history entry in [since, until), each with its calls and history."""
    touched = select(events_t.c.order_id).where(events_t.c.at >= since, events_t.c.at < until)
    with engine.connect() as conn:
        rows = conn.execute(
            select(orders_t).where(orders_t.c.id.in_(touched)).order_by(orders_t.c.id)
        ).mappings()
        orders = [_from_row(r) for r in rows]
        ids = [o.id for o in orders]
        history: dict[str, list[Event]] = {}
        for r in conn.execute(
            select(events_t).where(events_t.c.order_id.in_(ids)).order_by(events_t.c.seq)
        ).mappings():
            history.setdefault(r["order_id"], []).append(_event(r))
        wanted = {lid for o in orders for lid in o.calls_in}
        calls = {
            r["linkedid"]: {k: _iso(r[k]) for k in CALL_FIELDS}
            for r in conn.execute(select(calls_t).where(calls_t.c.linkedid.in_(wanted))).mappings()
        }
    return [
        {
            **order_fields(o),
            "calls": [calls[lid] for lid in o.calls_in if lid in calls],
            "history": [_event_fields(e) for e in history.get(o.id, ())],
        }
        for o in orders
    ]


def to_jsonl(items: Iterable[Mapping[str, Any]], day: date) -> str:
    head = {"format": "callcore.workorders", "version": FORMAT_VERSION, "day": day.isoformat()}
    lines = [json.dumps({"batch": head}, ensure_ascii=False)]
    lines += [json.dumps(item, ensure_ascii=False) for item in items]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else value


def to_csv(items: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([*ORDER_FIELDS, *(f"call_{k}" for k in CALL_FIELDS)])
    for item in items:
        head = [_cell(item[k]) for k in ORDER_FIELDS]
        for call in item["calls"] or [dict.fromkeys(CALL_FIELDS)]:
            w.writerow([*head, *(_cell(call[k]) for k in CALL_FIELDS)])
    return out.getvalue()


def _write(path: Path, text: str, encoding: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(text, encoding=encoding)
    os.replace(tmp, path)


def paths(folder: Path, day: date) -> tuple[Path, Path]:
    stem = f"workorders-{day.isoformat()}"
    return folder / f"{stem}.jsonl", folder / f"{stem}.csv"


def write_day(engine: Engine, day: date, tz: str, folder: Path, actor: str) -> Batch:
    """Write the day's batch into `folder` (replacing one there) and audit it."""
    since, until = day_bounds(day, tz)
    items = collect(engine, since, until)
    folder.mkdir(parents=True, exist_ok=True)
    jsonl, csv_path = paths(folder, day)
    _write(jsonl, to_jsonl(items, day), "utf-8")
    _write(csv_path, to_csv(items), "utf-8-sig")
    audit.write(engine, actor, "", "workorder_export", day.isoformat(), {"orders": len(items)})
    return Batch(day, len(items), jsonl, csv_path)


def ensure_yesterday(engine: Engine, tz: str, folder: Path, now: datetime) -> Batch | None:
    """The engine's daily step: write the day before's batch unless it is there already."""
    day = now.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)
    if all(p.exists() for p in paths(folder, day)):
        return None
    return write_day(engine, day, tz, folder, "engine")

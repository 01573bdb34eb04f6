"""Records the store keeps besides calls, on the same durable path (journal, then database).

Seat state changes, call legs (the transfer chain), enterprise contacts and
the 12366 sub-centre's call records all go through `StoreWriter.submit`, like call
records: one way of doing durable writes. A record of another kind is a dataclass with a
`STORE_KIND` class attribute (or, from the journal, a dict with a `_kind` key); anything
else is a call record.

Every kind is written idempotently: rows whose key exists are replaced only by a record
that is not older (`as_of`), so replays change nothing, exactly like calls. Cleaning is
derived from the table's columns (text clipped to its length, datetimes to aware UTC,
integers to 32 bits), so both databases keep the same value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from typing import Any

from sqlalchemy import Boolean, Connection, Float, Integer, String, Table, UnicodeText
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from callcore.records import CallRecord
from callcore.store.db import upsert_rows
from callcore.store.models import (
    AuditEntry,
    CallLeg,
    EnterpriseContact,
    SeatEvent,
    SubcentreCall,
    UTCDateTime,
)
from callcore.store.rows import RejectedRecord, clean_row, clean_text, clean_time

KIND = "_kind"
_INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class StoreKind:
    name: str
    table: Table

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.table.primary_key.columns)


KINDS: dict[str, StoreKind] = {
    k.name: k
    for k in (
        StoreKind("seat_event", SeatEvent.__table__),  # type: ignore[arg-type]
        StoreKind("call_leg", CallLeg.__table__),  # type: ignore[arg-type]
        StoreKind("enterprise", EnterpriseContact.__table__),  # type: ignore[arg-type]
        StoreKind("subcentre_call", SubcentreCall.__table__),  # type: ignore[arg-type]
        StoreKind("audit", AuditEntry.__table__),  # type: ignore[arg-type]  # supervisor actions
    )
}


def register(kind: StoreKind) -> StoreKind:
    """Add a feature's kind (its `kinds.py` calls this when imported); idempotent.

    The engine imports every feature's kinds before it starts the writer, so journal
    entries of those kinds replay after a restart.
    """
    held = KINDS.get(kind.name)
    if held is not None and held.table is not kind.table:
        raise ValueError(f"store kind {kind.name!r} is already {held.table.name!r}")
    KINDS[kind.name] = kind
    return kind


def kind_of(item: Any) -> str | None:
    """The kind of a record or journal entry; None for a call record."""
    if isinstance(item, CallRecord):
        return None
    if isinstance(item, Mapping):
        return item.get(KIND)
    return getattr(item, "STORE_KIND", None)


def _as_mapping(item: Any) -> Mapping[str, Any]:
    if isinstance(item, Mapping):
        return item
    if is_dataclass(item):
        return {f.name: getattr(item, f.name) for f in fields(item)}
    raise RejectedRecord(f"not a storable record: {type(item).__name__}")


def _value(col: Any, value: Any) -> Any:
    t = col.type
    if isinstance(t, UTCDateTime):
        return clean_time(value, col.name)
    if isinstance(t, Boolean):
        return bool(value)
    if isinstance(t, Integer):
        try:
            n = int(value or 0)
        except (TypeError, ValueError, OverflowError) as e:
            raise RejectedRecord(f"{col.name}={value!r:.80} is not an integer") from e
        return min(max(n, _INT32[0]), _INT32[1])
    if isinstance(t, Float):
        try:
            f = float(value)
        except (TypeError, ValueError) as e:
            raise RejectedRecord(f"{col.name}={value!r:.80} is not a number") from e
        if not math.isfinite(f):
            raise RejectedRecord(f"{col.name}={f!r} is not finite")
        return f
    if isinstance(t, String | UnicodeText):
        s = clean_text(value)
        length = getattr(t, "length", None)
        return s[:length] if length and len(s) > length else s
    return value


def clean_kind(item: Any) -> dict[str, Any]:
    """The storable row of a record of another kind, tagged with its kind.

    Raises RejectedRecord for an unknown kind, a missing key, or a value that is not what
    its column holds.
    """
    name = kind_of(item)
    kind = KINDS.get(name or "")
    if kind is None:
        raise RejectedRecord(f"unknown record kind {name!r:.40}")
    src = _as_mapping(item)
    row: dict[str, Any] = {KIND: kind.name}
    for col in kind.table.columns:
        value = src.get(col.name)
        if value is None:
            if col.nullable:
                row[col.name] = None
                continue
            if col.default is None:  # keys, as_of and the kind's own facts
                raise RejectedRecord(f"{kind.name}: {col.name} is required")
            value = col.default.arg
        row[col.name] = _value(col, value)
    for name in kind.key:
        if row[name] in ("", None):
            raise RejectedRecord(f"{kind.name}: {name} must not be empty")
    return row


def clean_any(item: Any) -> dict[str, Any]:
    """The writer's cleaning step for any record: a call row, or a tagged row of a kind."""
    return clean_row(item) if kind_of(item) is None else clean_kind(item)


def _newest_per_key(kind: StoreKind, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    best: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in kind.key)
        held = best.get(key)
        if held is None or row["as_of"] >= held["as_of"]:
            best[key] = row
    return list(best.values())


def _upsert_kind(conn: Connection, kind: StoreKind, rows: list[dict[str, Any]]) -> int:
    batch = [{k: v for k, v in r.items() if k != KIND} for r in _newest_per_key(kind, rows)]
    if not batch:
        return 0
    conn.execute(_upsert_statement(kind.name, conn.dialect.name == "postgresql"), batch)
    return len(batch)


@cache
def _upsert_statement(kind_name: str, pg: bool) -> Insert:
    """Built once per kind: building it per batch (the `excluded` alias and its column
    proxies) was a fifth of the engine's CPU under load (docs/benchmarks.md)."""
    kind = KINDS[kind_name]
    table = kind.table
    ins = (postgresql if pg else sqlite).insert(table)
    return ins.on_conflict_do_update(
        index_elements=list(kind.key),
        set_={c.name: ins.excluded[c.name] for c in table.columns if c.name not in kind.key},
        where=ins.excluded.as_of >= table.c.as_of,
    )


def upsert_any(conn: Connection, rows: Iterable[dict[str, Any]]) -> int:
    """Write clean rows of any kind in the caller's transaction; returns the rows sent."""
    calls: list[dict[str, Any]] = []
    others: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        name = row.get(KIND)
        if name is None:
            calls.append(row)
        else:
            others.setdefault(name, []).append(row)
    sent = upsert_rows(conn, calls) if calls else 0
    for name, group in others.items():
        sent += _upsert_kind(conn, KINDS[name], group)
    return sent

"""The request store's database side: engines, migrations, the idempotent upsert and queries.

Everything here is synchronous SQLAlchemy; the asyncio side reaches it through
`StoreWriter` (writes) or a thread (`asyncio.to_thread(query_calls, ...)`) for reads.
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    URL,
    ColumnElement,
    Connection,
    Dialect,
    Engine,
    Insert,
    Text,
    and_,
    bindparam,
    case,
    column,
    create_engine,
    event,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from callcore.records import CallRecord, Outcome
from callcore.store.models import RECORD_COLUMNS, Call, UTCDateTime
from callcore.store.rows import clean_row, row_to_record

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
calls = Call.__table__
_MIGRATION_LOCK = 0x12345  # PostgreSQL advisory lock id: one migrator at a time


def _normalize_url(url: str | URL) -> URL:
    u = make_url(url)
    if u.drivername in ("postgres", "postgresql"):
        u = u.set(drivername="postgresql+psycopg2")
    return u


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def make_engine(url: str | URL, *, busy_timeout_ms: int = 5000, **kwargs: Any) -> Engine:
    """An engine configured for the store.

    SQLite: WAL (readers never block the writer), `synchronous=FULL` (a committed batch is
    on disk before the journal checkpoint moves past it), a busy timeout, foreign keys.
    PostgreSQL (psycopg2): pre-ping so connections that died with the server are replaced,
    a connect timeout so an unreachable server fails fast instead of hanging the writer.
    """
    u = _normalize_url(url)
    kwargs.setdefault("json_serializer", _json)
    if u.get_backend_name() == "sqlite":
        memory = u.database in (None, "", ":memory:")
        if memory:
            kwargs.setdefault("poolclass", StaticPool)
        else:
            try:
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # reported by the first connection attempt
        connect_args = {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
        connect_args.update(kwargs.pop("connect_args", {}))
        engine = create_engine(u, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            try:
                if not memory:
                    cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
                cur.execute("PRAGMA foreign_keys=ON")
            finally:
                cur.close()

        return engine
    if u.get_backend_name() == "postgresql":
        connect_args = {
            "connect_timeout": 5,
            "application_name": "callcore",
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
        connect_args.update(kwargs.pop("connect_args", {}))
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("client_encoding", "utf8")
        return create_engine(u, connect_args=connect_args, **kwargs)
    raise ValueError(f"unsupported database {u.get_backend_name()!r}: use sqlite or postgresql")


def alembic_config() -> Config:
    """An Alembic config for the bundled migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`; a no-op when it is already there."""
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(text(f"pg_advisory_xact_lock({_MIGRATION_LOCK})")))
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        if engine is not target:
            engine.dispose()


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _supersedes(new: Any, held: Any, *, strictly: bool = False) -> ColumnElement[bool]:
    """SQL: the record `new` replaces the stored row `held` (`newest_per_call` in Python).

    Records rank by (ended, `as_of`): an ended record closes an open row whatever their
    `as_of` (a reconciled end, stamped from queue_log's milliseconds, may be older than the
    last open snapshot, stamped from AMI's microseconds); an open record never reopens an
    ended row; otherwise the newer `as_of` wins, an equal one rewrites unless `strictly`.
    """
    closes = and_(new.ended_at.is_not(None), held.ended_at.is_(None))
    reopens = and_(new.ended_at.is_(None), held.ended_at.is_not(None))
    newer = new.as_of > held.as_of if strictly else new.as_of >= held.as_of
    return or_(closes, and_(~reopens, newer))


def _update_set(excluded: Any) -> dict[str, Any]:
    set_: dict[str, Any] = {name: excluded[name] for name in RECORD_COLUMNS if name != "linkedid"}
    # updated_at moves only when the row does: replaying a snapshot leaves the row as it was.
    set_["updated_at"] = case(
        (_supersedes(excluded, calls.c, strictly=True), excluded.updated_at),
        else_=calls.c.updated_at,
    )
    return set_


@cache
def _sqlite_upsert() -> Insert:
    """SQLite: one row of parameters per call, sent with the DB-API executemany."""
    ins = sqlite.insert(calls)
    return ins.on_conflict_do_update(
        index_elements=[calls.c.linkedid],
        set_=_update_set(ins.excluded),
        where=_supersedes(ins.excluded, calls.c),
    )


@cache
def _postgresql_upsert() -> Insert:
    """PostgreSQL: the batch as one JSON document, `INSERT … SELECT … FROM json_to_recordset`.

    SQLAlchemy 2.1 no longer folds an executemany of an ON CONFLICT DO UPDATE into one
    multi-row VALUES, and psycopg2's executemany is a round trip per row (~2,000 rows/s).
    Multi-row VALUES or unnest(arrays) spend most of their time in psycopg2 quoting every
    value and in the planner (~5,000 rows/s); one JSON parameter, encoded by orjson and
    parsed by the server into typed columns, is ~3 times faster (docs/decisions/store.md).
    """
    typed = [column(name, calls.c[name].type) for name in RECORD_COLUMNS]
    batch = (
        func.json_to_recordset(bindparam("batch", type_=Text()))
        .table_valued(*typed)
        .render_derived(name="batch", with_types=True)
    )
    now = bindparam("now", type_=UTCDateTime())
    ins = postgresql.insert(calls).from_select(
        [*RECORD_COLUMNS, "created_at", "updated_at"],
        select(*[batch.c[name] for name in RECORD_COLUMNS], now, now),
    )
    return ins.on_conflict_do_update(
        index_elements=[calls.c.linkedid],
        set_=_update_set(ins.excluded),
        where=_supersedes(ins.excluded, calls.c),
    )


def _rank(row: dict[str, Any]) -> tuple[bool, float]:
    return row["ended_at"] is not None, row["as_of"]


def newest_per_call(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per Linkedid: what applying `rows` one by one in order would leave.

    That is the last row of the highest rank (`_supersedes`: ended first, then `as_of`; an
    equal rank rewrites). Needed because one PostgreSQL statement may not touch the same
    row twice, and it saves work.
    """
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        held = best.get(row["linkedid"])
        if held is None or _rank(row) >= _rank(held):
            best[row["linkedid"]] = row
    return list(best.values())


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...]  # parameter order for qmark (SQLite); empty for named


_COMPILED: dict[tuple[str, str], _Compiled] = {}
_TIME_COLUMNS = frozenset(("entered_at", "queued_at", "answered_at", "ended_at"))


def _compiled_upsert(dialect: Dialect) -> _Compiled:
    """The SQLite upsert, compiled by SQLAlchemy once per dialect configuration."""
    key = (dialect.name, dialect.paramstyle)
    if key not in _COMPILED:
        keys = [*RECORD_COLUMNS, "created_at", "updated_at"]
        compiled = _sqlite_upsert().compile(dialect=dialect, column_keys=keys)
        positions = tuple(compiled.positiontup or ()) if compiled.positional else ()
        _COMPILED[key] = _Compiled(compiled.string, positions)
    return _COMPILED[key]


_SQLITE_ORDER = (*RECORD_COLUMNS, "created_at", "updated_at")
_SQLITE_TIMES = tuple(i for i, name in enumerate(RECORD_COLUMNS) if name in _TIME_COLUMNS)
_SQLITE_FLAGS = RECORD_COLUMNS.index("flags")
_record_values = operator.itemgetter(*RECORD_COLUMNS)


def _sqlite_params(batch: list[dict[str, Any]], positions: tuple[str, ...]) -> list[tuple]:
    """Rows as SQLAlchemy's SQLite types would bind them (tests compare the two)."""
    if positions != _SQLITE_ORDER:
        raise RuntimeError(f"unexpected parameter order of the compiled upsert: {positions}")
    now = _sqlite_time(datetime.now(UTC))
    out = []
    for row in batch:
        values = list(_record_values(row))
        for i in _SQLITE_TIMES:
            if values[i] is not None:
                values[i] = _sqlite_time(values[i])
        values[_SQLITE_FLAGS] = _json(values[_SQLITE_FLAGS])
        values += (now, now)
        out.append(tuple(values))
    return out


def _sqlite_time(value: datetime) -> str:
    """UTCDateTime on SQLite: naive UTC in SQLAlchemy's format, 2024-01-02 03:04:05.000006."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"


def upsert_rows(conn: Connection, rows: Iterable[dict[str, Any]]) -> int:
    """`upsert_calls` for rows already through `rows.clean_row` (the writer's path).

    SQLite: the statement is SQLAlchemy's, compiled once, and the parameters are bound here
    for the DB-API executemany rather than by SQLAlchemy's per-row type processing, which
    was more than half of the write cost. Clean rows hold only str/int/float/bool/None, UTC
    datetimes and lists of str, so that binding is small (tests compare it with
    SQLAlchemy's own). PostgreSQL: see `_postgresql_upsert`.
    """
    batch = newest_per_call(rows)
    if not batch:
        return 0
    if conn.dialect.name == "postgresql":
        # orjson: UTF-8, datetimes as ISO 8601 with offset, floats in shortest round-trip form.
        payload = orjson.dumps(batch).decode()
        conn.execute(_postgresql_upsert(), {"batch": payload, "now": datetime.now(UTC)})
    else:
        compiled = _compiled_upsert(conn.dialect)
        conn.exec_driver_sql(compiled.sql, _sqlite_params(batch, compiled.positions))
    return len(batch)


def upsert_calls(conn: Connection, records: Iterable[CallRecord]) -> int:
    """Insert or update the calls of `records` as one batch; returns the rows sent.

    `INSERT … ON CONFLICT (linkedid) DO UPDATE … WHERE <_supersedes>`: a record replaces
    the stored row only if it is not older (`as_of`), so replays and late, older snapshots
    change nothing, and an equal `as_of` rewrites the same values; but an ended record
    always closes an open row and an open one never reopens an ended row (`_supersedes`).
    Several snapshots of one call in the batch collapse to the newest first. Records are cleaned
    (`rows.clean_row`); an unstorable one raises `RejectedRecord` before any SQL is sent.
    Runs in the caller's transaction.
    """
    return upsert_rows(conn, [clean_row(r) for r in records])


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def query_calls(
    engine: Engine | Connection,
    since: datetime | None = None,
    until: datetime | None = None,
    caller: str | None = None,
    seat: str | None = None,
    outcome: Outcome | str | None = None,
    limit: int | None = None,
) -> list[CallRecord]:
    """Calls that entered in [since, until), optionally by caller number, seat and outcome.

    Ordered by `entered_at` (calls without one last), then Linkedid; naive datetimes are UTC.
    """
    stmt = select(calls)
    if since is not None:
        stmt = stmt.where(calls.c.entered_at >= _as_utc(since))
    if until is not None:
        stmt = stmt.where(calls.c.entered_at < _as_utc(until))
    if caller is not None:
        stmt = stmt.where(calls.c.caller_number == caller)
    if seat is not None:
        stmt = stmt.where(calls.c.seat == seat)
    if outcome is not None:
        stmt = stmt.where(calls.c.outcome == Outcome(outcome).value)
    stmt = stmt.order_by(calls.c.entered_at.asc().nulls_last(), calls.c.linkedid)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [row_to_record(r) for r in _fetch(engine, stmt)]


def get_call(engine: Engine | Connection, linkedid: str) -> CallRecord | None:
    """The stored record of one call, or None."""
    rows = _fetch(engine, select(calls).where(calls.c.linkedid == linkedid))
    return row_to_record(rows[0]) if rows else None


def _fetch(target: Engine | Connection, stmt: Any) -> list[Any]:
    if isinstance(target, Connection):
        return list(target.execute(stmt).mappings())
    with target.connect() as conn:
        return list(conn.execute(stmt).mappings())

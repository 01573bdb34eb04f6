"""The request store's database side: engines, migrations, the idempotent upsert and queries.

Everything here is synchronous SQLAlchemy; the asyncio side reaches it through
`StoreWriter` (writes) or a thread (`asyncio.to_thread(query_calls, ...)`) for reads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL, Connection, Engine, Insert, case, create_engine, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from callcore.records import CallRecord, Outcome
from callcore.store.models import RECORD_COLUMNS, Call
from callcore.store.rows import clean_record, from_row, to_row

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


@cache
def _upsert_statement(dialect: str) -> Insert:
    ins = postgresql.insert(calls) if dialect == "postgresql" else sqlite.insert(calls)
    ex = ins.excluded
    set_: dict[str, Any] = {name: ex[name] for name in RECORD_COLUMNS if name != "linkedid"}
    # updated_at moves only when the row does: replaying a snapshot leaves it untouched.
    set_["updated_at"] = case((ex.as_of > calls.c.as_of, ex.updated_at), else_=calls.c.updated_at)
    return ins.on_conflict_do_update(
        index_elements=[calls.c.linkedid], set_=set_, where=ex.as_of >= calls.c.as_of
    )


def newest_per_call(records: Iterable[CallRecord]) -> list[CallRecord]:
    """One record per Linkedid: what applying `records` one by one in order would leave.

    That is the last record with the highest `as_of` (equal `as_of` rewrites). Needed because
    one multi-row INSERT may not touch the same row twice on PostgreSQL.
    """
    best: dict[str, CallRecord] = {}
    for rec in records:
        held = best.get(rec.linkedid)
        if held is None or rec.as_of >= held.as_of:
            best[rec.linkedid] = rec
    return list(best.values())


def upsert_calls(conn: Connection, records: list[CallRecord]) -> int:
    """Insert or update the calls of `records` in one executemany; returns rows sent.

    A record replaces the stored row only if its `as_of` is not older (`excluded.as_of >=
    calls.as_of`), so replays and late, older snapshots change nothing. Records are cleaned
    first (`rows.clean_record`); an unstorable one raises `RejectedRecord` before any SQL.
    Runs in the caller's transaction.
    """
    if not records:
        return 0
    now = datetime.now(UTC)
    rows = []
    for rec in newest_per_call(clean_record(r) for r in records):
        row = to_row(rec)
        row["created_at"] = row["updated_at"] = now
        rows.append(row)
    conn.execute(_upsert_statement(conn.dialect.name), rows)
    return len(rows)


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
    return [from_row(r) for r in _fetch(engine, stmt)]


def get_call(engine: Engine | Connection, linkedid: str) -> CallRecord | None:
    """The stored record of one call, or None."""
    rows = _fetch(engine, select(calls).where(calls.c.linkedid == linkedid))
    return from_row(rows[0]) if rows else None


def _fetch(target: Engine | Connection, stmt: Any) -> list[Any]:
    if isinstance(target, Connection):
        return list(target.execute(stmt).mappings())
    with target.connect() as conn:
        return list(conn.execute(stmt).mappings())

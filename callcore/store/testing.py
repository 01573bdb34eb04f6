"""Helpers for tests and benchmarks: a throw-away PostgreSQL schema per run.

A schema (rather than a database) is cheap to create and drop, and the store reaches it
through the URL alone (`options=-csearch_path=<schema>`), exactly as it would in production.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import URL, Engine, text
from sqlalchemy.engine import make_url

from callcore.store.db import make_engine, upgrade

DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def pg_unreachable_reason(url: str) -> str | None:
    """None if PostgreSQL at `url` answers, else why not (for pytest.skip)."""
    engine = make_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:
        return f"PostgreSQL at {make_url(url).render_as_string()} is unreachable: {e}"
    finally:
        engine.dispose()
    return None


def with_search_path(url: str | URL, schema: str) -> str:
    """`url` with every connection's search_path set to `schema`."""
    u = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return u.render_as_string(hide_password=False)


@contextmanager
def temporary_pg_schema(url: str, prefix: str = "cc_test") -> Iterator[str]:
    """Create a uniquely named schema, yield a URL that uses it, drop it afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield with_search_path(url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def empty_store_url(
    kind: str, folder: str | Path, pg_url: str = DEFAULT_PG_URL, prefix: str = "cc_test"
) -> Iterator[str]:
    """The URL of an empty database of `kind` ("sqlite": a file in `folder`; "postgresql": a
    fresh schema at `pg_url`, dropped afterwards): one test's database of either kind."""
    if kind == "sqlite":
        yield f"sqlite:///{folder}/store.db"
    elif kind == "postgresql":
        with temporary_pg_schema(pg_url, prefix) as url:
            yield url
    else:
        raise ValueError(f"no such database kind: {kind!r}")


@contextmanager
def migrated_engine(url: str) -> Iterator[Engine]:
    """An engine on `url` with the schema migrated to the head; disposed afterwards."""
    upgrade(url)
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def pg_test_url() -> str:
    """The PostgreSQL the tests use (CALLCORE_TEST_PG_URL, else the local one); skips the
    test when it does not answer."""
    import os

    import pytest

    url = os.environ.get("CALLCORE_TEST_PG_URL", DEFAULT_PG_URL)
    reason = pg_unreachable_reason(url)
    if reason:
        pytest.skip(reason)
    return url

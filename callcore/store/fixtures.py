"""pytest fixtures for tests that need a real store: an empty database on SQLite and on
PostgreSQL, and one migrated to the newest schema. Imported by the test modules and
conftests that use them (test code only: nothing in callcore imports this)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcore.store.db import make_engine, upgrade
from callcore.store.testing import DEFAULT_PG_URL, pg_unreachable_reason, temporary_pg_schema

PG_URL = os.environ.get("CALLCORE_TEST_PG_URL", DEFAULT_PG_URL)


@pytest.fixture(scope="session")
def pg_base() -> str:
    """The test PostgreSQL server's URL; the test is skipped when it does not answer."""
    reason = pg_unreachable_reason(PG_URL)
    if reason:
        pytest.skip(reason)
    return PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind: a SQLite file, a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
    else:
        with temporary_pg_schema(request.getfixturevalue("pg_base")) as pg_url:
            yield pg_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    """The store at the newest schema."""
    upgrade(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()

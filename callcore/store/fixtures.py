"""pytest fixtures for tests that need a real store: an empty database on SQLite and on
PostgreSQL, and one migrated to the newest schema. Imported by the test modules and
conftests that use them (test code only: nothing in callcore imports this)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcore.store.testing import (
    DEFAULT_PG_URL,
    empty_store_url,
    migrated_engine,
    pg_unreachable_reason,
)

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
    pg = request.getfixturevalue("pg_base") if request.param == "postgresql" else PG_URL
    with empty_store_url(request.param, tmp_path, pg) as store_url:
        yield store_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    """The store at the newest schema."""
    with migrated_engine(url) as eng:
        yield eng

"""Stores for the reports tests: a SQLite file and a fresh PostgreSQL schema, migrated and
filled with the hand-worked calls of `fixture_store` and their ratings, QA scores and
callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

import config
from callcore.features.reports.service import ReportService
from callcore.store import db
from callcore.store.testing import pg_test_url, temporary_pg_schema

from . import fixture_store

CFG = config.load()
NOW = datetime(2025, 3, 10, tzinfo=UTC)  # a week after the fixture day


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
    else:
        with temporary_pg_schema(pg_test_url(), "cc_reports") as url:
            yield url


@pytest.fixture
def empty_store(store_url: str) -> Iterator[Engine]:
    db.upgrade(store_url)
    engine = db.make_engine(store_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def store(empty_store: Engine) -> Engine:
    fixture_store.fill(empty_store)
    fixture_store.fill_sources(empty_store)
    return empty_store


@pytest.fixture
def service(store: Engine) -> ReportService:
    return ReportService(store, lambda: CFG, lambda: NOW)

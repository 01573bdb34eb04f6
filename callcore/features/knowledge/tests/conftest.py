"""Databases for the knowledge-base tests: a SQLite file and a fresh PostgreSQL schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcore.features.knowledge.importer import read_sources
from callcore.features.knowledge.service import KnowledgeService
from callcore.store.testing import (
    DEFAULT_PG_URL,
    empty_store_url,
    migrated_engine,
    pg_unreachable_reason,
)

PG_URL = os.environ.get("CALLCORE_TEST_PG_URL", DEFAULT_PG_URL)
SAMPLE = Path(__file__).resolve().parents[4] / "config" / "knowledge"
# 2026-12-01 12:00 in Asia/Shanghai
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="session")
def pg_base() -> str:
    if reason := pg_unreachable_reason(PG_URL):
        pytest.skip(reason)
    return PG_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind."""
    pg = request.getfixturevalue("pg_base") if request.param == "postgresql" else ""
    with empty_store_url(request.param, tmp_path, pg, prefix="cc_kb") as store_url:
        yield store_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    with migrated_engine(url) as eng:
        yield eng


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(engine: Engine, clock: Clock) -> KnowledgeService:
    return KnowledgeService(engine, clock=clock, timezone="Asia/Shanghai")


@pytest.fixture
def sample(service: KnowledgeService) -> KnowledgeService:
    """The service with the sample knowledge base (config/knowledge) imported."""
    service.import_articles([s.article for s in read_sources([SAMPLE])], "测试")
    return service

"""Databases for the knowledge-base tests: a SQLite file and a fresh PostgreSQL schema."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from callcore.features.knowledge.importer import read_sources
from callcore.features.knowledge.service import KnowledgeService

SAMPLE = Path(__file__).resolve().parents[4] / "config" / "knowledge"
# 2026-12-01 12:00 in Asia/Shanghai
NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


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

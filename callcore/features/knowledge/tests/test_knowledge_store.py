"""The knowledge base's table and indexes: the migration up and down on both databases,
and the article lifecycle (create, update with versions, delete) on each."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from callcore.features.knowledge.model import ArticleIn, ArticlePatch, KnowledgeError
from callcore.features.knowledge.service import KnowledgeService
from callcore.features.knowledge.tables import (
    FTS_TABLE,
    TRGM_INDEXES,
    UNMODELLED_INDEXES,
    UNMODELLED_TABLES,
    KnowledgeArticle,
)
from callcore.features.knowledge.tests.conftest import NOW, Clock
from callcore.store.db import alembic_config, make_engine, schema_revision, upgrade
from callcore.store.models import Base

TABLE = KnowledgeArticle.__tablename__


def _migrate(engine: Engine, how: str, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, how)(cfg, revision)


def _only_knowledge(obj, name: str | None, type_: str, reflected: bool, compare_to) -> bool:
    """The knowledge table and its modelled indexes; nothing of other revisions."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    return getattr(table, "name", None) == TABLE and name not in UNMODELLED_INDEXES


def _search_objects(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE 'knowledge%'"))
        else:
            rows = conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
            )
        return {r[0] for r in rows}


def test_the_migration_creates_table_and_search_indexes(engine: Engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": _only_knowledge}
        )
        assert compare_metadata(ctx, Base.metadata) == []
    found = _search_objects(engine)
    if engine.dialect.name == "sqlite":
        triggers = {f"{TABLE}_{s}" for s in ("ai", "ad", "au")}
        assert UNMODELLED_TABLES | triggers <= found
    else:
        assert set(TRGM_INDEXES) <= found
        with engine.connect() as conn:
            defs = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname LIKE '%_trgm'")
            ).scalars()
            assert all("gin" in d and "gin_trgm_ops" in d for d in defs)


def test_downgrade_removes_it_and_upgrade_brings_it_back(engine: Engine, clock: Clock):
    svc = KnowledgeService(engine, clock=clock, timezone="Asia/Shanghai")
    svc.create(ArticleIn(id="a", title="公积金提取", body="正文", unit="u"), "t")
    _migrate(engine, "downgrade", "0003_audit")
    assert schema_revision(engine) == "0003_audit"
    names = set(inspect(engine).get_table_names())
    assert TABLE not in names and FTS_TABLE not in names
    assert not (_search_objects(engine) & (UNMODELLED_TABLES | UNMODELLED_INDEXES))
    assert "calls" in names  # the earlier revisions' tables are untouched
    upgrade(engine)
    assert svc.list().total == 0
    svc.create(ArticleIn(id="a", title="公积金提取", body="正文", unit="u"), "t")
    assert [h.id for h in svc.search("公积金提取").hits] == ["a"]


def test_rows_of_earlier_revisions_survive_the_upgrade(url: str):
    upgrade(url, "0003_audit")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            row = "INSERT INTO calls (linkedid, flags, as_of) VALUES ('L1', '[]', 1.0)"
            conn.execute(text(row))
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT linkedid FROM calls")).scalars().all() == ["L1"]
    finally:
        engine.dispose()


def test_pg_trgm_sees_chinese_here(service: KnowledgeService):
    assert service.index_check() is None


def test_create_get_update_delete_with_versions(service: KnowledgeService, clock: Clock):
    made = service.create(
        ArticleIn(
            id="gjj", title="公积金提取", body="带身份证。", class_id="zf.gjj",
            class_name="住房公积金", unit="市公积金管理中心", valid_from=date(2026, 1, 1),
        ),
        "王芳",
    )  # fmt: skip
    assert (made.version, made.created_by, made.updated_by) == (1, "王芳", "王芳")
    assert made.created_at == NOW and made.current
    assert service.get("gjj") == made
    with pytest.raises(KnowledgeError) as exc:
        service.create(ArticleIn(id="gjj", title="x", body="y", unit="u"), "t")
    assert exc.value.code == "exists"

    clock.now = NOW + timedelta(hours=1)
    patch = ArticlePatch(body="带身份证和银行卡。", expected_version=1)
    changed = service.update("gjj", patch, "钱主管")
    assert (changed.version, changed.updated_by, changed.created_by) == (2, "钱主管", "王芳")
    assert changed.updated_at == clock.now and changed.created_at == NOW
    same = service.update("gjj", ArticlePatch(body="带身份证和银行卡。"), "别人")
    assert same == changed  # nothing changed: no new version
    with pytest.raises(KnowledgeError) as exc:
        service.update("gjj", ArticlePatch(title="新标题", expected_version=1), "t")
    assert exc.value.code == "conflict" and "2" in exc.value.text("zh")
    with pytest.raises(KnowledgeError) as exc:
        service.update("gjj", ArticlePatch(valid_until=date(2025, 1, 1)), "t")
    assert exc.value.code == "bad_article"
    assert service.get("gjj").version == 2  # a refused change leaves the article as it was
    with pytest.raises(KnowledgeError) as exc:
        service.delete("gjj", expected_version=1)
    assert exc.value.code == "conflict"
    service.delete("gjj", expected_version=2)
    for call in (lambda: service.get("gjj"), lambda: service.delete("gjj")):
        with pytest.raises(KnowledgeError) as exc:
            call()
        assert exc.value.code == "not_found"


def test_an_article_without_an_id_gets_one(service: KnowledgeService):
    made = service.create(ArticleIn(title="无编号", body="正文", unit="u"), "t")
    assert made.id.startswith("kb-") and service.get(made.id).title == "无编号"


def test_lists_page_newest_change_first(service: KnowledgeService, clock: Clock):
    for i in range(5):
        clock.now = NOW + timedelta(minutes=i)
        service.create(ArticleIn(id=f"a{i}", title=f"标题{i}", body="正文", unit=f"u{i % 2}"), "t")
    page = service.list(limit=2, offset=1)
    assert page.total == 5 and [a.id for a in page.articles] == ["a3", "a2"]
    assert service.list(unit="u1").total == 2
    assert service.list(offset=10).total == 5

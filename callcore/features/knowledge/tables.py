"""The knowledge base's table, on `callcore.store.models.Base` (migration 0005_knowledge).

Besides this table the migration creates the search indexes, which are not SQLAlchemy
tables: on SQLite the FTS5 table `knowledge_fts` (trigram tokenizer, external content:
this table) and the triggers that keep it in step; on PostgreSQL the pg_trgm GIN indexes.
`UNMODELLED_TABLES` and `UNMODELLED_INDEXES` name them, and importing this module adds
them to `Base.metadata.info["unmodelled"]`, so a comparison of the migrated schema with the
models (tests/unit/test_store.py) can leave them out.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, String, UnicodeText
from sqlalchemy.orm import Mapped, mapped_column

from callcore.features.knowledge.model import ACTOR_LEN, CLASS_NAME_LEN, ID_LEN, TITLE_LEN
from callcore.store.models import Base, UTCDateTime

FTS_TABLE = "knowledge_fts"
# FTS5 keeps its index in these (no _content: the text is read from knowledge_articles).
UNMODELLED_TABLES = frozenset(
    {FTS_TABLE, *(f"{FTS_TABLE}_{s}" for s in ("data", "idx", "docsize", "config"))}
)
# PostgreSQL: GIN (… gin_trgm_ops) indexes, one per searched column.
TRGM_INDEXES = {
    "ix_knowledge_articles_title_trgm": "title",
    "ix_knowledge_articles_body_trgm": "body",
    "ix_knowledge_articles_grams_trgm": "grams",
}
UNMODELLED_INDEXES = frozenset(TRGM_INDEXES)
Base.metadata.info.setdefault("unmodelled", set()).update(UNMODELLED_TABLES | UNMODELLED_INDEXES)


class KnowledgeArticle(Base):
    """One article of the knowledge base (知识库), with its validity window and version."""

    __tablename__ = "knowledge_articles"

    # The FTS5 rowid: an INTEGER PRIMARY KEY, which VACUUM never renumbers.
    num: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(ID_LEN), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(TITLE_LEN), nullable=False)
    body: Mapped[str] = mapped_column(UnicodeText(), nullable=False)
    class_id: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    class_name: Mapped[str] = mapped_column(
        String(CLASS_NAME_LEN), nullable=False, server_default=""
    )
    unit: Mapped[str] = mapped_column(String(64), nullable=False)
    valid_from: Mapped[date | None] = mapped_column(Date())
    valid_until: Mapped[date | None] = mapped_column(Date())
    # Every distinct bigram of title and body between spaces (model.grams_of): the index
    # for two-character queries, which trigrams cannot serve.
    grams: Mapped[str] = mapped_column(UnicodeText(), nullable=False, server_default="")
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(ACTOR_LEN), nullable=False, server_default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(ACTOR_LEN), nullable=False, server_default="")

    __table_args__ = (
        Index("ix_knowledge_articles_class_id", "class_id"),
        Index("ix_knowledge_articles_unit", "unit"),
        Index("ix_knowledge_articles_updated_at", "updated_at"),
    )


articles = KnowledgeArticle.__table__

"""knowledge: the knowledge base's articles and their full-text search indexes

Revision ID: 0005_knowledge
Revises: 0003_audit
Create Date: 2026-12-02

Written by hand and frozen (it does not import the models).

SQLite: an FTS5 table with the trigram tokenizer (SQLite >= 3.34) over title, body and
grams, reading its text from knowledge_articles (external content), kept in step by
triggers. PostgreSQL: the pg_trgm extension (installed in schema public if absent; a DBA
may have put it elsewhere, so its operator class is named with the schema it is in) and a
GIN trigram index per searched column. Downgrading drops the table and its indexes but
leaves pg_trgm installed: it is database-wide, and other schemas may use it.
"""
import sqlite3

from alembic import op
import sqlalchemy as sa

revision = "0005_knowledge"
down_revision = "0004_workorders"
branch_labels = None
depends_on = None

_FTS = "knowledge_fts"
_TRGM = {
    "ix_knowledge_articles_title_trgm": "title",
    "ix_knowledge_articles_body_trgm": "body",
    "ix_knowledge_articles_grams_trgm": "grams",
}


def _text(name, length=None):
    return sa.Column(
        name,
        sa.String(length) if length else sa.UnicodeText(),
        nullable=False,
        server_default="",
    )


def upgrade() -> None:
    op.create_table(
        "knowledge_articles",
        sa.Column("num", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.UnicodeText(), nullable=False),
        _text("class_id", 64),
        _text("class_name", 100),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        _text("grams"),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _text("created_by", 64),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _text("updated_by", 64),
        sa.PrimaryKeyConstraint("num", name=op.f("pk_knowledge_articles")),
        sa.UniqueConstraint("id", name=op.f("uq_knowledge_articles_id")),
    )
    op.create_index("ix_knowledge_articles_class_id", "knowledge_articles", ["class_id"])
    op.create_index("ix_knowledge_articles_unit", "knowledge_articles", ["unit"])
    op.create_index("ix_knowledge_articles_updated_at", "knowledge_articles", ["updated_at"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_search()
    elif dialect == "postgresql":
        _postgresql_search()


def _sqlite_search() -> None:
    if sqlite3.sqlite_version_info < (3, 34, 0):
        raise RuntimeError(
            f"the knowledge base needs SQLite >= 3.34 (FTS5 trigram tokenizer); "
            f"this Python has {sqlite3.sqlite_version}"
        )
    op.execute(
        f"CREATE VIRTUAL TABLE {_FTS} USING fts5(title, body, grams, "
        "content='knowledge_articles', content_rowid='num', tokenize='trigram')"
    )
    new = "new.num, new.title, new.body, new.grams"
    old = "old.num, old.title, old.body, old.grams"
    cols = "rowid, title, body, grams"
    op.execute(
        f"CREATE TRIGGER knowledge_articles_ai AFTER INSERT ON knowledge_articles BEGIN "
        f"INSERT INTO {_FTS}({cols}) VALUES ({new}); END"
    )
    op.execute(
        f"CREATE TRIGGER knowledge_articles_ad AFTER DELETE ON knowledge_articles BEGIN "
        f"INSERT INTO {_FTS}({_FTS}, {cols}) VALUES ('delete', {old}); END"
    )
    op.execute(
        f"CREATE TRIGGER knowledge_articles_au AFTER UPDATE ON knowledge_articles BEGIN "
        f"INSERT INTO {_FTS}({_FTS}, {cols}) VALUES ('delete', {old}); "
        f"INSERT INTO {_FTS}({cols}) VALUES ({new}); END"
    )
    # articles already there (none on a new install) enter the index
    op.execute(f"INSERT INTO {_FTS}({_FTS}) VALUES ('rebuild')")


def _postgresql_search() -> None:
    bind = op.get_bind()
    find = sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    )
    schema = bind.execute(find).scalar()
    if schema is None:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        schema = bind.execute(find).scalar_one()
    for name, column in _TRGM.items():
        op.execute(
            f'CREATE INDEX {name} ON knowledge_articles USING gin ({column} "{schema}".gin_trgm_ops)'
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS knowledge_articles_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {_FTS}")
    op.drop_table("knowledge_articles")  # its indexes go with it

"""ratings and the QA desk: one rating per answered call (一次一评), the day's QA samples,
and the scores (append-only: triggers refuse UPDATE and DELETE)

Revision ID: 0006_quality
Revises: 0003_audit
Create Date: 2026-12-01

Written by hand and frozen (it does not import the models).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0006_quality"
down_revision = "0005_knowledge"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

IMMUTABLE = {
    "sqlite": [
        "CREATE TRIGGER qa_scores_no_update BEFORE UPDATE ON qa_scores "
        "BEGIN SELECT RAISE(ABORT, 'qa_scores: a submitted score is never edited'); END",
        "CREATE TRIGGER qa_scores_no_delete BEFORE DELETE ON qa_scores "
        "BEGIN SELECT RAISE(ABORT, 'qa_scores: a submitted score is never deleted'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION qa_scores_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'qa_scores: a submitted score is never %', "
        "CASE TG_OP WHEN 'UPDATE' THEN 'edited' ELSE 'deleted' END; END $$",
        "CREATE TRIGGER qa_scores_immutable BEFORE UPDATE OR DELETE ON qa_scores "
        "FOR EACH ROW EXECUTE FUNCTION qa_scores_refuse()",
    ],
}


def _text(name, length=None):
    return sa.Column(
        name,
        sa.String(length) if length else sa.UnicodeText(),
        nullable=False,
        server_default="",
    )


def _in(column, values):
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("linkedid", sa.String(64), nullable=False),
        _text("seat", 64),
        sa.Column("legs", JSON, nullable=False),
        _text("hotline", 32),
        _text("zone", 32),
        _text("request_id", 64),
        _text("key", 1),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("linkedid", name=op.f("pk_ratings")),
        sa.CheckConstraint(
            "level IS NULL OR (level >= 1 AND level <= 5)", name=op.f("ck_ratings_level")
        ),
        sa.CheckConstraint(
            _in("outcome", ("rated", "no_key", "invalid", "hangup")),
            name=op.f("ck_ratings_outcome"),
        ),
        sa.CheckConstraint(_in("source", ("live", "reconciled")), name=op.f("ck_ratings_source")),
        sa.CheckConstraint(
            "(outcome = 'rated') = (level IS NOT NULL)", name=op.f("ck_ratings_rated_level")
        ),
    )
    op.create_index("ix_ratings_at", "ratings", ["at"])
    op.create_index("ix_ratings_seat", "ratings", ["seat"])

    op.create_table(
        "qa_samples",
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _text("seat", 64),
        sa.Column("reasons", JSON, nullable=False),
        _text("reviewer", 32),
        _text("scorecard", 32),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("linkedid", name=op.f("pk_qa_samples")),
    )
    op.create_index("ix_qa_samples_day", "qa_samples", ["day"])
    op.create_index("ix_qa_samples_reviewer", "qa_samples", ["reviewer"])
    op.create_index("ix_qa_samples_seat", "qa_samples", ["seat"])

    op.create_table(
        "qa_scores",
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        _text("seat", 64),
        _text("reviewer", 32),
        _text("scorecard", 32),
        sa.Column("points", JSON, nullable=False),
        sa.Column("fails", JSON, nullable=False),
        sa.Column("notes", JSON, nullable=False),
        _text("comment"),
        sa.Column("raw_total", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        _text("reason"),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("linkedid", "version", name=op.f("pk_qa_scores")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_qa_scores_version")),
        sa.CheckConstraint("total >= 0 AND total <= 100", name=op.f("ck_qa_scores_total")),
        sa.CheckConstraint("version = 1 OR reason <> ''", name=op.f("ck_qa_scores_reason")),
    )
    op.create_index("ix_qa_scores_seat_day", "qa_scores", ["seat", "day"])
    op.create_index("ix_qa_scores_reviewer", "qa_scores", ["reviewer"])
    for statement in IMMUTABLE.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("qa_scores")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS qa_scores_refuse()")
    op.drop_table("qa_samples")
    op.drop_table("ratings")

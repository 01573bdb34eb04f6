"""calls: one row per call, keyed by Linkedid

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand and frozen: it does not import the models, so later model changes need a
new revision (tests check that the migrated schema matches the models).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OUTCOMES = ("answered", "abandoned", "transferred", "timeout", "failed")


def _text(name, length=None):
    return sa.Column(
        name,
        sa.String(length) if length else sa.UnicodeText(),
        nullable=False,
        server_default="",
    )


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("linkedid", sa.String(64), nullable=False),
        _text("caller_number", 128),
        _text("caller_name"),
        _text("dialed_number", 128),
        _text("hotline", 32),
        _text("hotline_name"),
        _text("route", 128),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        _text("seat", 64),
        sa.Column("outcome", sa.String(16), nullable=True),
        _text("transfer_target", 128),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("fallback", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column(
            "flags",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        _text("reason"),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.current_timestamp(),
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.current_timestamp(),
        ),
        sa.PrimaryKeyConstraint("linkedid", name=op.f("pk_calls")),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ({})".format(", ".join(f"'{o}'" for o in OUTCOMES)),
            name=op.f("ck_calls_outcome"),
        ),
    )
    op.create_index(op.f("ix_calls_entered_at"), "calls", ["entered_at"])
    op.create_index(op.f("ix_calls_caller_number"), "calls", ["caller_number"])
    op.create_index(op.f("ix_calls_seat"), "calls", ["seat"])
    op.create_index(op.f("ix_calls_outcome"), "calls", ["outcome"])


def downgrade() -> None:
    op.drop_table("calls")

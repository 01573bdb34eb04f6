"""audit: one row per supervisor action (who, what, target, when, result)

Revision ID: 0003_audit
Revises: 0002_seats
Create Date: 2026-11-26

Written by hand and frozen (it does not import the models).
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_audit"
down_revision = "0002_seats"
branch_labels = None
depends_on = None


def _text(name, length=None):
    return sa.Column(
        name,
        sa.String(length) if length else sa.UnicodeText(),
        nullable=False,
        server_default="",
    )


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _text("actor", 64),
        _text("role", 16),
        sa.Column("action", sa.String(32), nullable=False),
        _text("target", 64),
        _text("detail"),
        sa.Column("result", sa.String(16), nullable=False),
        _text("error"),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
        sa.CheckConstraint("result IN ('ok', 'error')", name=op.f("ck_audit_result")),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_target", "audit", ["target"])


def downgrade() -> None:
    op.drop_table("audit")

"""recordings: one row per recorded leg of a call (file, size, checksum, codec)

Revision ID: 0007_recordings
Revises: 0006_quality
Create Date: 2026-12-03

Written by hand and frozen (it does not import the models).
"""
from alembic import op
import sqlalchemy as sa

revision = "0007_recordings"
down_revision = "0006_quality"
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
        "recordings",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("leg", sa.String(16), nullable=False),
        _text("seat", 64),
        _text("endpoint", 64),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("codec", sa.String(16), nullable=False),
        _text("path", 255),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recordings_linkedid", "recordings", ["linkedid"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])
    op.create_index("ix_recordings_seat", "recordings", ["seat"])


def downgrade() -> None:
    op.drop_index("ix_recordings_seat", table_name="recordings")
    op.drop_index("ix_recordings_started_at", table_name="recordings")
    op.drop_index("ix_recordings_linkedid", table_name="recordings")
    op.drop_table("recordings")

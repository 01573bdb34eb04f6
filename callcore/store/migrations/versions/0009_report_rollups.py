"""report rollups: a settled day's sums per dimension, which days are rolled up
(with the fingerprint of what they were built from), and the indexes that make that
fingerprint an index-only count

Revision ID: 0009_report_rollups
Revises: 0008_requests_into_workorders
Create Date: 2026-12-03

Written by hand and frozen (it does not import the models).
"""
from alembic import op
import sqlalchemy as sa

revision = "0009_report_rollups"
down_revision = "0008_requests_into_workorders"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_rollup_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("stamp", sa.String(64), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("arrivals", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("day", "tz", name=op.f("pk_report_rollup_days")),
    )
    op.create_table(
        "report_rollups",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("dim", sa.String(16), nullable=False),
        sa.Column("sums", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("day", "tz", "dim", name=op.f("pk_report_rollups")),
    )
    op.create_index("ix_calls_entered_updated", "calls", ["entered_at", "updated_at"])
    op.create_index("ix_call_legs_started_as_of", "call_legs", ["started_at", "as_of"])


def downgrade() -> None:
    op.drop_index("ix_call_legs_started_as_of", "call_legs")
    op.drop_index("ix_calls_entered_updated", "calls")
    op.drop_table("report_rollups")
    op.drop_table("report_rollup_days")

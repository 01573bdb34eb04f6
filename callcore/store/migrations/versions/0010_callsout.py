"""calls out: every outbound call, the callback and follow-up tasks, the misses counted

Revision ID: 0010_callsout
Revises: 0009_report_rollups
Create Date: 2026-12-03

Written by hand and frozen (it does not import the models).
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_callsout"
down_revision = "0009_report_rollups"
branch_labels = None
depends_on = None

OUTCOMES = ("reached", "no_answer", "busy", "invalid_number", "failed", "refused")
REASONS = ("callback", "followup", "click")
OPEN_CALLER = "status != 'closed' AND reason = 'callback'"


def _text(name, length=None):
    return sa.Column(
        name,
        sa.String(length) if length else sa.UnicodeText(),
        nullable=False,
        server_default="",
    )


def _in(column, values):
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


def _when(name):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.create_table(
        "outbound_calls",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(4), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        _text("task_id", 64),
        _text("request_id", 64),
        _text("number", 128),
        _text("dialed", 128),
        _text("presented", 128),
        _text("seat", 64),
        sa.Column("outcome", sa.String(16), nullable=True),
        _text("cause", 64),
        _text("linkedid", 64),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        _when("answered_at"),
        _when("ended_at"),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("talk_seconds", sa.Float(), nullable=True),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_calls")),
        sa.CheckConstraint(
            _in("outcome", OUTCOMES) + " OR outcome IS NULL", name=op.f("ck_outbound_calls_outcome")
        ),
        sa.CheckConstraint(_in("reason", REASONS), name=op.f("ck_outbound_calls_reason")),
    )
    op.create_index("ix_outbound_calls_started_at", "outbound_calls", ["started_at"])
    op.create_index("ix_outbound_calls_number", "outbound_calls", ["number"])
    op.create_index("ix_outbound_calls_task_id", "outbound_calls", ["task_id"])

    op.create_table(
        "callback_tasks",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("caller", sa.String(128), nullable=False),
        _text("zone", 32),
        _text("dialed", 128),
        _text("request_id", 64),
        sa.Column("enterprise", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("first_missed", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_missed", sa.DateTime(timezone=True), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        _text("claimed_by", 64),
        _when("claimed_at"),
        _text("last_outcome", 16),
        _when("closed_at"),
        _text("closed_reason", 16),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_tasks")),
        sa.CheckConstraint(
            _in("status", ("open", "dialing", "closed")), name=op.f("ck_callback_tasks_status")
        ),
        sa.CheckConstraint(_in("reason", REASONS), name=op.f("ck_callback_tasks_reason")),
    )
    op.create_index(
        "uq_callback_tasks_open_caller",
        "callback_tasks",
        ["caller"],
        unique=True,
        sqlite_where=sa.text(OPEN_CALLER),
        postgresql_where=sa.text(OPEN_CALLER),
    )
    op.create_index("ix_callback_tasks_status", "callback_tasks", ["status", "next_attempt_at"])
    op.create_index("ix_callback_tasks_first_missed", "callback_tasks", ["first_missed"])

    op.create_table(
        "callback_misses",
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("linkedid", name=op.f("pk_callback_misses")),
    )


def downgrade() -> None:
    op.drop_table("callback_misses")
    op.drop_table("callback_tasks")
    op.drop_table("outbound_calls")

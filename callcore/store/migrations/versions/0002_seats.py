"""seats, transfers and requests: seat state history, call legs, requests (诉求),
enterprise contacts, the 12366 sub-centre's call records; calls.affinity

Revision ID: 0002_seats
Revises: 0001
Create Date: 2025-01-02

Written by hand and frozen (it does not import the models). The first revision's id is
"0001" (its file is 0001_calls.py).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0002_seats"
down_revision = "0001"
branch_labels = None
depends_on = None

SEAT_STATES = ("logged_off", "available", "ringing", "talking", "wrap_up", "paused", "unreachable")
REQUEST_STATUSES = ("registered", "dispatched", "handled", "followed_up", "closed")


def _text(name, length=None):
    return sa.Column(
        name,
        sa.String(length) if length else sa.UnicodeText(),
        nullable=False,
        server_default="",
    )


def _time(name):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def _in(column, values):
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(
            sa.Column("affinity", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    op.create_table(
        "seat_events",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("seat", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _text("reason", 32),
        _text("zone", 32),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        _text("linkedid", 64),
        _text("source", 16),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seat_events")),
        sa.CheckConstraint(_in("state", SEAT_STATES), name=op.f("ck_seat_events_state")),
    )
    op.create_index("ix_seat_events_seat_at", "seat_events", ["seat", "at"])
    op.create_index("ix_seat_events_at", "seat_events", ["at"])

    op.create_table(
        "call_legs",
        sa.Column("id", sa.String(72), nullable=False),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _text("target", 128),
        _text("from_seat", 64),
        _text("via", 16),
        _text("seat", 64),
        _time("started_at"),
        _time("answered_at"),
        _time("ended_at"),
        _text("outcome", 16),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_legs")),
    )
    op.create_index("ix_call_legs_linkedid", "call_legs", ["linkedid"])

    op.create_table(
        "requests",
        sa.Column("id", sa.String(64), nullable=False),
        _text("linkedid", 64),
        _text("caller_number", 128),
        _text("seat", 64),
        sa.Column("status", sa.String(16), nullable=False),
        _time("registered_at"),
        _time("status_at"),
        _text("status_by", 64),
        _text("note"),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
        sa.CheckConstraint(_in("status", REQUEST_STATUSES), name=op.f("ck_requests_status")),
    )
    op.create_index("ix_requests_caller_number", "requests", ["caller_number"])
    op.create_index("ix_requests_seat", "requests", ["seat"])

    op.create_table(
        "enterprise_contacts",
        sa.Column("number", sa.String(32), nullable=False),
        _text("name"),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_enterprise_contacts")),
    )

    op.create_table(
        "subcentre_calls",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=False),
        _text("caller_number", 128),
        _text("dialed_number", 128),
        _time("started_at"),
        _time("answered_at"),
        _time("ended_at"),
        _text("agent", 64),
        _text("outcome", 16),
        _text("linkedid", 64),
        sa.Column(
            "transferred_to_12345", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
        _text("summary"),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("source", "external_id", name=op.f("pk_subcentre_calls")),
    )
    op.create_index("ix_subcentre_calls_started_at", "subcentre_calls", ["started_at"])


def downgrade() -> None:
    op.drop_table("subcentre_calls")
    op.drop_table("enterprise_contacts")
    op.drop_table("requests")
    op.drop_table("call_legs")
    op.drop_table("seat_events")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("affinity")

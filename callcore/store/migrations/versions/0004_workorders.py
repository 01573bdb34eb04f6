"""work orders: workorders, their units, their history, the change counter; existing
requests become work orders

Revision ID: 0004_workorders
Revises: 0003_audit
Create Date: 2026-12-01

Written by hand and frozen (it does not import the models). The `requests` table stays as
it is: the engine, first-contact routing and the request API read and write it today, and
the work-order service keeps each order's row there in step (its status mapped back). Every
existing request is copied into `workorders` with its history: a registration, then, if it
had moved on, one migration step to its mapped state. Downgrading drops the new tables and
leaves `requests` as it was kept.
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0004_workorders"
down_revision = "0003_audit"
branch_labels = None
depends_on = None

STATES = (
    "registered", "dispatched", "signed", "returned", "extension_requested", "replied",
    "followed_up", "closed", "merged",
)
FROM_LEGACY = {
    "registered": "registered",
    "dispatched": "dispatched",
    "handled": "replied",
    "followed_up": "followed_up",
    "closed": "closed",
}
# the column a legacy status's time goes to
STAMP = {
    "dispatched": "dispatched_at",
    "handled": "replied_at",
    "followed_up": "followed_up_at",
    "closed": "closed_at",
}
BATCH = 1000
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _text(name, length=None):
    return sa.Column(
        name,
        sa.String(length) if length else sa.UnicodeText(),
        nullable=False,
        server_default="",
    )


def _time(name, nullable=True):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _count(name):
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def _flag(name):
    return sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false())


def _in(column, values):
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


def _create() -> None:
    op.create_table(
        "workorders",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        _text("seat", 64),
        _text("hotline", 32),
        _text("caller_number", 128),
        _text("caller_name", 64),
        _text("contact_number", 32),
        _text("content"),
        _text("type", 8),
        _text("urgency", 8),
        _text("address", 200),
        _text("district", 64),
        _text("class_id", 64),
        _flag("confidential"),
        _text("lead_unit", 32),
        sa.Column("assist_units", JSON, nullable=False),
        sa.Column("calls_in", JSON, nullable=False),
        sa.Column("calls_out", JSON, nullable=False),
        sa.Column("recordings", JSON, nullable=False),
        sa.Column("ratings", JSON, nullable=False),
        _text("master_id", 64),
        _text("result"),
        _text("return_reason"),
        _text("satisfaction", 8),
        sa.Column("pending_days", sa.Integer(), nullable=True),
        sa.Column("pending_hours", sa.Integer(), nullable=True),
        _count("returns"),
        _count("extensions"),
        _count("chases"),
        _count("reopens"),
        _flag("escalated"),
        _time("registered_at", nullable=False),
        _time("dispatched_at"),
        _time("deadline_at"),
        _flag("deadline_estimated"),
        _time("signed_at"),
        _time("replied_at"),
        _time("followed_up_at"),
        _time("closed_at"),
        _time("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workorders")),
        sa.CheckConstraint(_in("state", STATES), name=op.f("ck_workorders_state")),
    )
    for name, cols in (
        ("ix_workorders_rev", ["rev"]),
        ("ix_workorders_registered_at", ["registered_at"]),
        ("ix_workorders_state_deadline", ["state", "deadline_at"]),
        ("ix_workorders_lead_unit", ["lead_unit"]),
        ("ix_workorders_caller_number", ["caller_number"]),
        ("ix_workorders_master_id", ["master_id"]),
    ):
        op.create_index(name, "workorders", cols)

    op.create_table(
        "workorder_units",
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "unit", name=op.f("pk_workorder_units")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["workorders.id"], ondelete="CASCADE",
            name=op.f("fk_workorder_units_order_id_workorders"),
        ),
        sa.CheckConstraint("role IN ('lead', 'assist')", name=op.f("ck_workorder_units_role")),
    )
    op.create_index("ix_workorder_units_unit", "workorder_units", ["unit"])

    op.create_table(
        "workorder_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rev", sa.Integer(), nullable=False),
        _time("at", nullable=False),
        _text("actor", 64),
        _text("role", 16),
        _text("unit", 32),
        sa.Column("action", sa.String(24), nullable=False),
        _text("from_state", 24),
        sa.Column("to_state", sa.String(24), nullable=False),
        _text("lead", 32),
        _text("note"),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("key", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workorder_events")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["workorders.id"], ondelete="CASCADE",
            name=op.f("fk_workorder_events_order_id_workorders"),
        ),
        sa.UniqueConstraint("order_id", "seq", name="uq_workorder_events_order_seq"),
        sa.UniqueConstraint("order_id", "key", name="uq_workorder_events_order_key"),
    )
    op.create_index("ix_workorder_events_at", "workorder_events", ["at"])
    op.create_index("ix_workorder_events_rev", "workorder_events", ["rev"])

    op.create_table(
        "workorder_rev",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workorder_rev")),
    )


def _aware(value):
    if value is None:
        return None
    if isinstance(value, str):  # SQLite without the type's conversion
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _order(r, now):
    state = FROM_LEGACY.get(r["status"], "registered")
    registered = _aware(r["registered_at"]) or _aware(r["status_at"]) or now
    changed = _aware(r["status_at"]) or registered
    row = {
        "id": r["id"], "state": state, "version": 1 if state == "registered" else 2, "rev": 1,
        "seat": r["seat"] or "", "hotline": r["hotline"] or "",
        "caller_number": r["caller_number"] or "", "caller_name": (r["caller_name"] or "")[:64],
        "content": r["note"] or "", "urgency": "一般",
        "assist_units": [], "calls_in": [r["linkedid"]] if r["linkedid"] else [],
        "calls_out": [], "recordings": [], "ratings": [],
        "registered_at": registered, "updated_at": changed,
        "dispatched_at": None, "replied_at": None, "followed_up_at": None, "closed_at": None,
    }  # fmt: skip
    if r["status"] in STAMP:
        row[STAMP[r["status"]]] = changed
    events = [
        {"order_id": r["id"], "seq": 1, "rev": 1, "at": registered, "actor": r["seat"] or "",
         "role": "seat", "unit": "", "action": "register", "from_state": "",
         "to_state": "registered", "lead": "", "note": "", "detail": {}, "key": None},
    ]  # fmt: skip
    if state != "registered":
        events.append(
            {"order_id": r["id"], "seq": 2, "rev": 1, "at": changed,
             "actor": r["status_by"] or "", "role": "", "unit": "", "action": "migrate",
             "from_state": "registered", "to_state": state, "lead": "", "note": r["note"] or "",
             "detail": {"legacy_status": r["status"]}, "key": None}
        )  # fmt: skip
    return row, events


def _copy_requests(conn) -> int:
    meta = sa.MetaData()
    requests = sa.Table("requests", meta, autoload_with=conn)
    calls = sa.Table("calls", meta, autoload_with=conn)
    orders = sa.Table("workorders", meta, autoload_with=conn)
    events = sa.Table("workorder_events", meta, autoload_with=conn)
    now = datetime.now(timezone.utc)
    stmt = (
        sa.select(requests, calls.c.hotline, calls.c.caller_name)
        .select_from(requests.outerjoin(calls, calls.c.linkedid == requests.c.linkedid))
        .order_by(requests.c.id)
        .limit(BATCH)
    )
    copied, last = 0, None
    while True:
        page = stmt if last is None else stmt.where(requests.c.id > last)
        rows = conn.execute(page).mappings().all()
        if not rows:
            return copied
        built = [_order(r, now) for r in rows]
        conn.execute(orders.insert(), [o for o, _ in built])
        conn.execute(events.insert(), [e for _, evs in built for e in evs])
        copied += len(rows)
        last = rows[-1]["id"]


def upgrade() -> None:
    _create()
    conn = op.get_bind()
    copied = _copy_requests(conn)
    rev = sa.table("workorder_rev", sa.column("id"), sa.column("last"), sa.column("at"))
    conn.execute(
        rev.insert().values(id=1, last=1 if copied else 0, at=datetime.now(timezone.utc).timestamp())
    )


def downgrade() -> None:
    op.drop_table("workorder_rev")
    op.drop_table("workorder_events")
    op.drop_table("workorder_units")
    op.drop_table("workorders")

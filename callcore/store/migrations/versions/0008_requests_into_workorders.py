"""requests into work orders: the `requests` table's rows that have no work order yet
become work orders (with their history), then the table goes; work orders are the one
record of a citizen's request

Revision ID: 0008_requests_into_workorders
Revises: 0007_recordings
Create Date: 2026-12-03

Written by hand and frozen (it does not import the models). Since 0004 the work-order
service kept each order's row in `requests` in step, and the engine still registered new
calls there; those rows without an order are copied the way 0004 copied them (its
`_order`), in the same change-counter step. Downgrading rebuilds `requests` from the
work orders (each state mapped back to the five old statuses), so 0004's downgrade finds
the table as it expects.
"""

import importlib
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

revision = "0008_requests_into_workorders"
down_revision = "0007_recordings"
branch_labels = None
depends_on = None

BATCH = 1000
REQUEST_STATUSES = ("registered", "dispatched", "handled", "followed_up", "closed")
TO_LEGACY = {
    "registered": "registered",
    "dispatched": "dispatched",
    "signed": "dispatched",
    "returned": "dispatched",
    "extension_requested": "dispatched",
    "replied": "handled",
    "followed_up": "followed_up",
    "closed": "closed",
    "merged": "closed",
}


def _v0004():
    return importlib.import_module("callcore.store.migrations.versions.0004_workorders")


def _next_rev(conn, rev) -> int:
    last = conn.execute(sa.select(rev.c.last).where(rev.c.id == 1)).scalar()
    now = datetime.now(timezone.utc).timestamp()
    if last is None:
        conn.execute(rev.insert().values(id=1, last=1, at=now))
        return 1
    conn.execute(rev.update().where(rev.c.id == 1).values(last=last + 1, at=now))
    return last + 1


def _copy_missing(conn) -> int:
    meta = sa.MetaData()
    requests = sa.Table("requests", meta, autoload_with=conn)
    calls = sa.Table("calls", meta, autoload_with=conn)
    orders = sa.Table("workorders", meta, autoload_with=conn)
    events = sa.Table("workorder_events", meta, autoload_with=conn)
    rev = sa.Table("workorder_rev", meta, autoload_with=conn)
    order_of = _v0004()._order
    now = datetime.now(timezone.utc)
    stmt = (
        sa.select(requests, calls.c.hotline, calls.c.caller_name)
        .select_from(requests.outerjoin(calls, calls.c.linkedid == requests.c.linkedid))
        .where(~sa.exists().where(orders.c.id == requests.c.id))
        .order_by(requests.c.id)
        .limit(BATCH)
    )
    copied, last, step = 0, None, None
    while True:
        page = stmt if last is None else stmt.where(requests.c.id > last)
        rows = conn.execute(page).mappings().all()
        if not rows:
            return copied
        step = step or _next_rev(conn, rev)
        built = [order_of(r, now) for r in rows]
        conn.execute(orders.insert(), [{**o, "rev": step} for o, _ in built])
        conn.execute(events.insert(), [{**e, "rev": step} for _, evs in built for e in evs])
        copied += len(rows)
        last = rows[-1]["id"]


def upgrade() -> None:
    _copy_missing(op.get_bind())
    op.drop_table("requests")


def _text(name, length=None):
    return sa.Column(
        name, sa.String(length) if length else sa.UnicodeText(), nullable=False, server_default=""
    )


def _create_requests() -> None:
    statuses = ", ".join(f"'{s}'" for s in REQUEST_STATUSES)
    op.create_table(
        "requests",
        sa.Column("id", sa.String(64), nullable=False),
        _text("linkedid", 64),
        _text("caller_number", 128),
        _text("seat", 64),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True)),
        sa.Column("status_at", sa.DateTime(timezone=True)),
        _text("status_by", 64),
        _text("note"),
        sa.Column("as_of", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
        sa.CheckConstraint(f"status IN ({statuses})", name=op.f("ck_requests_status")),
    )
    op.create_index("ix_requests_caller_number", "requests", ["caller_number"])
    op.create_index("ix_requests_seat", "requests", ["seat"])


def _request(o) -> dict:
    aware = _v0004()._aware
    changed = aware(o["updated_at"]) or aware(o["registered_at"])
    calls_in = o["calls_in"] or []
    return {
        "id": o["id"], "linkedid": calls_in[0] if calls_in else o["id"],
        "caller_number": o["caller_number"], "seat": o["seat"],
        "status": TO_LEGACY.get(o["state"], "registered"),
        "registered_at": aware(o["registered_at"]), "status_at": changed, "status_by": "",
        "note": o["content"] or "", "as_of": changed.timestamp() if changed else 0.0,
    }  # fmt: skip


def downgrade() -> None:
    _create_requests()
    conn = op.get_bind()
    meta = sa.MetaData()
    requests = sa.Table("requests", meta, autoload_with=conn)
    orders = sa.Table("workorders", meta, autoload_with=conn)
    stmt = sa.select(orders).order_by(orders.c.id).limit(BATCH)
    last = None
    while True:
        page = stmt if last is None else stmt.where(orders.c.id > last)
        rows = conn.execute(page).mappings().all()
        if not rows:
            return
        conn.execute(requests.insert(), [_request(o) for o in rows])
        last = rows[-1]["id"]

"""The work orders' tables: the order as it stands, its units, its history, the change counter.

`workorders` holds each order's present (one row, replaced on every step);
`workorder_events` its append-only history (never updated: a step adds a row);
`workorder_units` the lead and assisting units of the present dispatch, so that a unit's
orders are found by an index instead of by looking inside a JSON list; `workorder_rev`
one row, the store-wide change counter. Every write transaction bumps it first, which takes
the row's lock: writes are serialised on both databases (SQLite has one writer anyway)
and the counter's values are committed in order, so "everything changed after cursor N"
never skips a change that committed late.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UnicodeText,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from callcore.store.models import (
    LINKEDID_LEN,
    NUMBER_LEN,
    SEAT_LEN,
    Base,
    FlagsType,
    UTCDateTime,
)

ID_LEN = LINKEDID_LEN
UNIT_LEN = 32
STATES = (
    "registered",
    "dispatched",
    "signed",
    "returned",
    "extension_requested",
    "replied",
    "followed_up",
    "closed",
    "merged",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


def _text(length: int | None = None) -> Mapped[str]:
    col_type = String(length) if length else UnicodeText()
    return mapped_column(col_type, nullable=False, default="", server_default="")


def _time(nullable: bool = True) -> Mapped[Any]:
    return mapped_column(UTCDateTime(), nullable=nullable)


def _count() -> Mapped[int]:
    return mapped_column(Integer, nullable=False, default=0, server_default="0")


def _list() -> Mapped[list[str]]:
    return mapped_column(FlagsType, nullable=False, default=list)


class WorkOrderRow(Base):
    """One work order as it stands; `rev` is the change counter of its last step."""

    __tablename__ = "workorders"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    state: Mapped[str] = mapped_column(String(24), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    rev: Mapped[int] = mapped_column(Integer, nullable=False)
    seat: Mapped[str] = _text(SEAT_LEN)
    hotline: Mapped[str] = _text(32)
    caller_number: Mapped[str] = _text(NUMBER_LEN)
    caller_name: Mapped[str] = _text(64)
    contact_number: Mapped[str] = _text(32)
    content: Mapped[str] = _text()
    type: Mapped[str] = _text(8)
    urgency: Mapped[str] = _text(8)
    address: Mapped[str] = _text(200)
    district: Mapped[str] = _text(64)
    class_id: Mapped[str] = _text(64)
    confidential: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    lead_unit: Mapped[str] = _text(UNIT_LEN)
    assist_units: Mapped[list[str]] = _list()
    calls_in: Mapped[list[str]] = _list()
    calls_out: Mapped[list[str]] = _list()
    recordings: Mapped[list[str]] = _list()
    ratings: Mapped[list[str]] = _list()
    master_id: Mapped[str] = _text(ID_LEN)
    result: Mapped[str] = _text()
    return_reason: Mapped[str] = _text()
    satisfaction: Mapped[str] = _text(8)
    pending_days: Mapped[int | None] = mapped_column(Integer)
    pending_hours: Mapped[int | None] = mapped_column(Integer)
    returns: Mapped[int] = _count()
    extensions: Mapped[int] = _count()
    chases: Mapped[int] = _count()
    reopens: Mapped[int] = _count()
    escalated: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    registered_at: Mapped[datetime] = _time(nullable=False)
    dispatched_at: Mapped[datetime | None] = _time()
    deadline_at: Mapped[datetime | None] = _time()
    deadline_estimated: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    signed_at: Mapped[datetime | None] = _time()
    replied_at: Mapped[datetime | None] = _time()
    followed_up_at: Mapped[datetime | None] = _time()
    closed_at: Mapped[datetime | None] = _time()
    updated_at: Mapped[datetime] = _time(nullable=False)

    __table_args__ = (
        CheckConstraint(_in("state", STATES), name="state"),
        Index("ix_workorders_rev", "rev"),
        Index("ix_workorders_registered_at", "registered_at"),
        Index("ix_workorders_state_deadline", "state", "deadline_at"),
        Index("ix_workorders_lead_unit", "lead_unit"),
        Index("ix_workorders_caller_number", "caller_number"),
        Index("ix_workorders_master_id", "master_id"),
    )


class WorkOrderUnit(Base):
    """A unit of an order's present dispatch: its lead (主办) or an assisting unit (协办)."""

    __tablename__ = "workorder_units"

    order_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("workorders.id", ondelete="CASCADE"), primary_key=True
    )
    unit: Mapped[str] = mapped_column(String(UNIT_LEN), primary_key=True)
    role: Mapped[str] = mapped_column(String(8), nullable=False)  # lead | assist

    __table_args__ = (
        CheckConstraint("role IN ('lead', 'assist')", name="role"),
        Index("ix_workorder_units_unit", "unit"),
    )


class WorkOrderEvent(Base):
    """One step of an order's history: who (name, role, unit), when, what, with a note."""

    __tablename__ = "workorder_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("workorders.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    rev: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = _time(nullable=False)
    actor: Mapped[str] = _text(64)
    role: Mapped[str] = _text(16)
    unit: Mapped[str] = _text(UNIT_LEN)
    action: Mapped[str] = mapped_column(String(24), nullable=False)
    from_state: Mapped[str] = _text(24)
    to_state: Mapped[str] = mapped_column(String(24), nullable=False)
    lead: Mapped[str] = _text(UNIT_LEN)
    note: Mapped[str] = _text()
    detail: Mapped[dict[str, Any]] = mapped_column(FlagsType, nullable=False, default=dict)
    key: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("order_id", "seq", name="uq_workorder_events_order_seq"),
        UniqueConstraint("order_id", "key", name="uq_workorder_events_order_key"),
        Index("ix_workorder_events_at", "at"),
        Index("ix_workorder_events_rev", "rev"),
    )


class WorkOrderRev(Base):
    """The one-row change counter (see the module's docstring)."""

    __tablename__ = "workorder_rev"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[float] = mapped_column(Float, nullable=False)

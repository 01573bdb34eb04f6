"""The calls-out tables (migration 0010_callsout): every outbound call, the callback and
follow-up tasks, and which missed call joined which task."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from callcore.features.callsout.model import Outcome, Reason
from callcore.store.models import LINKEDID_LEN, NUMBER_LEN, SEAT_LEN, Base, UTCDateTime, _text

ZONE_LEN = 32
STATUSES = ("open", "dialing", "closed")
OUTCOMES = tuple(o.value for o in Outcome)
REASONS = tuple(r.value for r in Reason)


def _in(column: str, values: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


class OutboundCall(Base):
    """One call callcore placed, like an inbound call's row, direction out."""

    __tablename__ = "outbound_calls"

    id: Mapped[str] = mapped_column(String(LINKEDID_LEN), primary_key=True)
    direction: Mapped[str] = mapped_column(String(4), nullable=False, default="out")
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    task_id: Mapped[str] = _text(LINKEDID_LEN)
    request_id: Mapped[str] = _text(LINKEDID_LEN)
    number: Mapped[str] = _text(NUMBER_LEN)  # the citizen's number as asked for
    dialed: Mapped[str] = _text(NUMBER_LEN)  # what went to the carrier
    presented: Mapped[str] = _text(NUMBER_LEN)  # the number the citizen saw
    seat: Mapped[str] = _text(SEAT_LEN)
    outcome: Mapped[str | None] = mapped_column(String(16))  # NULL while the call is up
    cause: Mapped[str] = _text(64)
    linkedid: Mapped[str] = _text(LINKEDID_LEN)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the citizen
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    wait_seconds: Mapped[float | None] = mapped_column(Float)  # seat ringing + citizen ringing
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    as_of: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (
        CheckConstraint(_in("outcome", OUTCOMES) + " OR outcome IS NULL", name="outcome"),
        CheckConstraint(_in("reason", REASONS), name="reason"),
        Index("ix_outbound_calls_started_at", "started_at"),
        Index("ix_outbound_calls_number", "number"),
        Index("ix_outbound_calls_task_id", "task_id"),
    )


class CallbackTask(Base):
    """A caller to call back (漏话回拨) or a request to follow up (回访).

    At most one open callback task per caller (a partial unique index): later misses join
    it. `status` open → dialing (claimed by one engine for one seat) → open again (retry)
    or closed.
    """

    __tablename__ = "callback_tasks"

    id: Mapped[str] = mapped_column(String(LINKEDID_LEN), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    caller: Mapped[str] = mapped_column(String(NUMBER_LEN), nullable=False)
    zone: Mapped[str] = _text(ZONE_LEN)
    dialed: Mapped[str] = _text(NUMBER_LEN)  # the number the citizen had called
    request_id: Mapped[str] = _text(LINKEDID_LEN)
    enterprise: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="open")
    first_missed: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_missed: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    misses: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    claimed_by: Mapped[str] = _text(SEAT_LEN)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_outcome: Mapped[str] = _text(16)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_reason: Mapped[str] = _text(16)  # reached, called_in, given_up, satisfied, …

    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("reason", REASONS), name="reason"),
        Index(
            "uq_callback_tasks_open_caller",
            "caller",
            unique=True,
            sqlite_where=text("status != 'closed' AND reason = 'callback'"),
            postgresql_where=text("status != 'closed' AND reason = 'callback'"),
        ),
        Index("ix_callback_tasks_status", "status", "next_attempt_at"),
        Index("ix_callback_tasks_first_missed", "first_missed"),
    )


class CallbackMiss(Base):
    """A missed call counted into a task, once (a record is published several times)."""

    __tablename__ = "callback_misses"

    linkedid: Mapped[str] = mapped_column(String(LINKEDID_LEN), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(LINKEDID_LEN), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

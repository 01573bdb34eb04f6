"""The request store's schema: one `calls` row per call, keyed by Asterisk's Linkedid.

The model mirrors `callcore.records.CallRecord` field for field. It is the reference the
Alembic migrations are checked against (tests compare them); the live schema is only ever
created by the migrations.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
    UnicodeText,
    false,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from callcore.records import Outcome

# Column lengths of the identifier-like fields. Free text (names, reason) is unbounded: the
# carrier controls caller names and a clipped name is a wrong name. The store clips overlong
# identifiers itself (see rows.py) so that both databases keep exactly the same value.
LINKEDID_LEN = 64
NUMBER_LEN = 128  # caller / dialed number, route, transfer target: carrier-controlled
HOTLINE_LEN = 32
SEAT_LEN = 64
OUTCOME_LEN = 16

OUTCOMES = tuple(o.value for o in Outcome)

# Deterministic constraint/index names, so batch migrations on SQLite can find them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps `timestamptz` and returns it in the session time zone; SQLite keeps a
    naive string. Binding converts to UTC (naive values are taken as UTC) and reading always
    returns an aware UTC datetime, so both databases give back the same value.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


FlagsType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _text(length: int | None = None) -> Mapped[str]:
    col_type = String(length) if length else UnicodeText()
    return mapped_column(col_type, nullable=False, default="", server_default="")


class Call(Base):
    """One call, as the newest snapshot the store has seen (`as_of`)."""

    __tablename__ = "calls"

    linkedid: Mapped[str] = mapped_column(String(LINKEDID_LEN), primary_key=True)
    caller_number: Mapped[str] = _text(NUMBER_LEN)
    caller_name: Mapped[str] = _text()
    dialed_number: Mapped[str] = _text(NUMBER_LEN)
    hotline: Mapped[str] = _text(HOTLINE_LEN)
    hotline_name: Mapped[str] = _text()
    route: Mapped[str] = _text(NUMBER_LEN)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    entered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    wait_seconds: Mapped[float | None] = mapped_column(Float)
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    seat: Mapped[str] = _text(SEAT_LEN)
    outcome: Mapped[str | None] = mapped_column(String(OUTCOME_LEN))
    transfer_target: Mapped[str] = _text(NUMBER_LEN)
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    fallback: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    # 首接负责制: the call was offered first to the seat that took the caller's open request.
    affinity: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    flags: Mapped[list[str]] = mapped_column(FlagsType, nullable=False, default=list)
    reason: Mapped[str] = _text()
    as_of: Mapped[float] = mapped_column(Float, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, server_default=func.current_timestamp()
    )

    __table_args__ = (
        CheckConstraint(
            "outcome IS NULL OR outcome IN ({})".format(", ".join(f"'{o}'" for o in OUTCOMES)),
            name="outcome",
        ),
        Index("ix_calls_entered_at", "entered_at"),
        Index("ix_calls_caller_number", "caller_number"),
        Index("ix_calls_seat", "seat"),
        Index("ix_calls_outcome", "outcome"),
        # the reports' rollups fingerprint a day by count and last update (0009)
        Index("ix_calls_entered_updated", "entered_at", "updated_at"),
    )


# -- seats and transfers (0002_seats; its `requests` became work orders in 0008) -----

SEAT_STATES = ("logged_off", "available", "ringing", "talking", "wrap_up", "paused", "unreachable")


class SeatEvent(Base):
    """One change of a seat's state, with its time: the seat's history, never updated."""

    __tablename__ = "seat_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid: replays add nothing
    seat: Mapped[str] = mapped_column(String(SEAT_LEN), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = _text(32)  # pause reason id
    zone: Mapped[str] = _text(32)  # the seat's zone at that time (a move changes it)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    linkedid: Mapped[str] = _text(LINKEDID_LEN)  # the call that rang / was talked to
    source: Mapped[str] = _text(16)  # asterisk | feature | api | cli | rebuild
    as_of: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (
        CheckConstraint(
            "state IN ({})".format(", ".join(f"'{s}'" for s in SEAT_STATES)), name="state"
        ),
        Index("ix_seat_events_seat_at", "seat", "at"),
        Index("ix_seat_events_at", "at"),
    )


class CallLeg(Base):
    """One leg of a citizen's call: where it was offered and who answered; the transfer chain.

    Leg 0 is the first routing (queue, trunk or first-contact seat); each transfer adds the
    next, all under the Linkedid of the call the carrier (or the 12366 trunk) brought in.
    """

    __tablename__ = "call_legs"

    id: Mapped[str] = mapped_column(String(LINKEDID_LEN + 8), primary_key=True)  # linkedid/seq
    linkedid: Mapped[str] = mapped_column(String(LINKEDID_LEN), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    target: Mapped[str] = _text(NUMBER_LEN)  # queue, trunk:<id>, seat:<id>, or what was dialed
    from_seat: Mapped[str] = _text(SEAT_LEN)  # the seat that transferred the caller here
    via: Mapped[str] = _text(16)  # dialplan | softphone | api
    seat: Mapped[str] = _text(SEAT_LEN)  # who answered this leg (seat id or trunk id)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = _text(16)  # answered | transferred | unanswered | abandoned | failed
    as_of: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (
        Index("ix_call_legs_linkedid", "linkedid"),
        Index("ix_call_legs_started_as_of", "started_at", "as_of"),  # report rollups (0009)
    )


class EnterpriseContact(Base):
    """A registered enterprise contact (一企来) kept in the store, besides the site config."""

    __tablename__ = "enterprise_contacts"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = _text()
    active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=True, server_default=true()
    )
    as_of: Mapped[float] = mapped_column(Float, nullable=False)


class SubcentreCall(Base):
    """A call record the 12366 sub-centre posted: its data flows into 12345's store."""

    __tablename__ = "subcentre_calls"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)  # trunk id, tax12366
    external_id: Mapped[str] = mapped_column(String(LINKEDID_LEN), primary_key=True)
    caller_number: Mapped[str] = _text(NUMBER_LEN)
    dialed_number: Mapped[str] = _text(NUMBER_LEN)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    agent: Mapped[str] = _text(SEAT_LEN)
    outcome: Mapped[str] = _text(16)
    linkedid: Mapped[str] = _text(LINKEDID_LEN)  # the 12345 call it came from, if transferred
    transferred_to_12345: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    summary: Mapped[str] = _text()
    as_of: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (Index("ix_subcentre_calls_started_at", "started_at"),)


# -- supervisor actions (migration 0003_audit) ----------------------------------------------

AUDIT_RESULTS = ("ok", "error")


class AuditEntry(Base):
    """One supervisor action: who (token name and role), what, on which target, when, and
    how it went. Written through the store writer (journal first), never updated."""

    __tablename__ = "audit"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid: replays add nothing
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = _text(64)  # the token's name
    role: Mapped[str] = _text(16)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    target: Mapped[str] = _text(SEAT_LEN)  # seat id (or what the action was on)
    detail: Mapped[str] = _text()  # the action's parameters, JSON
    result: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str] = _text()
    as_of: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (
        CheckConstraint(
            "result IN ({})".format(", ".join(f"'{r}'" for r in AUDIT_RESULTS)), name="result"
        ),
        Index("ix_audit_at", "at"),
        Index("ix_audit_target", "target"),
    )


#: The CallRecord fields, in column order (everything but the bookkeeping timestamps).
RECORD_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in Call.__table__.columns if c.name not in ("created_at", "updated_at")
)

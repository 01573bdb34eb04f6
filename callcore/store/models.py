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
    )


#: The CallRecord fields, in column order (everything but the bookkeeping timestamps).
RECORD_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in Call.__table__.columns if c.name not in ("created_at", "updated_at")
)

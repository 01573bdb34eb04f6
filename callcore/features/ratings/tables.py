"""The `ratings` table: one row per call a 12345 seat answered (migration 0006_quality)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callcore.store.models import (
    HOTLINE_LEN,
    LINKEDID_LEN,
    SEAT_LEN,
    Base,
    FlagsType,
    UTCDateTime,
    _text,
)

OUTCOMES = ("rated", "no_key", "invalid", "hangup")
SOURCES = ("live", "reconciled")
ZONE_LEN = 32
KEY_LEN = 1


class Rating(Base):
    """How the caller rated the call (一次一评), or why it was not rated (level NULL)."""

    __tablename__ = "ratings"

    linkedid: Mapped[str] = mapped_column(String(LINKEDID_LEN), primary_key=True)
    seat: Mapped[str] = _text(SEAT_LEN)  # the seat that served last
    legs: Mapped[list[str]] = mapped_column(FlagsType, nullable=False, default=list)  # leg ids
    hotline: Mapped[str] = _text(HOTLINE_LEN)
    zone: Mapped[str] = _text(ZONE_LEN)
    request_id: Mapped[str] = _text(LINKEDID_LEN)
    key: Mapped[str] = _text(KEY_LEN)  # the last key pressed; empty when none
    level: Mapped[int | None] = mapped_column(Integer)  # 1 非常满意 … 5 非常不满意; NULL 未评价
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    as_of: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (
        CheckConstraint("level IS NULL OR (level >= 1 AND level <= 5)", name="level"),
        CheckConstraint(
            "outcome IN ({})".format(", ".join(f"'{o}'" for o in OUTCOMES)), name="outcome"
        ),
        CheckConstraint(
            "source IN ({})".format(", ".join(f"'{s}'" for s in SOURCES)), name="source"
        ),
        CheckConstraint("(outcome = 'rated') = (level IS NOT NULL)", name="rated_level"),
        Index("ix_ratings_at", "at"),
        Index("ix_ratings_seat", "seat"),
    )

"""The QA desk's tables (migration 0006_quality): the day's samples and the scores.

`qa_scores` rows are never updated or deleted: the migration adds triggers that refuse
both on SQLite and PostgreSQL, so even a hand-written UPDATE cannot change a score. A
correction is the next `version` of the same call's score.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from callcore.store.models import LINKEDID_LEN, SEAT_LEN, Base, FlagsType, UTCDateTime, _text

ID_LEN = 32  # reviewer, scorecard and item ids (config.quality.ID)


class QaSample(Base):
    """A call drawn for inspection: why (every rule that picked it) and who reviews it."""

    __tablename__ = "qa_samples"

    linkedid: Mapped[str] = mapped_column(String(LINKEDID_LEN), primary_key=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)  # the call's local day
    seat: Mapped[str] = _text(SEAT_LEN)
    reasons: Mapped[list[str]] = mapped_column(FlagsType, nullable=False, default=list)
    reviewer: Mapped[str] = _text(ID_LEN)
    scorecard: Mapped[str] = _text(ID_LEN)
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        Index("ix_qa_samples_day", "day"),
        Index("ix_qa_samples_reviewer", "reviewer"),
        Index("ix_qa_samples_seat", "seat"),
    )


class QaScore(Base):
    """One version of a call's score; version 1 is the score, each later one a correction."""

    __tablename__ = "qa_scores"

    linkedid: Mapped[str] = mapped_column(String(LINKEDID_LEN), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, nullable=False)  # the call's local day
    seat: Mapped[str] = _text(SEAT_LEN)
    reviewer: Mapped[str] = _text(ID_LEN)
    scorecard: Mapped[str] = _text(ID_LEN)
    points: Mapped[dict[str, Any]] = mapped_column(FlagsType, nullable=False)  # item → points
    fails: Mapped[list[str]] = mapped_column(FlagsType, nullable=False)  # fail items ticked
    notes: Mapped[dict[str, Any]] = mapped_column(FlagsType, nullable=False)  # item → comment
    comment: Mapped[str] = _text()
    raw_total: Mapped[int] = mapped_column(Integer, nullable=False)  # the points, as given
    total: Mapped[int] = mapped_column(Integer, nullable=False)  # 0 when failed
    failed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    reason: Mapped[str] = _text()  # why this correction (empty for version 1)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint("total >= 0 AND total <= 100", name="total"),
        CheckConstraint("version = 1 OR reason <> ''", name="reason"),
        Index("ix_qa_scores_seat_day", "seat", "day"),
        Index("ix_qa_scores_reviewer", "reviewer"),
    )

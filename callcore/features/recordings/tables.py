"""The recordings table (migration 0007_recordings): one row per recorded leg."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from callcore.store.models import LINKEDID_LEN, SEAT_LEN, Base, UTCDateTime, _text


class Recording(Base):
    """A recorded leg: which call, which leg and who served it, when, how long, the stored
    file (its path under the recordings folder, size, sha256 and codec)."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(LINKEDID_LEN), primary_key=True)  # the uniqueid
    linkedid: Mapped[str] = mapped_column(String(LINKEDID_LEN), nullable=False)
    leg: Mapped[str] = mapped_column(String(16), nullable=False)
    seat: Mapped[str] = _text(SEAT_LEN)
    endpoint: Mapped[str] = _text(64)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    duration: Mapped[float] = mapped_column(Float, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    codec: Mapped[str] = mapped_column(String(16), nullable=False)
    path: Mapped[str] = _text(255)
    as_of: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (
        Index("ix_recordings_linkedid", "linkedid"),
        Index("ix_recordings_started_at", "started_at"),
        Index("ix_recordings_seat", "seat"),
    )

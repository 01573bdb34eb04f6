"""The reports' rollups, on `callcore.store.models.Base` (migration 0009_report_rollups).

A closed local day's sums are kept so that a month's report reads thirty small days
instead of a million calls and four million seat events (docs/decisions/reports.md):
`report_rollup_days` says which days are rolled up, under which time zone, from which
state of the store (`stamp`), and holds the day's arrivals for the 24-hour window;
`report_rollups` holds the day's sums, one row per dimension.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from callcore.store.models import Base, UTCDateTime

TZ_LEN = 64
DIM_LEN = 16


class RollupDay(Base):
    """One rolled-up local day: what it was built from and its calls' arrivals."""

    __tablename__ = "report_rollup_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tz: Mapped[str] = mapped_column(String(TZ_LEN), primary_key=True)
    stamp: Mapped[str] = mapped_column(String(64), nullable=False)  # inputs' fingerprint
    built_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    calls: Mapped[int] = mapped_column(nullable=False)
    # float64 arrival times (epoch seconds) then one byte per call: a human answered
    arrivals: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Rollup(Base):
    """A day's sums for one dimension (bucket, route, hotline, seat, bucket_route):
    arrays (`packed.Packed`); or its seat time (seat_state): JSON."""

    __tablename__ = "report_rollups"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tz: Mapped[str] = mapped_column(String(TZ_LEN), primary_key=True)
    dim: Mapped[str] = mapped_column(String(DIM_LEN), primary_key=True)
    sums: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


rollup_days = RollupDay.__table__
rollups = Rollup.__table__

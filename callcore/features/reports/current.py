"""Seats needed per zone in the interval under way, for the supervisors' monitor.

The need is the Erlang A answer (`erlang.py`, the site's SL and abandon targets) for the
interval's expected calls: the same weekday's mean over the weeks before
(`ReportService.forecast`, read from the kept days), or where a zone has no such history,
the calls of today's interval before. It changes only when the interval does, so it is
computed once per interval, in a thread, and every refresh of the monitor reads the
result; the monitor puts it beside the seats of the zone logged in now (live snapshot).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .model import BUCKET_SECONDS, interval_key
from .service import ReportService, Staffing, StaffingRow

log = logging.getLogger(__name__)
RETRY = timedelta(minutes=1)


@dataclass(frozen=True)
class ZoneNeed:
    zone: str
    offered: float  # calls expected in the interval
    needed_c: int  # Erlang C: the SL target
    needed_a: int  # Erlang A: the SL and abandon targets
    basis: str  # forecast | previous (today's interval before) | none


@dataclass(frozen=True)
class IntervalNeed:
    day: date
    slot: str  # HH:MM, local start of the interval
    interval: int  # minutes
    zones: dict[str, ZoneNeed]


def slot_of(now: datetime, tz: str, interval: int) -> tuple[date, str]:
    """The local day and HH:MM start of the interval holding `now`."""
    key = interval_key(int(now.timestamp() // BUCKET_SECONDS), tz, interval)
    return date.fromisoformat(key[:10]), key[11:]


def compute(svc: ReportService, now: datetime, interval: int = 30, weeks: int = 4) -> IntervalNeed:
    """The need of the interval holding `now` (synchronous: reads the store)."""
    tz = svc.config().site.timezone
    day, slot = slot_of(now, tz, interval)
    forecast = _rows(svc.forecast(day, weeks, interval), slot)
    zones = {z: ZoneNeed(z, r.offered, r.needed_c, r.needed_a, "forecast") for z, r in forecast}
    if any(z.offered == 0 for z in zones.values()) or not zones:
        before_day, before = slot_of(now - timedelta(minutes=interval), tz, interval)
        for z, r in _rows(svc.staffing(before_day, interval), before):
            if r.offered and zones.get(z, ZoneNeed(z, 0, 0, 0, "none")).offered == 0:
                zones[z] = ZoneNeed(z, r.offered, r.needed_c, r.needed_a, "previous")
    return IntervalNeed(day, slot, interval, dict(sorted(zones.items())))


def _rows(s: Staffing, slot: str) -> list[tuple[str, StaffingRow]]:
    return [(r.zone, r) for r in s.rows if r.slot == slot]


class CurrentNeed:
    """The need of the interval under way, recomputed in a thread when the interval
    changes; `get()` never waits for it (the last result, or None at first)."""

    def __init__(
        self,
        svc: ReportService,
        interval: int = 30,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.svc = svc
        self.interval = interval
        self.clock = clock
        self.value: IntervalNeed | None = None
        self._for: tuple[date, str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._not_before = datetime.min.replace(tzinfo=UTC)

    def get(self) -> IntervalNeed | None:
        now = self.clock()
        key = slot_of(now, self.svc.config().site.timezone, self.interval)
        idle = self._task is None or self._task.done()
        if key != self._for and idle and now >= self._not_before:
            self._for = key
            self._task = asyncio.get_running_loop().create_task(self._compute(now))
        return self.value

    async def _compute(self, now: datetime) -> None:
        try:
            self.value = await asyncio.to_thread(compute, self.svc, now, self.interval)
        except Exception as exc:  # the store may be away: try again in a minute
            log.info("staffing for the monitor not computed (%s)", exc)
            self._for = None
            self._not_before = self.clock() + RETRY

    async def wait(self) -> IntervalNeed | None:
        """The computation under way, if any, done (for one-shot printing and tests)."""
        if self._task is not None:
            await self._task
        return self.value

"""The daily draw: once a day, shortly after local midnight, the day before is sampled.

The engine runs `DailyDraw.run` as a task; the draw itself (SQL over a day of calls) runs in
a thread, never on the event loop. Drawing is idempotent, so the task also draws at start
(a day the engine was down for is caught up) and a day drawn twice adds nothing; a late
rating found at the next draw only adds its reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcore.features.quality.model import QualityError
from callcore.features.quality.service import QualityService

log = logging.getLogger(__name__)
DRAW_AT = time(0, 30)  # local time: after the day's last calls and their ratings
RETRY_SECONDS = 300.0  # after a failed draw (the store away, the schema not ready)


def day_before(now: datetime, tz: str) -> date:
    """The local day before `now`."""
    return now.astimezone(ZoneInfo(tz)).date() - timedelta(days=1)


def seconds_to_next(now: datetime, tz: str, at: time = DRAW_AT) -> float:
    """Seconds from `now` to the next local `at` (a whole day when it is `at` now)."""
    local = now.astimezone(ZoneInfo(tz))
    nxt = datetime.combine(local.date(), at, tzinfo=local.tzinfo)
    if nxt <= local:
        nxt = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=local.tzinfo)
    return max(1.0, (nxt.astimezone(UTC) - now.astimezone(UTC)).total_seconds())


class DailyDraw:
    """Draws the day before, now and every day at `DRAW_AT` (the site's time zone)."""

    def __init__(
        self,
        service: QualityService,
        timezone: Callable[[], str],
        *,
        ready: Callable[[], bool] = lambda: True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`ready` says whether the store's schema is in place (it blocks: run in a thread)."""
        self._service = service
        self._tz = timezone
        self._ready = ready
        self._clock = clock
        self.last: date | None = None  # the last day drawn

    def once(self) -> int | None:
        """Draw the day before now (blocking); the number of samples of that day (0 at a
        site without a QA desk), or None when the store is not ready."""
        if not self._ready():
            return None
        day = day_before(self._clock(), self._tz())
        try:
            samples = self._service.draw(day)
        except QualityError as exc:
            if exc.code != "no_quality":
                raise
            return 0  # no QA desk at this site: nothing to draw, nothing wrong
        self.last = day
        log.info("QA: %d samples for %s", len(samples), day.isoformat())
        return len(samples)

    async def run(self) -> None:
        while True:
            try:
                drawn = await asyncio.to_thread(self.once)
            except Exception as exc:  # the store away, a config without quality: try later
                log.warning("QA daily draw failed (%s); trying again later", exc)
                drawn = None
            delay = seconds_to_next(self._clock(), self._tz())
            await asyncio.sleep(delay if drawn is not None else min(delay, RETRY_SECONDS))

"""Today's ratings (一次一评) in the live state: rated share and 满意率 per zone, seat and
number, the unsatisfied ratings, and an alert on each new one.

The figures are the stored ones (`RatingService.figures`, docs/figures.md), read in a
thread and written to Redis as one JSON value (`Keys.ratings`) that every snapshot reads
in its one pipeline: a second after a rating is filed when one was, every `REFRESH`
seconds otherwise (answered calls raise the count to be rated). Each rating 不满意 or
非常不满意 is also a `rating.unsatisfied` stream event at once. Redis or the store being away only
leaves the last value in place until it expires; calls are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from pydantic import Field

from callcore.api.registry import Model
from callcore.features.live.keys import DAY_TTL, Keys
from callcore.features.ratings.model import RatingFigures, RatingRecord, level_label
from callcore.features.ratings.service import RatingService
from config.schema import SiteConfig
from queues.stats import day_of

log = logging.getLogger(__name__)
REFRESH = 15.0  # seconds between refreshes with no new rating
SOON = 1.0  # seconds from a new rating to the refreshed figures
RETRY = 5.0  # seconds before trying again when Redis or the store failed
UNSATISFIED_SHOWN = 50  # the newest unsatisfied ratings of the day kept in the view


class RatingGroup(Model):
    """One group's figures today (docs/figures.md, "Ratings")."""

    key: str = Field(description="zone, seat id or number; empty for the whole site")
    answered: int
    rated: int
    satisfied: int
    unsatisfied: int
    rated_share: float | None
    satisfaction: float | None = Field(description="满意率")


class UnsatisfiedRating(Model):
    linkedid: str
    seat: str
    zone: str
    hotline: str
    level: int
    label: str
    at: float


class RatingsView(Model):
    """Today's ratings as the live state holds them."""

    day: str
    at: float = Field(description="when these figures were read from the store")
    total: RatingGroup
    zones: list[RatingGroup] = Field(default_factory=list)
    seats: list[RatingGroup] = Field(default_factory=list)
    numbers: list[RatingGroup] = Field(default_factory=list)
    unsatisfied: list[UnsatisfiedRating] = Field(default_factory=list)


def group(key: str, f: RatingFigures) -> RatingGroup:
    return RatingGroup(
        key=key,
        answered=f.answered,
        rated=f.rated,
        satisfied=f.satisfied,
        unsatisfied=f.rated - f.satisfied,
        rated_share=f.rated_share,
        satisfaction=f.satisfaction,
    )


def ratings_view(service: RatingService, cfg: SiteConfig, now: float) -> RatingsView:
    """Today's view, read from the store (blocking: run it in a thread)."""
    tz = ZoneInfo(cfg.site.timezone)
    until = datetime.fromtimestamp(now, tz) + timedelta(seconds=1)
    since = until.replace(hour=0, minute=0, second=0, microsecond=0)
    per: dict[str, list[RatingGroup]] = {}
    for grouping in ("zone", "seat", "number"):
        found = service.figures(since, until, grouping)
        per[grouping] = [group(k, f) for k, f in sorted(found.items())]
    total = service.figures(since, until, "all").get("", RatingFigures())
    bad = service.ratings(since, until, unsatisfied=True)[-UNSATISFIED_SHOWN:]
    return RatingsView(
        day=day_of(until, cfg.site.timezone),
        at=now,
        total=group("", total),
        zones=per["zone"],
        seats=per["seat"],
        numbers=per["number"],
        unsatisfied=[
            UnsatisfiedRating(
                linkedid=r["linkedid"], seat=r["seat"], zone=r["zone"], hotline=r["hotline"],
                level=r["level"], label=level_label(r["level"]), at=r["at"].timestamp(),
            )
            for r in reversed(bad)
        ],
    )  # fmt: skip


class RatingsFeed:
    """Keeps `RatingsView` of today in Redis, and raises the unsatisfied-rating alert."""

    def __init__(
        self,
        service: RatingService,
        config: Callable[[], SiteConfig],
        redis: Any,
        keys: Keys,
        emit: Callable[[dict[str, Any]], None],
    ):
        self._service = service
        self._config = config
        self._redis = redis
        self._keys = keys
        self._emit = emit
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.refreshes = 0
        self.last_error: str | None = None

    def on_rating(self, rec: RatingRecord) -> None:
        """Each rating filed (the rating desk's listener): refresh soon; alert if unsatisfied."""
        self._wake.set()
        if rec.unsatisfied:
            self._emit(alert(rec))

    async def refresh(self) -> RatingsView | None:
        cfg = self._config()
        if cfg.ratings is None:
            return None
        view = await asyncio.to_thread(ratings_view, self._service, cfg, time.time())
        await self._redis.set(
            self._keys.ratings(view.day), orjson.dumps(view.model_dump()), ex=DAY_TTL
        )
        self.refreshes += 1
        return view

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), REFRESH)
            self._wake.clear()
            try:
                await self.refresh()
                self.last_error = None
            except Exception as exc:  # Redis or the store away: try again later, never stop
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.debug("ratings in the live state not refreshed: %s", self.last_error)
                self._wake.set()  # soon again (the store may be migrating at start)
                await asyncio.sleep(RETRY)
            await asyncio.sleep(SOON)

    async def start(self) -> None:
        self._wake.set()  # the first view at once
        self._task = asyncio.create_task(self._run(), name="live-ratings")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)  # its cancellation


def alert(rec: RatingRecord) -> dict[str, Any]:
    """The stream event of an unsatisfied rating: supervisors follow each one up."""
    return {
        "type": "rating.unsatisfied",
        "at": rec.at.timestamp(),
        "data": {
            "linkedid": rec.linkedid,
            "seat": rec.seat,
            "zone": rec.zone,
            "hotline": rec.hotline,
            "level": rec.level,
            "label": level_label(rec.level),
        },
    }

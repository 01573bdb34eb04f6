"""Ratings over HTTP: the stored figures (rated share, 满意率) per zone, seat or number, the
ratings given in a window, and one call's rating.

Read-only: built on the store's read side (`ApiServices.db`), so `callcore api` nodes serve
it as the engine does. Supervisors see the figures; QA reviewers (and supervisors, admins)
the ratings themselves. A rating row holds no personal data (no caller number).
Refusals are Chinese unless the request's Accept-Language asks for English.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.calls.api import _when
from callcore.features.ratings.model import RatingFigures, level_label
from callcore.features.ratings.service import RatingService

api = Api(
    "ratings",
    "After-call ratings (一次一评): each answered call's level or 未评价, the rated share and "
    "满意率 per zone, seat and number.",
)
MAX_LIMIT = 2000
_MESSAGES = {
    "bad_window": ("since 须早于 until", "since must be before until"),
    "unknown_call": ("该通话没有评价记录", "no rating for that call"),
}


def _lang(req: ApiRequest) -> str:
    return "en" if req.request.headers.get("Accept-Language", "").startswith("en") else "zh"


def _refuse(req: ApiRequest, status: int, code: str) -> ApiError:
    zh, en = _MESSAGES[code]
    return ApiError(status, code, zh if _lang(req) == "zh" else en)


def _service(req: ApiRequest) -> RatingService:
    """Reads only: nothing is filed through the API."""

    def refuse(_rec: Any) -> None:
        raise RuntimeError("ratings are filed by the engine, not the API")

    return RatingService(req.services.db, refuse, req.services.config)


class Window(Model):
    since: str | None = Field(
        None, description="ISO time, or an age such as 30m, 2h, 7d (default: today, local)"
    )
    until: str | None = Field(None, description="ISO time (exclusive; default: now)")

    @field_validator("since", "until")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        if v is None or (v[-1:] in "smhd" and v[:-1].isdigit()):
            return v
        datetime.fromisoformat(v)  # raises ValueError: reported as a 400
        return v


def _window(req: ApiRequest, q: Window) -> tuple[datetime, datetime]:
    tz = req.services.config().site.timezone
    until = _when(q.until, tz, timedelta(0))
    if q.since is None:
        assert until is not None
        since = until.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        since = _when(q.since, tz, None)
    assert since is not None and until is not None
    if since >= until:
        raise _refuse(req, 400, "bad_window")
    return since, until


class FiguresQuery(Window):
    by: Literal["all", "zone", "seat", "number"] = Field(
        "all", description="group by the zone, seat (served last) or number of the call"
    )


class FigureOut(Model):
    """One group's figures over the calls that entered in the window."""

    key: str = Field(description="zone, seat id or number; empty for `all`")
    answered: int
    rated: int
    unrated: int = Field(description="未评价: answered − rated")
    levels: dict[str, int] = Field(description="level (1 非常满意 … 5 非常不满意) → ratings")
    satisfied: int
    rated_share: float | None
    satisfaction: float | None = Field(description="满意率: satisfied / rated")


class FiguresOut(Model):
    since: str
    until: str
    by: str
    groups: list[FigureOut]


def figure_out(key: str, f: RatingFigures) -> FigureOut:
    return FigureOut(key=key, **f.as_dict())


@api.get(
    "/api/v1/ratings/figures", role=Role.SUPERVISOR, query=FiguresQuery, response=FiguresOut
)
async def rating_figures(req: ApiRequest) -> FiguresOut:
    """Rated share and 满意率 of the calls answered that entered in [since, until)."""
    q: FiguresQuery = req.query
    since, until = _window(req, q)
    figures = await asyncio.to_thread(_service(req).figures, since, until, q.by)
    return FiguresOut(
        since=since.isoformat(),
        until=until.isoformat(),
        by=q.by,
        groups=[figure_out(k, f) for k, f in sorted(figures.items())],
    )


class RatingOut(Model):
    """A call's rating: its level, or 未评价 with why (`outcome`)."""

    linkedid: str
    seat: str = Field(description="the seat that served last")
    legs: list[str] = Field(description="the call's legs (its transfer chain), in order")
    hotline: str
    zone: str
    request_id: str
    key: str = Field(description="the last key pressed; empty when none")
    level: int | None
    label: str = Field(description="the level in words (未评价 for none)")
    outcome: Literal["rated", "no_key", "invalid", "hangup"]
    at: str
    source: Literal["live", "reconciled"]


def rating_out(row: dict[str, Any], lang: str = "zh") -> RatingOut:
    fields = {k: row[k] for k in RatingOut.model_fields if k in row and k != "label"}
    fields["at"] = row["at"].isoformat()
    return RatingOut(label=level_label(row["level"], lang), **fields)


class RatingsQuery(Window):
    seat: str | None = Field(None, description="only the ratings of this seat")
    unsatisfied: bool = Field(False, description="only 不满意 and 非常不满意")
    limit: int = Field(500, ge=1, le=MAX_LIMIT)


class RatingsOut(Model):
    """Ratings given in the window, oldest first (at most `limit`)."""

    ratings: list[RatingOut]
    truncated: bool


@api.get("/api/v1/ratings", role=Role.QA, query=RatingsQuery, response=RatingsOut)
async def list_ratings(req: ApiRequest) -> RatingsOut:
    """The ratings given in [since, until), optionally of one seat or only unsatisfied."""
    q: RatingsQuery = req.query
    since, until = _window(req, q)
    rows = await asyncio.to_thread(_service(req).ratings, since, until, q.seat, q.unsatisfied)
    lang = _lang(req)
    return RatingsOut(
        ratings=[rating_out(r, lang) for r in rows[: q.limit]], truncated=len(rows) > q.limit
    )


@api.get(
    "/api/v1/calls/{linkedid}/rating", role=Role.QA, response=RatingOut, errors=(404,)
)
async def call_rating(req: ApiRequest) -> RatingOut:
    """One call's rating (404 while it has none: not answered, or the caller still on)."""
    row = await asyncio.to_thread(_service(req).rating, req.path["linkedid"])
    if row is None:
        raise _refuse(req, 404, "unknown_call")
    return rating_out(row, _lang(req))

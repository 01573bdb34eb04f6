"""The `quality:` section: the QA desk (质检): who reviews, which calls are sampled, and the
scorecards they are scored against.

Sampling rules combine: a call any rule picks is sampled once, with every reason that
picked it. Scorecards add up to exactly 100 points; items marked `fail` carry no points and
fail the call outright when ticked (docs/decisions/quality.md).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field, model_validator

from config.base import CrossReferenceError, Problems, Strict, duplicates

ID = r"^[A-Za-z0-9_-]{1,32}$"
SCORECARD_TOTAL = 100


class Reviewer(Strict):
    """A QA reviewer (质检员): samples are assigned to reviewers."""

    id: Annotated[str, Field(pattern=ID)]
    name: str


class Sampling(Strict):
    """Which calls of a day are inspected. Every rule is off at 0 / false."""

    # Mixed with the day and the seat, so a draw can be repeated and checked by anyone.
    seed: Annotated[str, Field(min_length=1, max_length=64)] = "12345"
    # Share of each seat's answered calls of the day, drawn at random (at least one call
    # of a seat that answered any, when the share is above 0).
    random_share: Annotated[float, Field(ge=0, le=1)] = 0.0
    unsatisfied: bool = False  # every call rated 不满意 or 非常不满意
    longer_than_minutes: Annotated[int, Field(ge=0, le=600)] = 0  # every call talked longer
    transferred: bool = False  # every call that was transferred
    new_seat_days: Annotated[int, Field(ge=0, le=365)] = 0  # every call in a seat's first days


class Item(Strict):
    """One line of a scorecard: worth `points`, or (`fail: true`) failing the call outright."""

    id: Annotated[str, Field(pattern=ID)]
    name: Annotated[str, Field(min_length=1)]
    points: Annotated[int, Field(ge=0, le=SCORECARD_TOTAL)] = 0
    fail: bool = False

    @model_validator(mode="after")
    def _points_or_fail(self) -> Item:
        if self.fail and self.points:
            raise ValueError("a fail item carries no points (it zeroes the total instead)")
        if not self.fail and not self.points:
            raise ValueError("an item needs points above 0, or fail: true")
        return self


class Scorecard(Strict):
    id: Annotated[str, Field(pattern=ID)]
    name: Annotated[str, Field(min_length=1)]
    items: Annotated[list[Item], Field(min_length=1)]

    @model_validator(mode="after")
    def _adds_up(self) -> Scorecard:
        problems = duplicates("items", [(i, it.id) for i, it in enumerate(self.items)], "id")
        if self.total != SCORECARD_TOTAL:
            problems.append((("items",), f"points add up to {self.total}, not {SCORECARD_TOTAL}"))
        if problems:
            raise CrossReferenceError(problems)
        return self

    @property
    def total(self) -> int:
        return sum(i.points for i in self.items)

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)


class QualitySettings(Strict):
    reviewers: list[Reviewer] = []
    sampling: Sampling = Sampling()
    scorecards: Annotated[list[Scorecard], Field(min_length=1)]
    # The scorecard a sample is scored on; default: the first.
    default_scorecard: str | None = None
    # When each seat started on the floor, for `sampling.new_seat_days`.
    seats_started: dict[Annotated[str, Field(pattern=ID)], date] = {}

    @model_validator(mode="after")
    def _references(self) -> QualitySettings:
        problems = duplicates("reviewers", [(i, r.id) for i, r in enumerate(self.reviewers)], "id")
        problems += duplicates(
            "scorecards", [(i, s.id) for i, s in enumerate(self.scorecards)], "id"
        )
        if self.default_scorecard is not None and self.scorecard(self.default_scorecard) is None:
            problems.append(
                (("default_scorecard",), f"unknown scorecard {self.default_scorecard!r}")
            )
        if problems:
            raise CrossReferenceError(problems)
        return self

    def scorecard(self, card_id: str | None = None) -> Scorecard | None:
        """A scorecard by id; the default one without an id."""
        wanted = card_id or self.default_scorecard
        if wanted is None:
            return self.scorecards[0]
        return next((s for s in self.scorecards if s.id == wanted), None)

    def unknown_seats(self, seat_ids: set[str]) -> Problems:
        """Problems for `seats_started` entries that name no seat of the site."""
        return [
            (("seats_started", s), f"unknown seat {s!r}")
            for s in self.seats_started
            if s not in seat_ids
        ]

"""The QA desk's operations on the store: draw a day's samples, a reviewer's queue, score,
correct, and read a seat's scores and summaries.

Synchronous (SQLAlchemy; the API calls it from a thread). Scores are written in one
transaction with their audit row, not through the writer's journal: a reviewer must learn
at once whether the score was taken (a second first score, or two corrections racing for
the same version, are refused by the table's key), and a score without its audit row, or
the other way round, cannot exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, exists, func, insert, select
from sqlalchemy.exc import IntegrityError

from callcore.features.quality.model import (
    PERIODS,
    Candidate,
    Marks,
    QualityError,
    Sample,
    Score,
    SeatSummary,
    correction,
    current,
    draw,
    first_score,
    ordered,
    summarize,
)
from callcore.features.quality.tables import QaSample, QaScore
from callcore.records import CallRecord
from callcore.store import audit
from callcore.store.db import get_call
from callcore.store.models import AuditEntry, Call, CallLeg
from config.quality import QualitySettings, Scorecard
from config.schema import SiteConfig

samples_t = QaSample.__table__
scores_t = QaScore.__table__
audit_t = AuditEntry.__table__
calls_t = Call.__table__
legs_t = CallLeg.__table__
_CHUNK = 500
STATUSES = ("pending", "scored", "all")


def _sample(row: Any) -> Sample:
    return Sample(
        row["linkedid"], row["day"], row["seat"], tuple(row["reasons"]), row["reviewer"],
        row["scorecard"],
    )  # fmt: skip


@dataclass(frozen=True)
class Actor:
    """Who asked, for the audit: a token's name and role (a reviewer's id from the CLI)."""

    name: str
    role: str = "qa"


def _audit(
    conn: Connection, who: Actor, action: str, target: str, detail: dict[str, Any], at: datetime
) -> None:
    """The audit row, in the caller's transaction: the action and its audit stand or fall
    together."""
    conn.execute(insert(audit_t), [audit.row(who.name, who.role, action, target, detail, at=at)])


@dataclass(frozen=True)
class Queued:
    """A sample in a queue, with the current version of its score if it has one."""

    sample: Sample
    score: Score | None = None


@dataclass(frozen=True)
class SampleView:
    """What a reviewer opens: the sample, the stored call, its rating, its score versions."""

    sample: Sample
    call: CallRecord | None
    rating: dict[str, Any] | None
    history: list[Score]


class QualityService:
    def __init__(
        self,
        engine: Engine,
        config: Callable[[], SiteConfig],
        *,
        unsatisfied: Callable[[Iterable[str]], set[str]] = lambda ids: set(),
        rating_of: Callable[[str], dict[str, Any] | None] = lambda linkedid: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`unsatisfied` tells which calls were rated 不满意 / 非常不满意, `rating_of` a
        call's rating (the ratings feature's `RatingService.unsatisfied_calls` and
        `rating_of`)."""
        self._engine = engine
        self._config = config
        self._unsatisfied = unsatisfied
        self._rating_of = rating_of
        self._clock = clock

    def _settings(self) -> QualitySettings:
        q = self._config().quality
        if q is None:
            raise QualityError(404, "no_quality", "the site config has no quality section")
        return q

    def _card(self, card_id: str) -> Scorecard:
        card = self._settings().scorecard(card_id or None)
        if card is None:
            raise QualityError(409, "unknown_scorecard", f"scorecard {card_id!r} is not configured")
        return card

    def scorecard(self, card_id: str) -> Scorecard | None:
        """A configured scorecard (None once it is gone from the config)."""
        return self._settings().scorecard(card_id or None)

    def timezone(self) -> str:
        return self._config().site.timezone

    def _reviewer(self, reviewer: str) -> None:
        if all(r.id != reviewer for r in self._settings().reviewers):
            raise QualityError(403, "not_a_reviewer", f"{reviewer!r} is not a QA reviewer")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    # -- sampling ---------------------------------------------------------------------------

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """The site's local day as a UTC range [start, end)."""
        tz = ZoneInfo(self._config().site.timezone)
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
        return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)

    def candidates(self, day: date) -> list[Candidate]:
        """The calls a seat answered that entered on the local `day`."""
        since, until = self.day_bounds(day)
        n_legs = (
            select(func.count()).where(legs_t.c.linkedid == calls_t.c.linkedid).scalar_subquery()
        )
        stmt = select(
            calls_t.c.linkedid, calls_t.c.seat, calls_t.c.talk_seconds, calls_t.c.outcome,
            calls_t.c.transfer_target, n_legs.label("legs"),
        ).where(
            calls_t.c.answered_at.is_not(None), calls_t.c.seat != "",
            calls_t.c.entered_at >= since, calls_t.c.entered_at < until,
        )  # fmt: skip
        with self._engine.connect() as conn:
            rows = list(conn.execute(stmt).mappings())
        unhappy = self._unsatisfied([r["linkedid"] for r in rows]) if rows else set()
        return [
            Candidate(
                linkedid=r["linkedid"],
                seat=r["seat"],
                day=day,
                talk_seconds=r["talk_seconds"],
                transferred=r["legs"] > 1
                or r["outcome"] == "transferred"
                or bool(r["transfer_target"]),
                unsatisfied=r["linkedid"] in unhappy,
            )
            for r in rows
        ]

    def draw(self, day: date) -> list[Sample]:
        """Sample the local `day`'s calls and keep the samples; returns all of that day's.

        Idempotent: drawing again gives the same samples. A sample already drawn keeps its
        reviewer and scorecard; a reason found later (a rating reconciled late) is added.
        """
        q = self._settings()
        card = self._card("")
        drawn = draw(self.candidates(day), q.sampling, q.seats_started, q.reviewers, card.id)
        now = self._now()
        with self._engine.begin() as conn:
            held = {s.linkedid: s for s in self._samples(conn, [s.linkedid for s in drawn])}
            for s in drawn:
                old = held.get(s.linkedid)
                if old is None:
                    row = {**s.__dict__, "reasons": list(s.reasons), "drawn_at": now}
                    conn.execute(insert(samples_t), [row])
                elif set(s.reasons) - set(old.reasons):
                    merged = ordered([*old.reasons, *s.reasons])
                    conn.execute(
                        samples_t.update()
                        .where(samples_t.c.linkedid == s.linkedid)
                        .values(reasons=merged)
                    )
            rows = conn.execute(
                select(samples_t)
                .where(samples_t.c.day == day)
                .order_by(samples_t.c.seat, samples_t.c.linkedid)
            ).mappings()
            return [_sample(r) for r in rows]

    def _samples(self, conn: Connection, linkedids: list[str]) -> list[Sample]:
        out: list[Sample] = []
        for i in range(0, len(linkedids), _CHUNK):
            stmt = select(samples_t).where(samples_t.c.linkedid.in_(linkedids[i : i + _CHUNK]))
            out.extend(_sample(r) for r in conn.execute(stmt).mappings())
        return out

    def queue(self, reviewer: str, include_scored: bool = False) -> list[Sample]:
        """A reviewer's samples, oldest day first; by default only those not yet scored."""
        stmt = select(samples_t).where(samples_t.c.reviewer == reviewer)
        if not include_scored:
            scored = exists().where(scores_t.c.linkedid == samples_t.c.linkedid)
            stmt = stmt.where(~scored)
        stmt = stmt.order_by(samples_t.c.day, samples_t.c.seat, samples_t.c.linkedid)
        with self._engine.connect() as conn:
            return [_sample(r) for r in conn.execute(stmt).mappings()]

    def samples(
        self,
        *,
        day: date | None = None,
        reviewer: str | None = None,
        seat: str | None = None,
        status: str = "pending",
        limit: int = 500,
    ) -> list[Queued]:
        """Samples by day, reviewer, seat and status (`pending`: not scored yet, `scored`,
        `all`), oldest day first, each with its current score."""
        if status not in STATUSES:
            raise QualityError(400, "bad_status", f"status is one of {', '.join(STATUSES)}")
        stmt = select(samples_t)
        for column, value in ((samples_t.c.day, day), (samples_t.c.reviewer, reviewer),
                              (samples_t.c.seat, seat)):  # fmt: skip
            if value is not None:
                stmt = stmt.where(column == value)
        scored = exists().where(scores_t.c.linkedid == samples_t.c.linkedid)
        if status != "all":
            stmt = stmt.where(scored if status == "scored" else ~scored)
        stmt = stmt.order_by(samples_t.c.day, samples_t.c.seat, samples_t.c.linkedid).limit(limit)
        with self._engine.connect() as conn:
            found = [_sample(r) for r in conn.execute(stmt).mappings()]
            ids = [s.linkedid for s in found]
            newest = {s.linkedid: s for s in current(self._scores_of(conn, ids))}
        return [Queued(s, newest.get(s.linkedid)) for s in found]

    def _scores_of(self, conn: Connection, linkedids: list[str]) -> list[Score]:
        out: list[Score] = []
        for i in range(0, len(linkedids), _CHUNK):
            stmt = select(scores_t).where(scores_t.c.linkedid.in_(linkedids[i : i + _CHUNK]))
            out.extend(Score.from_row(r) for r in conn.execute(stmt).mappings())
        return out

    def view(self, linkedid: str, by: Actor) -> SampleView:
        """A sample with its call, its rating and every version of its score. Audited (the
        call is a citizen's personal data), in the same transaction as the read."""
        with self._engine.begin() as conn:
            found = self._samples(conn, [linkedid])
            if not found:
                raise QualityError(404, "unknown_sample", f"call {linkedid!r} is not sampled")
            call = get_call(conn, linkedid)
            history = self._history(conn, linkedid)
            _audit(conn, by, "qa_view", linkedid, {"seat": found[0].seat}, self._now())
        return SampleView(found[0], call, self._rating_of(linkedid), history)

    def reviewer_of(self, name: str) -> str | None:
        """The reviewer id a token's name stands for (the id itself or the reviewer's name)."""
        for r in self._settings().reviewers:
            if name in (r.id, r.name):
                return r.id
        return None

    # -- scoring ----------------------------------------------------------------------------

    def submit(self, reviewer: str, linkedid: str, marks: Marks, by: Actor | None = None) -> Score:
        """A sample's first score. A call already scored is refused: correct it instead.
        `by` is who sent it, for the audit (default: the reviewer)."""
        self._reviewer(reviewer)
        with self._engine.begin() as conn:
            found = self._samples(conn, [linkedid])
            if not found:
                raise QualityError(404, "unknown_sample", f"call {linkedid!r} is not sampled")
            if self._history(conn, linkedid):
                raise QualityError(409, "already_scored", "already scored: submit a correction")
            score = first_score(found[0], reviewer, self._card(found[0].scorecard), marks,
                                self._now())  # fmt: skip
            self._insert(conn, score, "qa_score", by)
        return score

    def correct(
        self, reviewer: str, linkedid: str, marks: Marks, reason: str, by: Actor | None = None
    ) -> Score:
        """The next version of a call's score; every earlier version is kept as it was."""
        self._reviewer(reviewer)
        with self._engine.begin() as conn:
            history = self._history(conn, linkedid)
            card = self._card(history[-1].scorecard) if history else self._card("")
            score = correction(history, reviewer, card, marks, reason, self._now())
            self._insert(conn, score, "qa_correct", by)
        return score

    def _insert(self, conn: Connection, score: Score, action: str, by: Actor | None = None) -> None:
        try:
            conn.execute(insert(scores_t), [score.row()])
        except IntegrityError:  # the transaction is rolled back by the caller's block
            raise QualityError(
                409, "version_taken",
                f"version {score.version} of {score.linkedid!r} was just written: reload",
            ) from None  # fmt: skip
        detail = {
            "linkedid": score.linkedid, "version": score.version, "seat": score.seat,
            "reviewer": score.reviewer, "scorecard": score.scorecard, "total": score.total,
            "failed": score.failed, "reason": score.reason,
        }  # fmt: skip
        who = by or Actor(score.reviewer)
        _audit(conn, who, action, score.linkedid, detail, score.submitted_at)

    def _history(self, conn: Connection, linkedid: str) -> list[Score]:
        stmt = select(scores_t).where(scores_t.c.linkedid == linkedid).order_by(scores_t.c.version)
        return [Score.from_row(r) for r in conn.execute(stmt).mappings()]

    def history(self, linkedid: str) -> list[Score]:
        """Every version of a call's score, first to last."""
        with self._engine.connect() as conn:
            return self._history(conn, linkedid)

    # -- reading ----------------------------------------------------------------------------

    def _scores(self, since: date, until: date, seat: str | None) -> list[Score]:
        stmt = select(scores_t).where(scores_t.c.day >= since, scores_t.c.day < until)
        if seat is not None:
            stmt = stmt.where(scores_t.c.seat == seat)
        with self._engine.connect() as conn:
            return [Score.from_row(r) for r in conn.execute(stmt).mappings()]

    def seat_scores(self, seat: str, since: date, until: date) -> list[Score]:
        """A seat's own scores for calls of days in [since, until): the current version of
        each (`version` > 1 says it was corrected; `history` has the others)."""
        return current(self._scores(since, until, seat))

    def summary(
        self, since: date, until: date, period: str = "day", seat: str | None = None
    ) -> list[SeatSummary]:
        """Count, average and fails per seat and day, week or month, for calls of days in
        [since, until) (pass whole weeks or months for whole periods)."""
        if period not in PERIODS:
            raise QualityError(400, "bad_period", f"period is one of {', '.join(PERIODS)}")
        return summarize(self._scores(since, until, seat), period)

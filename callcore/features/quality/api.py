"""The QA desk (质检) over HTTP: a reviewer's queue, one sample with its call, its rating
and its recordings, scoring, corrections, and per-seat summaries.

QA endpoints take a qa token (its name is a reviewer's id or name) or a supervisor's or
admin's, who name the reviewer they score for. A seat token sees its own scores and
summary only (`/api/v1/qa/seats/{seat}/…`). Opening a sample is audited (the call is a
citizen's personal data), as is every score and correction. Recordings are not served
here: a sample links to the recordings endpoints (`RECORDINGS`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Literal, TypeVar

from pydantic import Field, StrictInt, model_validator

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.calls.present import call_json
from callcore.features.quality.model import (
    Marks,
    QualityError,
    Reason,
    Sample,
    Score,
    mask_number,
)
from callcore.features.quality.service import Actor, QualityService, Queued, SampleView
from callcore.features.ratings.model import level_label

api = Api(
    "quality",
    "The QA desk (质检): sampled calls, reviewers' queues, scores that are never edited "
    "(a correction is the next version), and per-seat summaries.",
)
SAMPLE = "/api/v1/qa/samples/{linkedid}"
RECORDINGS = "/api/v1/calls/{linkedid}/recordings"  # served by the recordings feature
MAX_DAYS = 400  # the longest range a summary or a seat's scores cover
T = TypeVar("T")


async def _call(req: ApiRequest, op: Callable[[QualityService], T]) -> T:
    """`op` on the QA desk in a thread; its refusals as error replies (Chinese unless the
    request's Accept-Language asks for English)."""
    return await req.in_thread(
        "quality", op, QualityError, lambda e: ApiError(e.status, e.code, e.text(req.lang))
    )


def _actor(req: ApiRequest) -> Actor:
    ident = req.identity
    return Actor(ident.name, ident.role.value) if ident is not None else Actor("")


# -- models ---------------------------------------------------------------------------------


class SamplesQuery(Model):
    day: date | None = Field(None, description="the calls' local day, e.g. 2026-03-02")
    reviewer: str | None = Field(
        None, description="a reviewer's id (a qa token: its own by default; `all`: everyone's)"
    )
    seat: str | None = Field(None, description="only this seat's calls")
    status: Literal["pending", "scored", "all"] = Field("pending", description="by score")
    limit: int = Field(200, ge=1, le=1000)


class ScoreOut(Model):
    """One version of a call's score."""

    linkedid: str
    version: int
    day: str
    seat: str
    reviewer: str
    scorecard: str
    points: dict[str, int]
    fails: list[str]
    notes: dict[str, str]
    comment: str
    raw_total: int
    total: int
    failed: bool
    reason: str
    submitted_at: str


class SampleOut(Model):
    linkedid: str
    day: str
    seat: str
    reasons: list[str]
    reason_labels: list[str]
    reviewer: str
    scorecard: str
    status: Literal["pending", "scored"]
    score: ScoreOut | None = None  # the current version


class SampleList(Model):
    samples: list[SampleOut]


class RatingOut(Model):
    level: int | None
    label: str
    key: str
    outcome: str
    at: str


class ItemOut(Model):
    id: str
    name: str
    points: int
    fail: bool


class ScorecardOut(Model):
    id: str
    name: str
    items: list[ItemOut]


class SampleDetail(Model):
    """What a reviewer opens: the call (the caller's number masked), its rating, where its
    recordings are, the scorecard and every version of the score."""

    sample: SampleOut
    call: dict | None
    rating: RatingOut | None
    recordings: str = Field(description="the call's recordings (list); each has its own path")
    scorecard: ScorecardOut | None
    scores: list[ScoreOut]


class ScoreIn(Model):
    points: dict[str, StrictInt] = Field(description="points per point item of the scorecard")
    fails: list[str] = Field([], description="fail items ticked (each zeroes the total)")
    notes: dict[str, str] = Field({}, description="a comment per item")
    comment: str = Field("", max_length=2000)
    reviewer: str | None = Field(
        None, description="the reviewer scoring (a supervisor or admin must name one)"
    )

    def marks(self) -> Marks:
        return Marks(dict(self.points), tuple(self.fails), dict(self.notes), self.comment)


class CorrectionIn(ScoreIn):
    reason: str = Field(min_length=1, max_length=500, description="why the score changes")


class RangeQuery(Model):
    since: date = Field(description="first local day (inclusive)")
    until: date | None = Field(None, description="last local day (exclusive; default since+1)")

    @model_validator(mode="after")
    def _order(self) -> RangeQuery:
        end = self.end
        if end <= self.since:
            raise ValueError("until must be after since")
        if end - self.since > timedelta(days=MAX_DAYS):
            raise ValueError(f"since to until covers at most {MAX_DAYS} days")
        return self

    @property
    def end(self) -> date:
        return self.until or self.since + timedelta(days=1)


class SummaryQuery(RangeQuery):
    period: Literal["day", "week", "month"] = "day"
    seat: str | None = Field(None, description="only this seat")


class SeatSummaryQuery(RangeQuery):
    period: Literal["day", "week", "month"] = "day"


class SummaryOut(Model):
    seat: str
    period: str
    count: int
    average: float | None
    fails: int


class SummaryList(Model):
    summaries: list[SummaryOut]


class ScoreList(Model):
    scores: list[ScoreOut]


# -- presenting -----------------------------------------------------------------------------


def score_out(s: Score) -> ScoreOut:
    return ScoreOut(**s.to_dict())


def sample_out(q: Queued, lang: str = "zh") -> SampleOut:
    s: Sample = q.sample
    return SampleOut(
        linkedid=s.linkedid,
        day=s.day.isoformat(),
        seat=s.seat,
        reasons=list(s.reasons),
        reason_labels=[Reason(r).label(lang) for r in s.reasons if r in Reason._value2member_map_],
        reviewer=s.reviewer,
        scorecard=s.scorecard,
        status="scored" if q.score is not None else "pending",
        score=score_out(q.score) if q.score is not None else None,
    )


def detail_out(v: SampleView, service: QualityService, lang: str) -> SampleDetail:
    call = None
    if v.call is not None:
        call = call_json(v.call, service.timezone())
        call["caller_number"] = mask_number(call["caller_number"])
    rating = None
    if v.rating is not None:
        at = v.rating["at"]
        rating = RatingOut(
            level=v.rating["level"], label=level_label(v.rating["level"], lang),
            key=v.rating["key"], outcome=v.rating["outcome"],
            at=at.isoformat() if at is not None else "",
        )  # fmt: skip
    card = service.scorecard(v.sample.scorecard)
    newest = v.history[-1] if v.history else None
    return SampleDetail(
        sample=sample_out(Queued(v.sample, newest), lang),
        call=call,
        rating=rating,
        recordings=RECORDINGS.format(linkedid=v.sample.linkedid),
        scorecard=ScorecardOut(**card.model_dump()) if card is not None else None,
        scores=[score_out(s) for s in v.history],
    )


def _reviewer(req: ApiRequest, service: QualityService, given: str | None) -> str:
    """Who scores: a qa token is its own reviewer (and may name only itself); a supervisor
    or admin names the reviewer, or is one by name."""
    ident = req.identity
    own = service.reviewer_of(ident.name) if ident is not None else None
    if ident is not None and ident.role is Role.QA:
        if own is None:
            raise QualityError(403, "not_a_reviewer", f"token {ident.name!r} names no reviewer")
        if given not in (None, own):
            raise QualityError(403, "not_yourself", f"a reviewer scores as itself ({own})")
        return own
    if given is None and own is None:
        raise QualityError(400, "no_reviewer", "reviewer: name the reviewer you score for")
    return given or own or ""


# -- endpoints ------------------------------------------------------------------------------


@api.get("/api/v1/qa/samples", role=Role.QA, query=SamplesQuery, response=SampleList)
async def list_samples(req: ApiRequest) -> SampleList:
    """A queue of samples: a qa token's own not-yet-scored ones by default; filter by day,
    reviewer, seat and status."""
    q: SamplesQuery = req.query
    lang = req.lang

    def op(s: QualityService) -> SampleList:
        reviewer = q.reviewer
        if reviewer is None and req.identity is not None and req.identity.role is Role.QA:
            reviewer = s.reviewer_of(req.identity.name) or req.identity.name
        found = s.samples(
            day=q.day, reviewer=None if reviewer == "all" else reviewer, seat=q.seat,
            status=q.status, limit=q.limit,
        )  # fmt: skip
        return SampleList(samples=[sample_out(x, lang) for x in found])

    return await _call(req, op)


@api.get(SAMPLE, role=Role.QA, response=SampleDetail, errors=(404,))
async def get_sample(req: ApiRequest) -> SampleDetail:
    """One sample: its call, rating, recordings' path, scorecard and score versions.
    Audited."""
    lang = req.lang
    return await _call(
        req, lambda s: detail_out(s.view(req.path["linkedid"], _actor(req)), s, lang)
    )


@api.post(
    SAMPLE + "/score", role=Role.QA, body=ScoreIn, response=ScoreOut, status=201,
    errors=(403, 404, 409),
)  # fmt: skip
async def score_sample(req: ApiRequest) -> ScoreOut:
    """Score a sample (version 1): points per item, fail items, comments. 409 if it is
    scored already (send a correction)."""
    body: ScoreIn = req.body

    def op(s: QualityService) -> ScoreOut:
        reviewer = _reviewer(req, s, body.reviewer)
        return score_out(s.submit(reviewer, req.path["linkedid"], body.marks(), _actor(req)))

    return await _call(req, op)


@api.post(
    SAMPLE + "/corrections", role=Role.QA, body=CorrectionIn, response=ScoreOut, status=201,
    errors=(403, 409),
)  # fmt: skip
async def correct_sample(req: ApiRequest) -> ScoreOut:
    """Correct a score: the next version, with a reason; every earlier version is kept."""
    body: CorrectionIn = req.body

    def op(s: QualityService) -> ScoreOut:
        reviewer = _reviewer(req, s, body.reviewer)
        linkedid = req.path["linkedid"]
        return score_out(s.correct(reviewer, linkedid, body.marks(), body.reason, _actor(req)))

    return await _call(req, op)


@api.get("/api/v1/qa/summary", role=Role.QA, query=SummaryQuery, response=SummaryList)
async def qa_summary(req: ApiRequest) -> SummaryList:
    """Per seat and day, week or month: scored calls, average total, fails."""
    q: SummaryQuery = req.query
    return await _call(req, lambda s: _summaries(s, q.since, q.end, q.period, q.seat))


def _summaries(
    s: QualityService, since: date, until: date, period: str, seat: str | None
) -> SummaryList:
    rows = s.summary(since, until, period, seat=seat)
    return SummaryList(summaries=[SummaryOut(**r.as_dict()) for r in rows])


def _own_seat(req: ApiRequest) -> str:
    """The path's seat, which a seat token may only name as its own."""
    seat = req.path["seat"]
    own = req.own_seat_only()
    if own is not None and own != seat:
        raise ApiError(403, "not_your_seat", f"a seat token sees its own seat only, not {seat}")
    return seat


@api.get(
    "/api/v1/qa/seats/{seat}/scores", role=Role.SEAT, query=RangeQuery, response=ScoreList,
    errors=(403,),
)  # fmt: skip
async def seat_scores(req: ApiRequest) -> ScoreList:
    """A seat's scores (the current version of each) for calls of days in [since, until);
    a seat token: its own only."""
    seat = _own_seat(req)
    q: RangeQuery = req.query
    return await _call(
        req, lambda s: ScoreList(scores=[score_out(x) for x in s.seat_scores(seat, q.since, q.end)])
    )


@api.get(
    "/api/v1/qa/seats/{seat}/summary", role=Role.SEAT, query=SeatSummaryQuery,
    response=SummaryList, errors=(403,),
)  # fmt: skip
async def seat_summary(req: ApiRequest) -> SummaryList:
    """A seat's QA summary per day, week or month; a seat token: its own only."""
    seat = _own_seat(req)
    q: SeatSummaryQuery = req.query
    return await _call(req, lambda s: _summaries(s, q.since, q.end, q.period, seat))

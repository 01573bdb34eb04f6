"""The QA desk's rules, pure: which calls are sampled and why, who reviews them, how a
score is totalled, how a correction becomes the next version, and the per-seat summaries.

- A call is sampled once, with every reason that picked it (rules combine).
- The random share is drawn per seat and day by ranking each call's SHA-256 of
  `seed|day|seat|linkedid`: anyone with the seed can repeat the draw, and a late call
  changes at most one pick of its own seat's day.
- A total is the points given; a ticked fail item makes it 0 (`failed`), the points as given
  kept beside it (`raw_total`). Summaries average the totals, fails counting 0.
- A score is never edited: a correction is the next version, with a reason; both are kept.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from config.quality import Reviewer, Sampling, Scorecard


class Reason(StrEnum):
    """Why a call was sampled, in the order they are listed."""

    RANDOM = "random"
    UNSATISFIED = "unsatisfied"
    LONG = "long"
    TRANSFERRED = "transferred"
    NEW_SEAT = "new_seat"

    def label(self, lang: str = "zh") -> str:
        zh, en = _REASON_LABELS[self]
        return zh if lang == "zh" else en


_REASON_LABELS = {
    Reason.RANDOM: ("随机抽检", "random share"),
    Reason.UNSATISFIED: ("不满意评价", "unsatisfied rating"),
    Reason.LONG: ("超长通话", "long call"),
    Reason.TRANSFERRED: ("转接通话", "transferred"),
    Reason.NEW_SEAT: ("新上岗座席", "new seat"),
}
_ORDER = {r.value: i for i, r in enumerate(Reason)}


def ordered(reasons: Iterable[str]) -> list[str]:
    """Reasons without repeats, in `Reason` order."""
    return sorted(set(reasons), key=lambda r: _ORDER.get(r, len(_ORDER)))


def mask_number(number: str) -> str:
    """A citizen's number with its middle hidden (`138****5678`): a reviewer needs to know
    whose call it is, never the whole number; short numbers keep two digits in front."""
    if len(number) <= 4:
        return "*" * len(number)
    keep = 3 if len(number) >= 11 else 2
    return number[:keep] + "*" * (len(number) - keep - 4) + number[-4:]


# -- sampling -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """An answered call of the day, as sampling sees it."""

    linkedid: str
    seat: str
    day: date
    talk_seconds: float | None = None
    transferred: bool = False
    unsatisfied: bool = False


@dataclass(frozen=True)
class Sample:
    linkedid: str
    day: date
    seat: str
    reasons: tuple[str, ...]
    reviewer: str
    scorecard: str


def _rank(seed: str, *parts: object) -> str:
    return hashlib.sha256("|".join([seed, *map(str, parts)]).encode()).hexdigest()


def random_picks(candidates: Iterable[Candidate], share: float, seed: str) -> set[str]:
    """`share` of each seat's calls of each day (rounded up), ranked by their hash."""
    if share <= 0:
        return set()
    groups: dict[tuple[date, str], list[Candidate]] = {}
    for c in candidates:
        groups.setdefault((c.day, c.seat), []).append(c)
    picks: set[str] = set()
    for (day, seat), calls in groups.items():
        k = min(len(calls), math.ceil(share * len(calls) - 1e-9))
        ranked = sorted(calls, key=lambda c: _rank(seed, day, seat, c.linkedid))
        picks.update(c.linkedid for c in ranked[:k])
    return picks


def reasons_for(
    c: Candidate, rules: Sampling, started: Mapping[str, date], random: set[str]
) -> list[str]:
    """Every rule that picks this call."""
    out = []
    if c.linkedid in random:
        out.append(Reason.RANDOM.value)
    if rules.unsatisfied and c.unsatisfied:
        out.append(Reason.UNSATISFIED.value)
    if rules.longer_than_minutes and (c.talk_seconds or 0) > rules.longer_than_minutes * 60:
        out.append(Reason.LONG.value)
    if rules.transferred and c.transferred:
        out.append(Reason.TRANSFERRED.value)
    first = started.get(c.seat)
    if rules.new_seat_days and first is not None:
        if first <= c.day < first + timedelta(days=rules.new_seat_days):
            out.append(Reason.NEW_SEAT.value)
    return out


def assign(linkedid: str, seat: str, reviewers: Sequence[Reviewer], seed: str) -> str:
    """The reviewer of a sample: chosen by the call's hash, so it never depends on which
    other calls were drawn; never the seat itself (a reviewer who also takes calls)."""
    eligible = [r.id for r in reviewers if r.id != seat]
    if not eligible:
        return ""
    return eligible[int(_rank(seed, "reviewer", linkedid), 16) % len(eligible)]


def draw(
    candidates: Iterable[Candidate],
    rules: Sampling,
    started: Mapping[str, date],
    reviewers: Sequence[Reviewer],
    scorecard: str,
) -> list[Sample]:
    """The samples among `candidates`, ordered by day, seat and call."""
    calls = list(candidates)
    random = random_picks(calls, rules.random_share, rules.seed)
    out = []
    for c in calls:
        reasons = reasons_for(c, rules, started, random)
        if reasons:
            reviewer = assign(c.linkedid, c.seat, reviewers, rules.seed)
            out.append(Sample(c.linkedid, c.day, c.seat, tuple(reasons), reviewer, scorecard))
    return sorted(out, key=lambda s: (s.day, s.seat, s.linkedid))


# -- scores ---------------------------------------------------------------------------------


class QualityError(Exception):
    """A refused QA operation; `status` is the HTTP status an API answers with. `message`
    is English and names what is wrong; `text("zh")` puts it in Chinese for people."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def text(self, lang: str = "zh") -> str:
        zh = _REFUSED.get(self.code)
        return zh.format(msg=self.message) if lang == "zh" and zh else self.message


# The refusals in Chinese; {msg} is the English message (it quotes the item or value).
_REFUSED = {
    "unknown_sample": "该通话未被抽中质检：{msg}",
    "already_scored": "该样本已评分，请提交更正",
    "not_scored": "该通话尚未评分，无可更正",
    "no_reason": "更正须写明原因",
    "not_a_reviewer": "不是质检员：{msg}",
    "not_yourself": "质检员只能以本人身份评分：{msg}",
    "no_reviewer": "请指明代哪位质检员评分（reviewer）",
    "bad_marks": "评分有误：{msg}",
    "bad_period": "周期须为 day、week 或 month",
    "bad_status": "状态须为 pending、scored 或 all",
    "version_taken": "该版本刚被他人写入，请重新查看后再提交",
    "unknown_scorecard": "评分表未配置：{msg}",
    "no_quality": "站点配置没有质检（quality）部分",
}


@dataclass(frozen=True)
class Marks:
    """What a reviewer gives: points per item, the fail items ticked, comments."""

    points: Mapping[str, int]
    fails: tuple[str, ...] = ()
    notes: Mapping[str, str] = field(default_factory=dict)  # item → comment
    comment: str = ""


@dataclass(frozen=True)
class Tally:
    raw_total: int
    total: int
    failed: bool


def _bad(message: str) -> QualityError:
    return QualityError(400, "bad_marks", message)


def tally(card: Scorecard, marks: Marks) -> Tally:
    """The total of `marks` on `card`; raises QualityError naming the first wrong item.

    Every point item must be given (a whole number from 0 to its points); fail items are
    ticked or not, never given points.
    """
    _check_items(card, marks)
    raw = 0
    for item in card.items:
        if item.fail:
            continue
        given = marks.points.get(item.id)
        if given is None:
            raise _bad(f"{item.id!r} ({item.name}) has no points")
        if type(given) is not int or not 0 <= given <= item.points:
            raise _bad(f"{item.id!r}: {given!r} is not a whole number from 0 to {item.points}")
        raw += given
    failed = bool(marks.fails)
    return Tally(raw, 0 if failed else raw, failed)


def _check_items(card: Scorecard, marks: Marks) -> None:
    """Points only for point items, ticks only for fail items, comments only on items."""
    for item_id in marks.points:
        item = card.item(item_id)
        if item is None:
            raise _bad(f"{item_id!r} is not an item of scorecard {card.id!r}")
        if item.fail:
            raise _bad(f"{item_id!r} is a fail item: tick it in fails, it has no points")
    for item_id in marks.fails:
        item = card.item(item_id)
        if item is None or not item.fail:
            raise _bad(f"{item_id!r} is not a fail item of scorecard {card.id!r}")
    for item_id in marks.notes:
        if card.item(item_id) is None:
            raise _bad(f"a comment on {item_id!r}, which is not an item of {card.id!r}")


@dataclass(frozen=True)
class Score:
    """One version of a call's score (a `qa_scores` row). Frozen: a score is never edited."""

    linkedid: str
    version: int
    day: date
    seat: str
    reviewer: str
    scorecard: str
    points: Mapping[str, int]
    fails: tuple[str, ...]
    notes: Mapping[str, str]
    comment: str
    raw_total: int
    total: int
    failed: bool
    reason: str  # why this correction; empty for version 1
    submitted_at: datetime

    def row(self) -> dict[str, Any]:
        """The table row (JSON columns as plain dicts and lists)."""
        out = {k: getattr(self, k) for k in SCORE_COLUMNS}
        out.update(points=dict(self.points), fails=list(self.fails), notes=dict(self.notes))
        return out

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Score:
        kw = {k: row[k] for k in SCORE_COLUMNS}
        kw.update(points=dict(kw["points"]), fails=tuple(kw["fails"]), notes=dict(kw["notes"]))
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        out = self.row()
        out["day"] = self.day.isoformat()
        out["submitted_at"] = self.submitted_at.isoformat()
        return out


SCORE_COLUMNS = (
    "linkedid", "version", "day", "seat", "reviewer", "scorecard", "points", "fails", "notes",
    "comment", "raw_total", "total", "failed", "reason", "submitted_at",
)  # fmt: skip


def first_score(
    sample: Sample, reviewer: str, card: Scorecard, marks: Marks, at: datetime
) -> Score:
    return _score(sample.linkedid, 1, sample.day, sample.seat, reviewer, card, marks, "", at)


def correction(
    history: Sequence[Score],
    reviewer: str,
    card: Scorecard,
    marks: Marks,
    reason: str,
    at: datetime,
) -> Score:
    """The next version of a scored call; the versions before it stay as they are."""
    if not history:
        raise QualityError(409, "not_scored", "nothing to correct: the call has no score yet")
    if not reason.strip():
        raise QualityError(400, "no_reason", "a correction needs a reason")
    last = max(history, key=lambda s: s.version)
    return _score(
        last.linkedid, last.version + 1, last.day, last.seat, reviewer, card, marks, reason, at
    )


def _score(
    linkedid: str, version: int, day: date, seat: str, reviewer: str, card: Scorecard,
    marks: Marks, reason: str, at: datetime,
) -> Score:  # fmt: skip
    t = tally(card, marks)
    return Score(
        linkedid=linkedid,
        version=version,
        day=day,
        seat=seat,
        reviewer=reviewer,
        scorecard=card.id,
        points=dict(marks.points),
        fails=tuple(marks.fails),
        notes=dict(marks.notes),
        comment=marks.comment,
        raw_total=t.raw_total,
        total=t.total,
        failed=t.failed,
        reason=reason,
        submitted_at=at,
    )


def current(scores: Iterable[Score]) -> list[Score]:
    """The newest version of each call's score."""
    best: dict[str, Score] = {}
    for s in scores:
        held = best.get(s.linkedid)
        if held is None or s.version > held.version:
            best[s.linkedid] = s
    return sorted(best.values(), key=lambda s: (s.day, s.linkedid))


# -- summaries ------------------------------------------------------------------------------

PERIODS = ("day", "week", "month")


def period_of(day: date, period: str) -> str:
    """`2026-03-02`, `2026-W10` (ISO week, from Monday) or `2026-03`."""
    if period == "day":
        return day.isoformat()
    if period == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    raise ValueError(f"unknown period {period!r}; one of {', '.join(PERIODS)}")


@dataclass
class SeatSummary:
    seat: str
    period: str
    count: int = 0
    points: int = 0  # sum of totals
    fails: int = 0

    @property
    def average(self) -> float | None:
        return self.points / self.count if self.count else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seat": self.seat,
            "period": self.period,
            "count": self.count,
            "average": self.average,
            "fails": self.fails,
        }


def summarize(scores: Iterable[Score], period: str = "day") -> list[SeatSummary]:
    """Per seat and period over the current version of each call's score."""
    out: dict[tuple[str, str], SeatSummary] = {}
    for s in current(scores):
        key = (s.seat, period_of(s.day, period))
        summary = out.setdefault(key, SeatSummary(*key))
        summary.count += 1
        summary.points += s.total
        summary.fails += s.failed
    return [out[k] for k in sorted(out)]

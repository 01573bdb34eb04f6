"""The QA desk's rules, pure: sampling, assignment, scorecard totals, versions, summaries,
and the config's checks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

import config
from callcore.features.quality.model import (
    Candidate,
    Marks,
    QualityError,
    Reason,
    Sample,
    assign,
    correction,
    current,
    draw,
    first_score,
    period_of,
    random_picks,
    reasons_for,
    summarize,
    tally,
)
from config.loader import DEFAULT_PATH, ConfigError
from config.quality import Reviewer, Sampling

DAY = date(2026, 3, 2)
SITE = config.load()
CARD = SITE.quality.scorecard()
REVIEWERS = [Reviewer(id="QA01", name="甲"), Reviewer(id="QA02", name="乙")]
AT = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
FULL = {"opening": 10, "listening": 25, "answer": 30, "attitude": 20, "closing": 15}


def calls(seat: str, n: int, day: date = DAY, **kw) -> list[Candidate]:
    return [Candidate(f"{seat}.{day:%d}.{i}", seat, day, **kw) for i in range(n)]


# -- sampling -------------------------------------------------------------------------------


def test_the_random_share_is_per_seat_and_day_rounded_up() -> None:
    pool = calls("G01", 40) + calls("G02", 7) + calls("G01", 10, DAY + timedelta(days=1))
    picks = random_picks(pool, 0.05, "seed")
    by_group = {}
    for c in pool:
        if c.linkedid in picks:
            by_group[(c.seat, c.day)] = by_group.get((c.seat, c.day), 0) + 1
    # 5 % of 40 = 2; of 7 = 0.35 → 1; of 10 = 0.5 → 1: every seat that worked is inspected
    assert by_group == {("G01", DAY): 2, ("G02", DAY): 1, ("G01", DAY + timedelta(days=1)): 1}
    assert random_picks(pool, 0.0, "seed") == set()
    assert random_picks(pool, 1.0, "seed") == {c.linkedid for c in pool}


def test_the_random_draw_is_reproducible_and_depends_on_the_seed() -> None:
    pool = calls("G01", 200)
    first = random_picks(pool, 0.1, "yancheng")
    assert len(first) == 20
    assert random_picks(list(reversed(pool)), 0.1, "yancheng") == first  # order does not matter
    assert random_picks(pool, 0.1, "another seed") != first
    # a late call of the day changes at most one pick
    late = random_picks([*pool, Candidate("G01.late", "G01", DAY)], 0.1, "yancheng")
    assert len(late) == 21 and len(first - late) <= 1


def test_each_rule_picks_its_calls() -> None:
    rules = Sampling(unsatisfied=True, longer_than_minutes=10, transferred=True, new_seat_days=7)
    started = {"G09": DAY - timedelta(days=6), "G10": DAY - timedelta(days=7)}
    cases = {
        Candidate("a", "G01", DAY, unsatisfied=True): [Reason.UNSATISFIED],
        Candidate("b", "G01", DAY, talk_seconds=601): [Reason.LONG],
        Candidate("c", "G01", DAY, talk_seconds=600): [],  # "over" 10 minutes
        Candidate("d", "G01", DAY, transferred=True): [Reason.TRANSFERRED],
        Candidate("e", "G09", DAY): [Reason.NEW_SEAT],  # its 7th day
        Candidate("f", "G10", DAY): [],  # its 8th day
        Candidate("g", "G01", DAY): [],
    }
    for c, expected in cases.items():
        assert reasons_for(c, rules, started, set()) == [r.value for r in expected], c.linkedid
    off = Sampling()
    assert all(not reasons_for(c, off, started, set()) for c in cases)


def test_rules_combine_and_a_call_is_sampled_once_with_all_its_reasons() -> None:
    rules = Sampling(random_share=1.0, unsatisfied=True, longer_than_minutes=5, transferred=True)
    pool = [
        Candidate("x", "G01", DAY, talk_seconds=900, transferred=True, unsatisfied=True),
        Candidate("y", "G02", DAY, talk_seconds=30),
    ]
    samples = draw(pool, rules, {}, REVIEWERS, "standard")
    assert [(s.linkedid, s.reasons) for s in samples] == [
        ("x", ("random", "unsatisfied", "long", "transferred")),
        ("y", ("random",)),
    ]
    assert {s.scorecard for s in samples} == {"standard"}
    assert draw(pool, Sampling(), {}, REVIEWERS, "standard") == []


def test_reviewers_are_assigned_by_the_call_alone_never_to_the_seat_itself() -> None:
    ids = [f"L{i}" for i in range(200)]
    got = [assign(i, "G01", REVIEWERS, "s") for i in ids]
    assert got == [assign(i, "G01", REVIEWERS, "s") for i in ids]  # the same every time
    assert set(got) == {"QA01", "QA02"} and 60 < got.count("QA01") < 140
    assert {assign(i, "QA01", REVIEWERS, "s") for i in ids} == {"QA02"}
    assert assign("L1", "G01", [], "s") == ""


# -- scorecards -----------------------------------------------------------------------------


def test_a_full_score_is_100_and_each_point_counts() -> None:
    assert tally(CARD, Marks(FULL)).total == 100
    partial = tally(CARD, Marks({**FULL, "answer": 18, "closing": 0}))
    assert (partial.raw_total, partial.total, partial.failed) == (73, 73, False)


def test_a_fail_item_zeroes_the_total_and_keeps_the_points_given() -> None:
    t = tally(CARD, Marks({**FULL, "answer": 18}, fails=("disclosure",)))
    assert (t.raw_total, t.total, t.failed) == (88, 0, True)


@pytest.mark.parametrize(
    ("marks", "message"),
    [
        (Marks({k: v for k, v in FULL.items() if k != "answer"}),
         "'answer' (政策解答准确、完整) has no points"),
        (Marks({**FULL, "answer": 31}), "'answer': 31 is not a whole number from 0 to 30"),
        (Marks({**FULL, "answer": -1}), "'answer': -1 is not a whole number from 0 to 30"),
        (Marks({**FULL, "answer": 2.5}), "'answer': 2.5 is not a whole number from 0 to 30"),
        (Marks({**FULL, "answer": True}), "'answer': True is not a whole number from 0 to 30"),
        (Marks({**FULL, "smile": 5}), "'smile' is not an item of scorecard 'standard'"),
        (Marks({**FULL, "abuse": 0}), "'abuse' is a fail item: tick it in fails, it has no points"),
        (Marks(FULL, fails=("answer",)), "'answer' is not a fail item of scorecard 'standard'"),
        (Marks(FULL, notes={"tone": "好"}),
         "a comment on 'tone', which is not an item of 'standard'"),
    ],
)  # fmt: skip
def test_wrong_marks_are_refused_by_item(marks: Marks, message: str) -> None:
    with pytest.raises(QualityError) as exc:
        tally(CARD, marks)
    assert exc.value.message == message and exc.value.status == 400


# -- versions -------------------------------------------------------------------------------

SAMPLE = Sample("L1", DAY, "G01", ("random",), "QA01", "standard")


def test_a_score_cannot_be_edited_and_a_correction_is_the_next_version() -> None:
    v1 = first_score(SAMPLE, "QA01", CARD, Marks({**FULL, "answer": 10}, comment="解答有误"), AT)
    assert (v1.version, v1.total, v1.reason) == (1, 80, "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        v1.total = 100  # type: ignore[misc]
    v2 = correction([v1], "QA02", CARD, Marks(FULL), "复核：政策口径已更新，解答正确", AT)
    assert (v2.version, v2.total, v2.reviewer, v2.seat, v2.day) == (2, 100, "QA02", "G01", DAY)
    assert v1.total == 80  # the first version is as it was
    v3 = correction([v2, v1], "QA01", CARD, Marks(FULL, fails=("abuse",)), "复听发现辱骂", AT)
    assert v3.version == 3 and v3.total == 0 and v3.failed
    assert current([v1, v3, v2]) == [v3]


def test_a_correction_needs_a_score_and_a_reason() -> None:
    with pytest.raises(QualityError, match="no score yet"):
        correction([], "QA01", CARD, Marks(FULL), "why", AT)
    v1 = first_score(SAMPLE, "QA01", CARD, Marks(FULL), AT)
    with pytest.raises(QualityError, match="needs a reason"):
        correction([v1], "QA01", CARD, Marks(FULL), "  ", AT)


# -- summaries ------------------------------------------------------------------------------


def test_summaries_per_day_week_and_month_over_current_versions() -> None:
    def scored(lid: str, seat: str, day: date, points: dict, fails=()) -> object:
        s = Sample(lid, day, seat, ("random",), "QA01", "standard")
        return first_score(s, "QA01", CARD, Marks(points, fails), AT)

    mon, tue, next_mon = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 9)
    low = {**FULL, "answer": 0}  # 70
    a = scored("a", "G01", mon, FULL)  # 100
    b = scored("b", "G01", tue, low)  # 70, corrected to a fail below
    b2 = correction([b], "QA02", CARD, Marks(low, ("abuse",)), "复核", AT)
    c = scored("c", "G01", next_mon, low)  # 70
    d = scored("d", "G02", mon, FULL)
    rows = [a, b, b2, c, d]
    days = [x.as_dict() for x in summarize(rows, "day")]
    assert days == [
        {"seat": "G01", "period": "2026-03-02", "count": 1, "average": 100.0, "fails": 0},
        {"seat": "G01", "period": "2026-03-03", "count": 1, "average": 0.0, "fails": 1},
        {"seat": "G01", "period": "2026-03-09", "count": 1, "average": 70.0, "fails": 0},
        {"seat": "G02", "period": "2026-03-02", "count": 1, "average": 100.0, "fails": 0},
    ]
    weeks = {(x.seat, x.period): (x.count, x.average, x.fails) for x in summarize(rows, "week")}
    assert weeks == {
        ("G01", "2026-W10"): (2, 50.0, 1),
        ("G01", "2026-W11"): (1, 70.0, 0),
        ("G02", "2026-W10"): (1, 100.0, 0),
    }
    months = {(x.seat, x.period): (x.count, x.average) for x in summarize(rows, "month")}
    assert months == {("G01", "2026-03"): (3, 170 / 3), ("G02", "2026-03"): (1, 100.0)}
    assert period_of(date(2027, 1, 1), "week") == "2026-W53"  # ISO weeks cross the year
    with pytest.raises(ValueError, match="period"):
        period_of(mon, "year")


# -- config ---------------------------------------------------------------------------------

SITE_TEXT = DEFAULT_PATH.read_text(encoding="utf-8")


def problems(old: str, new: str) -> list[tuple[str, str]]:
    assert old in SITE_TEXT
    with pytest.raises(ConfigError) as exc:
        config.parse(SITE_TEXT.replace(old, new), "site.yaml")
    assert all(p.file == "site.yaml" and p.line for p in exc.value.problems)
    return [(p.key, p.message) for p in exc.value.problems]


def test_the_shipped_scorecard_adds_up_and_the_rules_are_on() -> None:
    q = SITE.quality
    assert q is not None and CARD.total == 100 and CARD.id == "standard"
    assert [i.id for i in CARD.items if i.fail] == ["abuse", "disclosure"]
    assert q.sampling.random_share == 0.05 and q.sampling.unsatisfied


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("points: 30}", "points: 25}",
         [("quality.scorecards[0](standard).items", "points add up to 95, not 100")]),
        ("{id: closing, name: 规范结束语，引导评价, points: 15}",
         "{id: opening, name: 规范结束语，引导评价, points: 15}",
         [("quality.scorecards[0](standard).items[4](opening).id",
           "duplicate 'opening' (also at items[0])")]),
        ("{id: abuse, name: 辱骂、顶撞来电群众, fail: true}",
         "{id: abuse, name: 辱骂、顶撞来电群众, fail: true, points: 5}",
         [("quality.scorecards[0](standard).items[5](abuse)",
           "a fail item carries no points (it zeroes the total instead)")]),
        ("default_scorecard: standard", "default_scorecard: strict",
         [("quality.default_scorecard", "unknown scorecard 'strict'")]),
        ("seats_started: {}", "seats_started: {G99: 2026-01-05}",
         [("quality.seats_started.G99", "unknown seat 'G99'")]),
        ("seats_started: {}", "seats_started: {G01: 2026-02-30}",
         [("quality.seats_started.G01", "Input should be a valid date or datetime, "
           "day value is outside expected range")]),
        ("random_share: 0.05", "random_share: 5",
         [("quality.sampling.random_share", "Input should be less than or equal to 1")]),
        ("    - {id: QA02, name: 质检员陈晨}", "    - {id: QA01, name: 质检员陈晨}",
         [("quality.reviewers[1](QA01).id", "duplicate 'QA01' (also at reviewers[0])")]),
    ],
)  # fmt: skip
def test_a_bad_quality_section_names_the_file_the_key_and_the_problem(old, new, expected):
    assert problems(old, new) == expected

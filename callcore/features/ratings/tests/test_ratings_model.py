"""Ratings, pure: key presses to a level, the config's mapping, the CCRATE fact, the figures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import config
from callcore.features.ratings.model import (
    CallContext,
    FigureRow,
    Level,
    Outcome,
    RatingFact,
    Source,
    Verdict,
    context_of,
    figure_rows,
    judge,
    level_label,
    parse_rating_data,
    parse_rating_line,
    rating_facts,
    rating_figures,
    rating_record,
)
from config.loader import DEFAULT_PATH, ConfigError
from config.ratings import RatingSettings

KEYS = RatingSettings().keys
LID = "1760000000.17"


# -- presses → verdict ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("presses", "expected"),
    [
        (["1"], Verdict(Outcome.RATED, Level.VERY_SATISFIED, "1")),
        (["5"], Verdict(Outcome.RATED, Level.VERY_DISSATISFIED, "5")),
        (["9", "3"], Verdict(Outcome.RATED, Level.BASICALLY_SATISFIED, "3")),  # one retry
        (["9", "#"], Verdict(Outcome.INVALID, None, "#")),  # no valid key after the retry
        ([""], Verdict(Outcome.NO_KEY, None, "")),  # silence: no retry, nobody kept waiting
        (["7", ""], Verdict(Outcome.NO_KEY, None, "7")),
        ([], Verdict(Outcome.HANGUP, None, "")),  # hung up before or during the prompt
        (["0"], Verdict(Outcome.HANGUP, None, "0")),  # invalid, then hung up at the retry
    ],
)
def test_presses_become_a_verdict(presses: list[str], expected: Verdict) -> None:
    assert judge(presses, KEYS) == expected


def test_a_site_mapping_is_used_and_more_presses_are_ignored() -> None:
    keys = {"9": 1, "8": 2, "7": 3, "6": 4, "5": 5}
    assert judge(["1", "6"], keys) == Verdict(Outcome.RATED, Level.DISSATISFIED, "6")
    assert judge(["1", "2", "9"], keys) == Verdict(Outcome.INVALID, None, "2")
    assert judge(["1", "2", "9"], keys, retries=2).level is Level.VERY_SATISFIED


def test_levels_speak_chinese_and_english_and_know_satisfaction() -> None:
    assert [lv.label() for lv in Level] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert Level.DISSATISFIED.label("en") == "dissatisfied"
    assert [lv.satisfied for lv in Level] == [True, True, True, False, False]
    assert level_label(None) == "未评价"
    assert level_label(None, "en") == "not rated"


# -- config ---------------------------------------------------------------------------------

SITE = DEFAULT_PATH.read_text(encoding="utf-8")
DEFAULT_KEYS = 'keys: {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}'


def site_with(ratings_keys: str) -> str:
    assert DEFAULT_KEYS in SITE
    return SITE.replace(DEFAULT_KEYS, ratings_keys)


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as exc:
        config.parse(text, "site.yaml")
    return [(p.key, p.message) for p in exc.value.problems]


def test_the_shipped_site_asks_for_ratings() -> None:
    site = config.load()
    assert site.ratings is not None
    assert site.ratings.keys == {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
    assert "非常满意请按1" in site.ratings.prompt
    assert site.ratings.wait_seconds == 5


def test_integer_keys_in_yaml_are_taken_as_the_digits_they_are() -> None:
    site = config.parse(site_with("keys: {1: 5, 2: 4, 3: 3, 4: 2, 5: 1}"), "site.yaml")
    assert site.ratings is not None
    assert site.ratings.level_of("1") == 5
    assert site.ratings.level_of("6") is None


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            'keys: {"1": 1, "2": 2, "3": 3, "4": 4, "6": 4}',
            [
                ("ratings.keys.6", "level 4 is also key '4'; one key per level"),
                ("ratings.keys", "no key for level(s) 5"),
            ],
        ),
        (
            'keys: {"1": 1, "2": 2, "3": 3, "4": 4, "12": 5}',
            [("ratings.keys.12", "'12' is not one DTMF key (0-9, *, #, A-D)")],
        ),
        (
            'keys: {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "x": 6}',
            [
                ("ratings.keys.x", "'x' is not one DTMF key (0-9, *, #, A-D)"),
                ("ratings.keys.x", "level 6 is not one of 1-5"),
            ],
        ),
    ],
)
def test_a_bad_mapping_names_the_file_the_key_and_the_problem(keys, expected) -> None:
    assert problems(site_with(keys)) == expected


def test_blank_texts_and_wait_out_of_range_are_refused() -> None:
    text = site_with(DEFAULT_KEYS).replace("thanks: 感谢您的评价，再见。", 'thanks: "  "')
    text = text.replace("  wait_seconds: 5\n", "  wait_seconds: 0\n")
    got = problems(text)
    assert ("ratings.thanks", "must not be blank: the caller would hear silence") in got
    assert any(key == "ratings.wait_seconds" for key, _ in got)


# -- the CCRATE fact ------------------------------------------------------------------------


def test_a_ccrate_line_is_read_as_the_dialplan_writes_it() -> None:
    line = f"1760000100|{LID}|NONE|NONE|CCRATE|1760000099.532|rated|2"
    fact = parse_rating_line(line)
    assert fact == RatingFact(LID, 1760000099.532, Outcome.RATED, "2")
    assert fact.verdict(KEYS) == Verdict(Outcome.RATED, Level.SATISFIED, "2")
    no_key = parse_rating_line(f"1760000100|{LID}|NONE|NONE|CCRATE|1760000099.5|no_key|\n")
    assert no_key == RatingFact(LID, 1760000099.5, Outcome.NO_KEY, "")
    # a later dialplan may add fields after the key
    assert parse_rating_data(LID, "1760000099.5|invalid|#|2|x").key == "#"


def test_lines_of_other_events_are_not_ratings() -> None:
    assert parse_rating_line(f"1760000100|{LID}|NONE|NONE|CCEND|1760000100.1|16") is None
    assert parse_rating_line(f"1760000100|{LID}|q-general|8001|CONNECT|3|x|1") is None
    assert parse_rating_line("") is None
    assert parse_rating_line("garbage") is None


def test_a_key_no_longer_mapped_counts_as_invalid() -> None:
    fact = RatingFact(LID, 1760000099.0, Outcome.RATED, "1")
    assert fact.verdict({"9": 1, "8": 2, "7": 3, "6": 4, "5": 5}) == Verdict(
        Outcome.INVALID, None, "1"
    )


@pytest.mark.parametrize(
    "line",
    [
        f"1760000100|{LID}|NONE|NONE|CCRATE",  # no data
        f"1760000100|{LID}|NONE|NONE|CCRATE|1760000099.5|rated",  # no key field
        f"1760000100|{LID}|NONE|NONE|CCRATE|1760000099.5|rated|",  # rated without a key
        f"1760000100|{LID}|NONE|NONE|CCRATE|1760000099.5|great|1",  # unknown outcome
        f"1760000100|{LID}|NONE|NONE|CCRATE|1760000099.5|rated|12",  # two keys
        f"1760000100|{LID}|NONE|NONE|CCRATE|1760000099.5|rated|一",  # not DTMF
        f"1760000100|{LID}|NONE|NONE|CCRATE|1760000099.5|rated|\x00",
        f"1760000100|{LID}|NONE|NONE|CCRATE|nan|rated|1",
        f"1760000100|{LID}|NONE|NONE|CCRATE|inf|rated|1",
        f"1760000100|{LID}|NONE|NONE|CCRATE|-5|rated|1",
        f"1760000100|{LID}|NONE|NONE|CCRATE|1e300|rated|1",
        f"1760000100|{LID}|NONE|NONE|CCRATE|soon|rated|1",
        "1760000100||NONE|NONE|CCRATE|1760000099.5|rated|1",  # no call id
        "1760000100|NONE|NONE|NONE|CCRATE|1760000099.5|rated|1",
        f"1760000100|{'9' * 65}|NONE|NONE|CCRATE|1760000099.5|rated|1",  # overlong id
        "1760000100|17600\u200b00.1|NONE|NONE|CCRATE|1760000099.5|rated|1",  # not ASCII
    ],
)
def test_a_malformed_ccrate_line_is_refused_by_name(line: str) -> None:
    with pytest.raises(ValueError, match="CCRATE"):
        parse_rating_line(line)


@given(st.text(max_size=120))
def test_any_text_is_a_fact_none_or_a_value_error(data: str) -> None:
    for line in (
        data,
        f"1760000100|{LID}|NONE|NONE|CCRATE|{data}",
        f"1|{data}|N|N|CCRATE|1|rated|1",
    ):
        try:
            fact = parse_rating_line(line)
        except ValueError:
            continue
        if fact is not None:
            assert fact.outcome in Outcome
            assert len(fact.key) <= 1


def test_facts_keep_the_first_line_of_a_call_and_count_bad_lines() -> None:
    lines = [
        f"1760000100|{LID}|NONE|NONE|CCRATE|1760000099.5|rated|4",
        f"1760000101|{LID}|NONE|NONE|CCRATE|1760000100.5|rated|1",  # a replayed duplicate
        "1760000102|1760000000.18|NONE|NONE|CCRATE|1760000101.0|hangup|",
        "1760000103|1760000000.19|NONE|NONE|CCRATE|xx|rated|1",
        "1760000104|1760000000.20|NONE|NONE|CCEND|1760000104.0|16",
    ]
    facts, bad = rating_facts(lines)
    assert bad == 1
    assert facts[LID].key == "4"
    assert facts["1760000000.18"].outcome is Outcome.HANGUP
    assert set(facts) == {LID, "1760000000.18"}


# -- the record's context -------------------------------------------------------------------


def test_the_seat_that_served_last_and_the_chain_come_from_the_legs() -> None:
    call = {"linkedid": LID, "seat": "G01", "route": "q-general", "hotline": "12345"}
    legs = [
        {"id": f"{LID}/1", "seq": 1, "target": "q-hrss", "seat": "E-hrss1", "answered_at": 2},
        {"id": f"{LID}/0", "seq": 0, "target": "q-general", "seat": "G01", "answered_at": 1},
        {"id": f"{LID}/2", "seq": 2, "target": "q-legal", "seat": "", "answered_at": None},
    ]
    ctx = context_of(call, legs, "R1")
    assert ctx == CallContext(
        "E-hrss1", (f"{LID}/0", f"{LID}/1", f"{LID}/2"), "12345", "hrss", "R1"
    )
    # no legs: the call's own seat and route; a seat's zone from the config as a last resort
    assert context_of(call, []) == CallContext("G01", (), "12345", "general", "")
    first_contact = {**call, "route": "seat:G05"}
    assert context_of(first_contact, [], seat_zone={"G01": "general"}).zone == "general"


def test_a_reconciled_record_yields_to_the_live_one() -> None:
    verdict = Verdict(Outcome.RATED, Level.SATISFIED, "2")
    live = rating_record(LID, verdict, CallContext("G01"), 1760000099.5, Source.LIVE)
    late = rating_record(LID, verdict, CallContext("G01"), 1760000099.5, Source.RECONCILED)
    assert late.as_of < live.as_of
    assert live.to_dict()["label"] == "满意"
    assert live.level == 2 and live.outcome == "rated" and live.at.tzinfo is not None


# -- figures, worked by hand ----------------------------------------------------------------


def test_figures_worked_by_hand() -> None:
    rows = [
        FigureRow("G01", "general", "12345", 1),
        FigureRow("G01", "general", "12345", 3),
        FigureRow("G01", "general", "12345", 4),
        FigureRow("G01", "general", "12345", None),
        FigureRow("E1", "hrss", "12333", 2),
        FigureRow("E1", "hrss", "12333", 5),
        FigureRow("E1", "hrss", "12345", None),
        FigureRow("E1", "hrss", "12345", None),
    ]
    every = rating_figures(rows)[""]
    # 8 answered, 5 rated (1, 3, 4, 2, 5), satisfied 1+3+2 = 3 of them
    assert (every.answered, every.rated, every.satisfied, every.unrated) == (8, 5, 3, 3)
    assert every.rated_share == 5 / 8
    assert every.satisfaction == 3 / 5
    seats = rating_figures(rows, "seat")
    assert (seats["G01"].rated_share, seats["G01"].satisfaction) == (3 / 4, 2 / 3)
    assert (seats["E1"].rated_share, seats["E1"].satisfaction) == (2 / 4, 1 / 2)
    numbers = rating_figures(rows, "number")
    assert numbers["12333"].satisfaction == 1 / 2
    assert numbers["12345"].answered == 6 and numbers["12345"].satisfaction == 2 / 3
    assert rating_figures(rows, "zone")["hrss"].levels == {1: 0, 2: 1, 3: 0, 4: 0, 5: 1}


def test_nothing_answered_or_nothing_rated_gives_no_share() -> None:
    assert rating_figures([]) == {}
    only_unrated = rating_figures([FigureRow("G01", "general", "12345", None)])[""]
    assert only_unrated.rated_share == 0.0
    assert only_unrated.satisfaction is None
    with pytest.raises(ValueError, match="grouping"):
        rating_figures([], "district")


def test_figure_rows_count_answered_calls_without_a_rating_as_unrated() -> None:
    calls = [
        {
            "linkedid": "a",
            "answered_at": 1,
            "seat": "G01",
            "route": "q-general",
            "hotline": "12345",
        },
        {
            "linkedid": "b",
            "answered_at": 1,
            "seat": "G02",
            "route": "q-general",
            "hotline": "12345",
        },
        {
            "linkedid": "c",
            "answered_at": None,
            "seat": "",
            "route": "q-general",
            "hotline": "12345",
        },
    ]
    ratings = {"a": {"seat": "E1", "zone": "hrss", "hotline": "12345", "level": 2}}
    assert figure_rows(calls, ratings) == [
        FigureRow("E1", "hrss", "12345", 2),
        FigureRow("G02", "general", "12345", None),
    ]

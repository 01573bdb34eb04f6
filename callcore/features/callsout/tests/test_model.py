"""Number validation, rest hours, dial outcomes and the order callbacks are offered in."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcore.features.callsout.model import (
    NumberKind,
    Outcome,
    Refused,
    TaskView,
    dialable,
    in_rest_hours,
    mask,
    next_attempt,
    offer_order,
    outcome_of,
    rest_ends,
)
from config.callsout import RestHours


@pytest.mark.parametrize(
    ("text", "number", "kind"),
    [
        ("13912345678", "13912345678", NumberKind.MOBILE),
        ("+8613912345678", "13912345678", NumberKind.MOBILE),
        ("008619912345678", "19912345678", NumberKind.MOBILE),
        ("051588123456", "88123456", NumberKind.LOCAL),  # the city's own area code dropped
        ("0515-8812 3456", "88123456", NumberKind.LOCAL),
        ("88123456", "88123456", NumberKind.LOCAL),
        ("01062345678", "01062345678", NumberKind.FIXED),  # Beijing
        ("02566123456", "02566123456", NumberKind.FIXED),  # Nanjing
        ("07558123456", "07558123456", NumberKind.FIXED),  # 0755 with a 7-digit number
    ],
)
def test_numbers_callcore_dials(text: str, number: str, kind: NumberKind) -> None:
    d = dialable(text, "0515", 8)
    assert (d.number, d.kind) == (number, kind)


@pytest.mark.parametrize(
    "text",
    ["110", "12345", "95598", "1391234567", "139123456789", "12912345678", "+4420712345",
     "0515123", "98123456", "0012345678", "abc", "", "8812345"],
)  # fmt: skip
def test_numbers_callcore_refuses(text: str) -> None:
    with pytest.raises(Refused) as err:
        dialable(text, "0515", 8)
    assert err.value.code == "invalid_number"
    if len(text) > 5:  # the message names the number masked, never in full
        assert text not in str(err.value)


def test_rest_hours_over_midnight() -> None:
    rest = RestHours()  # 21:00–08:00
    assert in_rest_hours(time(21, 0), rest) and in_rest_hours(time(2, 30), rest)
    assert in_rest_hours(time(7, 59), rest)
    assert not in_rest_hours(time(8, 0), rest) and not in_rest_hours(time(20, 59), rest)
    day = RestHours(start=time(12, 0), end=time(13, 30))
    assert in_rest_hours(time(12, 10), day) and not in_rest_hours(time(13, 30), day)
    assert not in_rest_hours(time(3, 0), RestHours(start=time(0, 0), end=time(0, 0)))


def test_rest_ends_is_the_next_end_of_rest() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    rest = RestHours()
    late = datetime(2026, 12, 3, 22, 15, tzinfo=tz)
    assert rest_ends(late, rest) == datetime(2026, 12, 4, 8, 0, tzinfo=tz)
    early = datetime(2026, 12, 4, 6, 0, tzinfo=tz)
    assert rest_ends(early, rest) == datetime(2026, 12, 4, 8, 0, tzinfo=tz)


@pytest.mark.parametrize(
    ("status", "cause", "outcome"),
    [
        ("ANSWER", "16", Outcome.REACHED),
        ("NOANSWER", "", Outcome.NO_ANSWER),
        ("BUSY", "17", Outcome.BUSY),
        ("CHANUNAVAIL", "1", Outcome.INVALID_NUMBER),
        ("CONGESTION", "28", Outcome.INVALID_NUMBER),
        ("CONGESTION", "17", Outcome.BUSY),
        ("CHANUNAVAIL", "19", Outcome.NO_ANSWER),
        ("CONGESTION", "34", Outcome.FAILED),
        ("", None, Outcome.FAILED),
        ("CANCEL", "16", Outcome.FAILED),
    ],
)
def test_dial_outcomes(status: str, cause: str | None, outcome: Outcome) -> None:
    assert outcome_of(status, cause) is outcome


def test_numbers_in_logs_are_masked() -> None:
    assert mask("13912345678") == "139******78"
    assert "12345" not in mask("13912345678")
    assert mask("110") == "***"


def test_enterprises_first_then_oldest() -> None:
    t0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    tasks = [
        TaskView("a", False, t0),
        TaskView("b", True, t0 + timedelta(minutes=30)),
        TaskView("c", False, t0 - timedelta(minutes=5)),
        TaskView("d", True, t0 + timedelta(minutes=10)),
    ]
    assert [t.id for t in offer_order(tasks)] == ["d", "b", "c", "a"]


def test_attempts_run_out() -> None:
    assert next_attempt(Outcome.REACHED, 1, 3) == "closed"
    assert next_attempt(Outcome.NO_ANSWER, 1, 3) == "retry"
    assert next_attempt(Outcome.BUSY, 3, 3) == "given_up"
    assert next_attempt(Outcome.INVALID_NUMBER, 1, 3) == "given_up"

"""Deadlines on the Chinese working calendar: holidays, make-up working weekends, hours on
the clock, the years beyond the published calendar, the light, extensions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcore.features.workorders import model
from callcore.features.workorders.deadlines import (
    Light,
    WorkingCalendar,
    calendar_years,
    light,
)
from callcore.features.workorders.model import Action, Rules
from config.workorders import DeadlineWarning, TimeLimit

from .conftest import RENSHE, SEAT, SUPERVISOR, local

CAL = WorkingCalendar("Asia/Shanghai")


def days(n: int) -> TimeLimit:
    return TimeLimit(working_days=n)


def test_the_calendar_knows_the_published_years() -> None:
    first, last = calendar_years()
    assert first <= 2004 and last >= 2026
    assert CAL.covers(date(2026, 10, 1)) and not CAL.covers(date(last + 1, 1, 1))


def test_national_day_2025_and_its_make_up_working_weekend() -> None:
    # 1-8 October 2025 off; Sunday 28 September and Saturday 11 October are working days.
    assert CAL.is_working_day(date(2025, 9, 28)) and CAL.is_working_day(date(2025, 10, 11))
    assert not any(CAL.is_working_day(date(2025, 10, d)) for d in range(1, 9))
    friday = local(2025, 9, 26, 15, 0)
    assert CAL.add(friday, days(1)).at == local(2025, 9, 28, 15, 0)  # the make-up Sunday
    assert CAL.add(friday, days(3)).at == local(2025, 9, 30, 15, 0)
    assert CAL.add(friday, days(4)).at == local(2025, 10, 9, 15, 0)  # over the holiday
    assert CAL.add(local(2025, 10, 9, 10), days(2)).at == local(2025, 10, 11, 10)  # Saturday
    assert CAL.add(local(2025, 10, 10, 10), days(2)).at == local(2025, 10, 13, 10)


def test_spring_festival_2026_with_two_make_up_saturdays() -> None:
    # 15-23 February 2026 off; Saturdays 14 and 28 February are working days.
    assert CAL.is_working_day(date(2026, 2, 14)) and CAL.is_working_day(date(2026, 2, 28))
    friday = local(2026, 2, 13, 17, 45)
    assert CAL.add(friday, days(1)).at == local(2026, 2, 14, 17, 45)
    assert CAL.add(friday, days(2)).at == local(2026, 2, 24, 17, 45)
    # 咨询: 2 working days, from the Tuesday before the holiday
    assert CAL.add(local(2026, 2, 10, 9), days(2)).at == local(2026, 2, 12, 9)
    assert CAL.add(local(2026, 2, 26, 9), days(2)).at == local(2026, 2, 28, 9)


def test_a_dispatch_on_a_day_off_counts_from_the_next_working_day() -> None:
    assert CAL.add(local(2025, 10, 3, 20, 0), days(1)).at == local(2025, 10, 10, 0, 0)
    assert CAL.add(local(2025, 10, 4, 12), days(2)).at == local(2025, 10, 11, 0, 0)


def test_hours_run_through_nights_and_holidays() -> None:
    start = local(2025, 9, 30, 23, 0)
    assert CAL.add(start, TimeLimit(hours=2)).at == local(2025, 10, 1, 1, 0)
    assert CAL.add(start, TimeLimit(hours=24)).at == start + timedelta(hours=24)


def test_the_time_zone_decides_the_day() -> None:
    # 17:00 UTC on Friday 30 January 2026 is already Saturday 01:00 in Yancheng.
    start = datetime(2026, 1, 30, 17, 0, tzinfo=UTC)
    end = CAL.add(start, days(1))
    assert end.at == local(2026, 2, 3, 0, 0) and end.at.tzinfo is UTC


def test_beyond_the_published_calendar_weekdays_count_and_say_so() -> None:
    last = calendar_years()[1]
    start = datetime(last, 12, 30, 9, tzinfo=local(2026, 1, 1).tzinfo)
    inside = CAL.add(local(last, 3, 2, 9), days(1))
    assert not inside.estimated
    out = CAL.add(start, days(5))
    assert out.estimated
    assert out.at.weekday() < 5 and out.at - start < timedelta(days=10)


@given(
    start=st.datetimes(min_value=datetime(2004, 1, 1), max_value=datetime(2026, 12, 1)),
    n=st.integers(1, 20),
)
def test_n_working_days_pass_exactly(start: datetime, n: int) -> None:
    """Between the start and the deadline lie exactly n working days' worth of time."""
    start = start.replace(tzinfo=CAL.tz)
    end = CAL.add(start, days(n)).at
    assert end > start
    worked = timedelta()
    t = start
    while t < end:
        nxt = min(datetime.combine(t.date() + timedelta(days=1), datetime.min.time(), CAL.tz), end)
        if CAL.is_working_day(t.date()):
            worked += nxt - t
        t = nxt
    assert worked == timedelta(days=n)


def test_the_light_by_share_and_by_hours() -> None:
    start, deadline = local(2025, 9, 29, 9), local(2025, 9, 30, 9)
    share = DeadlineWarning(share=0.25)  # yellow in the last 6 of 24 hours
    assert light(start, deadline, local(2025, 9, 30, 2, 59), share) is Light.GREEN
    assert light(start, deadline, local(2025, 9, 30, 3, 0), share) is Light.YELLOW
    assert light(start, deadline, deadline, share) is Light.RED
    hours = DeadlineWarning(hours=1)
    assert light(start, deadline, local(2025, 9, 30, 7, 59), hours) is Light.GREEN
    assert light(start, deadline, local(2025, 9, 30, 8, 0), hours) is Light.YELLOW
    assert light(None, None, deadline, hours) is Light.NONE
    assert DeadlineWarning().share == 0.2
    with pytest.raises(ValueError):
        DeadlineWarning(share=0.2, hours=3)


def test_the_city_limits_and_an_approved_extension(rules: Rules) -> None:
    cfg = rules.config
    assert cfg.time_limit("咨询", "一般") == days(2)
    assert cfg.time_limit("投诉", "一般") == days(15)
    assert cfg.time_limit("建议", "特急") == TimeLimit(hours=2)
    now = local(2026, 2, 12, 10)
    order, _ = model.register("L", SEAT, now)
    order, _ = model.apply(order, SEAT, Action.COMPLETE, {"content": "供暖", "type": "咨询"},
                           now, rules)  # fmt: skip
    order, _ = model.apply(order, SEAT, Action.DISPATCH, {"lead": "renshe"}, now, rules)
    assert order.deadline_at == local(2026, 2, 14, 10)  # Friday, then the make-up Saturday
    assert order.light(local(2026, 2, 14, 1), rules) is Light.YELLOW  # 9 of 48 hours left
    order, _ = model.apply(order, RENSHE, Action.SIGN, {}, now, rules)
    order, _ = model.apply(order, RENSHE, Action.ASK_EXTENSION,
                           {"working_days": 1, "reason": "节后核实"}, now, rules)  # fmt: skip
    assert order.deadline_at == local(2026, 2, 14, 10)  # asked, not yet moved
    order, event = model.apply(order, SUPERVISOR, Action.APPROVE_EXTENSION, {}, now, rules)
    assert order.deadline_at == local(2026, 2, 24, 10)  # over 春节
    assert event.detail == {"deadline": order.deadline_at.isoformat(), "limit": "1个工作日"}
    assert order.light(local(2026, 2, 14, 11), rules) is Light.GREEN
    assert order.overdue(local(2026, 2, 24, 10))
    with pytest.raises(model.WorkOrderError) as err:
        model.apply(order, RENSHE, Action.ASK_EXTENSION, {"working_days": 2, "reason": "再延"},
                    now, rules)  # fmt: skip
    assert err.value.code == "not_now"  # max_times: 1


def test_an_extension_is_bounded_by_the_config(rules: Rules) -> None:
    now = local(2025, 11, 3, 9)
    order, _ = model.register("L", SEAT, now)
    order, _ = model.apply(order, SEAT, Action.COMPLETE, {"content": "噪音", "type": "投诉"},
                           now, rules)  # fmt: skip
    order, _ = model.apply(order, SEAT, Action.DISPATCH, {"lead": "renshe"}, now, rules)
    order, _ = model.apply(order, RENSHE, Action.SIGN, {}, now, rules)
    for asked in ({"working_days": 11}, {"hours": 49}, {}, {"working_days": 1, "hours": 1}):
        with pytest.raises(model.WorkOrderError) as err:
            model.apply(order, RENSHE, Action.ASK_EXTENSION, {**asked, "reason": "需要时间"},
                        now, rules)  # fmt: skip
        assert err.value.code == "invalid"

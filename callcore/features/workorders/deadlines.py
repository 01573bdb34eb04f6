"""Deadlines on the Chinese working calendar, and the traffic light of a request.

Working days follow the State Council's holiday calendar with its make-up working
weekends (调休), as the `chinese-calendar` package carries it. That package covers the
years the State Council has published (2004 to 2026 in version 1.11); for a day outside
them there is no published calendar yet, so Monday to Friday count as working days, no
holiday is assumed, and the deadline says it is an estimate. A new release of the package
(the State Council publishes each next year's calendar in the autumn) makes the estimate
exact; deadlines already stored keep their value.

A limit of N working days ends when N whole working days have passed since the dispatch:
at the same time of day on the Nth working day after the dispatch day. A dispatch on a
non-working day starts the count at 00:00 of the next working day. A limit in hours runs
on the clock, through nights and holidays (emergencies do not wait for Monday).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import chinese_calendar

from config.workorders import DeadlineWarning, TimeLimit


def calendar_years() -> tuple[int, int]:
    """The first and last year the installed calendar knows."""
    days = chinese_calendar.holidays.keys() | chinese_calendar.workdays.keys()
    return min(days).year, max(days).year


class WorkingCalendar:
    """Which local days are working days, and deadlines counted on them."""

    def __init__(self, timezone: str = "Asia/Shanghai"):
        self.tz = ZoneInfo(timezone)
        self.first_year, self.last_year = calendar_years()

    def covers(self, day: date) -> bool:
        return self.first_year <= day.year <= self.last_year

    def is_working_day(self, day: date) -> bool:
        if not self.covers(day):
            return day.weekday() < 5
        return bool(chinese_calendar.is_workday(day))

    def add(self, start: datetime, limit: TimeLimit) -> Deadline:
        """The deadline of `limit` counted from `start` (an aware datetime)."""
        if limit.hours is not None:
            return Deadline(start + timedelta(hours=limit.hours), estimated=False)
        assert limit.working_days is not None
        return self.add_working_days(start, limit.working_days)

    def add_working_days(self, start: datetime, days: int) -> Deadline:
        local = start.astimezone(self.tz)
        day, at = local.date(), local.timetz()
        estimated = not self.covers(day)
        if not self.is_working_day(day):
            day, at = self.next_working_day(day), time(0, tzinfo=self.tz)
            estimated = estimated or not self.covers(day)
        for _ in range(days):
            day = self.next_working_day(day)
            estimated = estimated or not self.covers(day)
        end = datetime.combine(day, at.replace(tzinfo=None), tzinfo=self.tz)
        return Deadline(end.astimezone(start.tzinfo), estimated)

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


@dataclass(frozen=True)
class Deadline:
    at: datetime
    estimated: bool  # a day counted lies beyond the published calendar


class Light(StrEnum):
    """The traffic light of a request being handled."""

    NONE = "none"  # no deadline (not dispatched, or no type yet), or no longer running
    GREEN = "green"
    YELLOW = "yellow"  # near the deadline
    RED = "red"  # past it


LIGHT_LABELS = {
    Light.NONE: ("无时限", "no deadline"),
    Light.GREEN: ("正常", "on time"),
    Light.YELLOW: ("临期", "near the deadline"),
    Light.RED: ("超期", "overdue"),
}


def light(
    start: datetime | None, deadline: datetime | None, now: datetime, warning: DeadlineWarning
) -> Light:
    """Green, yellow near the deadline (a share of the limit or hours left), red past it."""
    if start is None or deadline is None:
        return Light.NONE
    left = (deadline - now).total_seconds()
    if left <= 0:
        return Light.RED
    if warning.hours is not None:
        near = warning.hours * 3600
    else:
        near = (deadline - start).total_seconds() * (warning.share or 0)
    return Light.YELLOW if left <= near else Light.GREEN

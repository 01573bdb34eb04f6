"""GB/T 33358's worst continuous 24 hours: a sliding window over call arrivals, exact,
found in a week where it spans two days (and lower than any calendar day's rate)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine

from callcore.features.reports.model import resolve_range, worst_window
from callcore.features.reports.service import ReportService
from callcore.records import CallRecord, Outcome

from .conftest import CFG, NOW
from .fixture_store import TZ, at

WEEK = resolve_range("week", CFG.site.timezone, date(2025, 3, 3))


def week_of_calls() -> list[CallRecord]:
    """An answered call on every hour of the week; four abandons from Wednesday 20:00 to
    Thursday 04:00 (30 s past the hour)."""
    out = []
    t = WEEK.start
    while t < WEEK.end:
        out.append(CallRecord(f"H{t:%d%H}", hotline="12345", route="q-general",
                              entered_at=t, queued_at=t, answered_at=t + timedelta(seconds=4),
                              wait_seconds=4.0, outcome=Outcome.ANSWERED, as_of=1.0))  # fmt: skip
        t += timedelta(hours=1)
    for day, hhmmss in ((5, "20:00:30"), (5, "22:00:30"), (6, "02:00:30"), (6, "04:00:30")):
        when = at(hhmmss, day)
        out.append(CallRecord(f"X{day}{hhmmss}", hotline="12345", route="q-general",
                              entered_at=when, queued_at=when, wait_seconds=20.0,
                              outcome=Outcome.ABANDONED, as_of=1.0))  # fmt: skip
    return out


def test_worst_24h_spans_two_days(empty_store: Engine):
    from callcore.store import db

    with empty_store.begin() as conn:
        db.upsert_calls(conn, week_of_calls())
    svc = ReportService(empty_store, lambda: CFG, lambda: NOW)
    r = svc.report(WEEK, ["day"])
    w = r.worst24
    assert w is not None and not w.whole_range
    # every window holding all four abandons holds 24 hourly calls: 24 / 28; it must start
    # after Wednesday 04:00:30 (to hold the last abandon), the first such window that is
    # a distinct one starts with Wednesday's 05:00 call
    assert (w.offered, w.answered) == (28, 24)
    assert w.start == at("05:00:00", 5).astimezone(TZ)
    assert w.end == at("05:00:00", 6).astimezone(TZ)
    # calendar days see only part of it: Wednesday and Thursday are each 24 / 26
    days = {row.key: row.figures["answer_rate"] for row in r.groups["day"]}
    assert days["2025-03-05"] == days["2025-03-06"] == 24 / 26
    assert w.rate < min(days.values())


def test_window_rules():
    day = 86400.0
    # the two abandons alone: from just after 0 to 24 h before the call at day + 5
    w = worst_window([0.0, 10.0, 20.0, day + 5], [True, False, False, True], 0.0, 3 * day, "UTC")
    assert (w.offered, w.answered) == (2, 0)
    assert w.start.timestamp() == 5.0  # [5, day + 5) is the earliest window holding just them
    # a range not longer than a day is judged whole
    w = worst_window([5.0, 6.0], [True, False], 0.0, day, "UTC")
    assert w.whole_range and (w.offered, w.answered) == (2, 1)
    assert worst_window([], [], 0.0, 3 * day, "UTC") is None

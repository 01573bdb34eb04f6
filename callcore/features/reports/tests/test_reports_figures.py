"""The report's figures on the hand-worked store (fixture_store), figure by figure, on
SQLite and PostgreSQL: totals, intervals across midnight, numbers, zones with the 12366
sub-centre, seats with their wrap-up, pauses and occupancy, transfers; ratings, QA scores
(a corrected one) and callbacks per grouping; the SQL sums agree with
`queues.stats.contribution`."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from callcore.features.reports.model import Grouping, resolve_range
from callcore.features.reports.queries import call_sums, load_calls
from callcore.features.reports.service import ReportService
from callcore.records import CallRecord, Outcome
from callcore.store import db
from queues.stats import COUNTERS, contribution

from . import fixture_store
from .conftest import CFG, NOW

DAY = resolve_range("day", CFG.site.timezone, date(2025, 3, 3))
ALL = [g.value for g in Grouping]


def by_key(report, grouping: str) -> dict:
    return {r.key: r.figures for r in report.groups[grouping]}


def test_totals_of_the_day(service: ReportService):
    t = service.report(DAY, ALL).total.figures
    # A1-A9 and A11 arrived on the 3rd (A8 and A9 end after midnight); A10 on the 4th
    assert t["offered"] == 10
    assert t["answered"] == 7  # A1 A2 A4 A5 A6 A7 A8
    assert t["abandoned"] == 3 and t["short_abandoned"] == 1  # A3 (3 s), A9, A11
    assert t["timeout"] == t["failed"] == 0
    assert t["answer_rate"] == pytest.approx(0.7)
    # within 15 s of joining the queue: A1 5, A4 10, A5 14.5, A6 3
    assert t["sl15"] == pytest.approx(4 / 10)
    assert t["timely_rate"] == pytest.approx(4 / 7)
    assert t["avg_wait"] == pytest.approx((5 + 20 + 10 + 14.5 + 3 + 30 + 40) / 7)
    assert t["p90_wait"] == 40  # 7 waits: the 7th (ceil 0.9 x 7) smallest
    # arrival to a human: the notice of 12349 (A4: 12 s) and the trunk's failure (A7) count
    assert t["avg_reach"] == pytest.approx((6 + 21 + 22 + 15.5 + 3 + 50 + 41) / 7)
    assert t["p90_reach"] == 50
    assert t["avg_talk"] == pytest.approx((120 + 100 + 60 + 200 + 90 + 50 + 1200) / 7)
    # handled by 12345 seats (not A6, the sub-centre's): talk 1730 + wrap-up 38
    assert t["aht"] == pytest.approx((1730 + 5 + 10 + 5 + 8 + 5 + 5) / 6)
    assert t["transfers"] == 1 and t["transferred"] == 1  # A5's blind transfer
    assert t["subcentre"] == 1  # A6


def test_seat_time_of_the_day(service: ReportService):
    r = service.report(DAY, ["seat", "zone"])
    seats = by_key(r, "seat")
    g02 = seats["G02"]
    # 08:00-09:00 logged in; 15 min on a break; ringing 2 + talking 100 + wrap-up 10
    assert g02["logged_in_minutes"] == pytest.approx(60)
    assert g02["pause_break"] == pytest.approx(15)
    assert g02["occupancy"] == pytest.approx(112 / 2700)
    g01 = seats["G01"]
    # 07:55 to midnight; an hour's meal; calls: ring 5+9+6, talk 120+60+559 (A8 until
    # midnight), wrap-up 5+5 (A8's is on the 4th)
    assert g01["logged_in_minutes"] == pytest.approx((16 * 3600 + 5 * 60) / 60)
    assert g01["pause_meal"] == pytest.approx(60)
    assert g01["occupancy"] == pytest.approx(769 / (57900 - 3600))
    assert (g01["offered"], g01["answered"]) == (3, 3)  # A1 A4 A8
    assert g01["aht"] == pytest.approx((120 + 5 + 60 + 5 + 1200 + 5) / 3)
    zones = by_key(r, "zone")
    assert zones["general"]["occupancy"] == pytest.approx((769 + 112) / (54300 + 2700))
    assert zones["general"]["pause_meal"] == pytest.approx(60)
    assert seats[""]["offered"] == 3  # A3 A9 A11: nobody answered


def test_intervals_and_midnight(service: ReportService):
    r = service.report(DAY, ["interval"], interval=30)
    rows = by_key(r, "interval")
    assert len(rows) == 48  # every half hour of the day, with calls or not
    assert rows["2025-03-03 07:30"]["offered"] == 0
    eight = rows["2025-03-03 08:00"]  # A1 A2 A3
    assert (eight["offered"], eight["answered"], eight["short_abandoned"]) == (3, 2, 1)
    assert eight["sl15"] == pytest.approx(1 / 3)
    assert rows["2025-03-03 08:30"]["offered"] == 1  # A4
    nine = rows["2025-03-03 09:00"]  # A5 A6 A7
    assert (nine["offered"], nine["answered"], nine["subcentre"]) == (3, 3, 1)
    assert nine["sl15"] == pytest.approx(2 / 3)
    late = rows["2025-03-03 23:30"]  # A8 and A9 belong to the interval they arrived in
    assert (late["offered"], late["answered"], late["abandoned"]) == (2, 1, 1)
    assert late["avg_talk"] == pytest.approx(1200)
    hourly = by_key(service.report(DAY, ["interval"], interval=60), "interval")
    assert len(hourly) == 24 and hourly["2025-03-03 08:00"]["offered"] == 4
    quarter = by_key(service.report(DAY, ["interval"], interval=15), "interval")
    assert len(quarter) == 96 and quarter["2025-03-03 23:45"]["offered"] == 2


def test_numbers_units_and_zones(service: ReportService):
    r = service.report(DAY, ["number", "unit", "zone"])
    numbers = by_key(r, "number")
    assert {k: v["offered"] for k, v in numbers.items()} == {
        "12345": 5,
        "12349": 2,
        "12333": 1,
        "12366": 2,
    }
    assert numbers["12366"]["answered"] == 2 and numbers["12366"]["subcentre"] == 1
    assert numbers["12349"]["avg_reach"] == pytest.approx(22)  # the 12-s notice counts
    assert numbers["12349"]["avg_wait"] == pytest.approx(10)  # the queue wait does not
    units = by_key(r, "unit")
    assert units["市行政审批局"]["offered"] == 5 and units["市税务局"]["offered"] == 2
    zones = by_key(r, "zone")
    assert {k: v["offered"] for k, v in zones.items()} == {
        "general": 7,
        "hrss": 1,
        "tax": 1,
        "trunk:tax12366": 1,
    }
    assert zones["hrss"]["transfers"] == 1
    assert zones["tax"]["sl15"] == 0.0 and zones["trunk:tax12366"]["sl15"] == 1.0
    labels = {row.key: row.label for row in r.groups["zone"]}
    assert labels["trunk:tax12366"] == "12366税务分中心" and labels["tax"] == "12366税务专区"


def test_the_next_day_and_the_week(service: ReportService):
    nxt = service.report(resolve_range("day", CFG.site.timezone, date(2025, 3, 4)), [])
    assert nxt.total.figures["offered"] == 1  # A10 only; A8/A9 stay on the 3rd
    week = service.report(resolve_range("week", CFG.site.timezone, date(2025, 3, 5)), ["day"])
    days = by_key(week, "day")
    assert len(days) == 7 and days["2025-03-03"]["offered"] == 10
    assert days["2025-03-04"]["offered"] == 1 and week.total.figures["offered"] == 11


def check(report, expected: dict[str, dict[str, dict[str, float | None]]]) -> None:
    """Figures by grouping ("total" for the total row), key and figure id, as worked out
    by hand; None: no value (nothing to divide by)."""
    for grouping, rows in expected.items():
        got = {"": report.total.figures} if grouping == "total" else by_key(report, grouping)
        for key, figs in rows.items():
            for fid, want in figs.items():
                have = got[key][fid]
                ok = have is None if want is None else have == pytest.approx(want)
                assert ok, (grouping, key, fid, have, want)


def test_ratings_per_total_zone_number_seat_interval(service: ReportService):
    r = service.report(DAY, ["zone", "number", "seat", "interval"])
    # handled by 12345 seats: A1 A2 A4 A5 A7 A8 (not A6, the sub-centre's); A4 unrated;
    # A8 rated after midnight still counts on the 3rd; satisfied (levels 1-3): A1 A5 A7.
    # The sub-centre answered A6: nobody of ours to rate, nothing to divide by.
    share, sat = "rated_share", "satisfaction"
    check(r, {
        "total": {"": {share: 5 / 6, sat: 3 / 5}},
        "zone": {
            "general": {share: 3 / 4, sat: 1 / 3},  # A1 A2 A8 of A1 A2 A4 A8; A1
            "hrss": {share: 1.0, sat: 1.0},
            "trunk:tax12366": {share: None, sat: None},
        },
        "number": {"12349": {share: 0.0, sat: None}, "12345": {share: 1.0, sat: 1 / 3}},
        "seat": {"G01": {share: 2 / 3, sat: 1 / 2}, "G02": {share: 1.0, sat: 0.0}},
        "interval": {
            "2025-03-03 08:00": {share: 1.0, sat: 1 / 2},  # A1 A2
            "2025-03-03 23:30": {share: 1.0, sat: 0.0},  # A8: 非常不满意
            "2025-03-03 07:30": {share: None, sat: None},  # no calls
        },
    })  # fmt: skip
    assert r.absent == []


def test_qa_average_counts_the_corrected_score(service: ReportService):
    r = service.report(DAY, ["zone", "seat"])
    # A1's score 80 was corrected to 90: only the current version counts; A7 failed (0)
    qa = "qa_avg"
    check(r, {
        "total": {"": {qa: (90 + 70 + 0) / 3}},
        "zone": {"general": {qa: 80}, "tax": {qa: 0.0}, "hrss": {qa: None}},
        "seat": {"G01": {qa: 90}, "G02": {qa: 70}, "T01": {qa: 0.0}, "E-hrss1": {qa: None}},
    })  # fmt: skip


def test_callbacks_by_the_missed_calls_zone_and_number(service: ReportService):
    r = service.report(DAY, ["zone", "number", "seat", "interval"])
    # missed: A3 (reached after 40 min), A11 (after 2 h), A9 (after 25 h: too late)
    h1, h24 = "callback_1h", "callback_24h"
    check(r, {
        "total": {"": {h1: 1 / 3, h24: 2 / 3}},
        "zone": {"general": {h1: 1 / 3, h24: 2 / 3}, "tax": {h1: None, h24: None}},
        "number": {"12345": {h1: 0.5, h24: 0.5}, "12349": {h1: 0.0, h24: 1.0}},
        "seat": {"": {h1: 1 / 3, h24: 2 / 3}, "G01": {h1: None}},  # nobody answered them
        "interval": {
            "2025-03-03 08:00": {h1: 1.0, h24: 1.0},  # A3
            "2025-03-03 10:00": {h1: 0.0, h24: 1.0},  # A11
            "2025-03-03 23:30": {h1: 0.0, h24: 0.0},  # A9
        },
    })  # fmt: skip


def test_the_next_day_has_its_own_sources(service: ReportService):
    nxt = service.report(resolve_range("day", CFG.site.timezone, date(2025, 3, 4)), [])
    t = nxt.total.figures  # A10: rated 非常满意; nothing scored or missed
    assert (t["rated_share"], t["satisfaction"]) == (1.0, 1.0)
    assert t["qa_avg"] is None and t["callback_1h"] is None


def test_without_sources_the_figures_are_absent(store: Engine):
    r = ReportService(store, lambda: CFG, lambda: NOW, sources=()).report(DAY, ["zone"])
    assert set(r.absent) == {"rated_share", "satisfaction", "qa_avg", "callback_1h",
                             "callback_24h"}  # fmt: skip
    assert r.total.figures["satisfaction"] is None
    assert by_key(r, "zone")["general"]["qa_avg"] is None


# -- the SQL sums are contribution() --------------------------------------------------

_times = st.floats(min_value=0, max_value=400, allow_nan=False).map(lambda x: round(x, 3))


@st.composite
def records(draw) -> list[CallRecord]:
    out = []
    for i in range(draw(st.integers(1, 25))):
        arrives = fixture_store.at("08:00:00") + __import__("datetime").timedelta(
            seconds=draw(st.integers(0, 80000))
        )
        kind = draw(st.sampled_from(["answered", "abandoned", "timeout", "failed", "open"]))
        rec = CallRecord(f"H{i}", hotline="12345", route="q-general", entered_at=arrives,
                         queued_at=arrives, as_of=1.0)  # fmt: skip
        wait = draw(_times)
        if kind == "answered":
            rec.answered_at = arrives
            rec.wait_seconds = wait
            rec.talk_seconds = draw(st.one_of(st.none(), _times))
            rec.outcome = Outcome.ANSWERED
        elif kind != "open":
            rec.outcome = Outcome(kind)
            rec.wait_seconds = wait
        out.append(rec)
    return out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(recs=records())
def test_sql_sums_are_the_contributions(empty_store: Engine, recs: list[CallRecord]):
    with empty_store.begin() as conn:
        conn.execute(db.calls.delete())
        db.upsert_calls(conn, recs)
    with empty_store.connect() as conn:
        ct = load_calls(conn, DAY.start, DAY.end.replace(day=5), CFG.site.targets)
        whole = call_sums(conn, ct, [], lambda: "")[""]
        ct.drop(conn)
    summed = {k: whole.counters[k] for k in COUNTERS}
    expected = {k: sum(contribution(r)[k] for r in recs) for k in COUNTERS}
    assert summed == expected

"""Daily rollups on SQLite and PostgreSQL: a report made from kept days gives exactly the
figures of the same report made live; a day whose calls, seat events or legs change is
rebuilt on the next report, and so does one whose ratings, QA scores or callbacks change;
building is idempotent; unsettled days are never kept."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, func, insert, select, update

from callcore.features.callsout.tables import CallbackMiss, CallbackTask, OutboundCall
from callcore.features.quality.tables import QaScore
from callcore.features.ratings.tables import Rating
from callcore.features.reports import rollups
from callcore.features.reports.model import Grouping, Report, resolve_range
from callcore.features.reports.service import ReportService
from callcore.features.reports.sources import standard
from callcore.features.reports.tables import rollup_days
from callcore.features.reports.tables import rollups as rollup_rows
from callcore.records import Outcome
from callcore.store import db
from callcore.store.models import CallLeg, SeatEvent

from . import fixture_store
from .conftest import CFG, NOW

TZ = CFG.site.timezone
WEEK = resolve_range("week", TZ, date(2025, 3, 3))  # Mon 3 - Sun 9 March: both fixture days
ALL = [g.value for g in Grouping]
# Before the fixture days settle (two days after their end): the report is all live.
UNSETTLED = datetime(2025, 3, 5, 4, tzinfo=UTC)


def figures(rep: Report) -> dict:
    return {
        "total": rep.total.figures,
        "groups": {
            g: [(r.key, r.label, r.figures) for r in rows] for g, rows in rep.groups.items()
        },
        "worst24": dataclasses.asdict(rep.worst24) if rep.worst24 else None,
        "absent": rep.absent,
    }


def kept_days(engine: Engine) -> dict[date, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(rollup_days.c.day, rollup_days.c.stamp)).all())


def test_rollups_give_the_live_figures(store: Engine):
    live = ReportService(store, lambda: CFG, lambda: UNSETTLED).report(WEEK, ALL)
    assert kept_days(store) == {}  # nothing settled yet, nothing kept
    svc = ReportService(store, lambda: CFG, lambda: NOW)
    built = svc.report(WEEK, ALL)  # keeps the days settled by NOW: 3-7 (8, 9 live)
    assert set(kept_days(store)) == {date(2025, 3, d) for d in range(3, 8)}
    again = svc.report(WEEK, ALL)  # from the kept days alone
    assert figures(built) == figures(live)
    assert figures(again) == figures(live)
    assert again.total.figures["offered"] == 11  # A1-A11
    assert again.worst24 is not None
    assert again.absent == []
    # the sources' figures come from the kept days too (test_reports_figures by hand)
    t = again.total.figures
    assert t["satisfaction"] == pytest.approx(4 / 6)  # A1 A5 A7 A10 of six rated
    assert t["qa_avg"] == pytest.approx(160 / 3) and t["callback_24h"] == pytest.approx(2 / 3)


def _rebuilt_and_live(store: Engine, svc: ReportService, change) -> tuple[dict, dict]:
    """The 3rd kept, then `change(conn)`: the report after it, and the same report live;
    asserts the day was rebuilt and the 4th left as it was."""
    day = resolve_range("day", TZ, date(2025, 3, 3))
    svc.report(WEEK, ALL)
    stamps = kept_days(store)
    with store.begin() as conn:
        change(conn)
    after = svc.report(day, ALL)
    assert kept_days(store)[date(2025, 3, 3)] != stamps[date(2025, 3, 3)]
    svc.report(WEEK, ALL)
    assert kept_days(store)[date(2025, 3, 4)] == stamps[date(2025, 3, 4)]
    live = ReportService(store, lambda: CFG, lambda: UNSETTLED).report(day, ALL)
    assert figures(after) == figures(live)
    return after.total.figures, by_zone(after)


def by_zone(rep: Report) -> dict:
    return {r.key: r.figures for r in rep.groups["zone"]}


def test_a_late_rating_rebuilds_its_day(store: Engine):
    svc = ReportService(store, lambda: CFG, lambda: NOW)

    def rate_a4(conn) -> None:  # reconciled from queue_log: A4's caller did press 2
        conn.execute(
            update(Rating.__table__)
            .where(Rating.__table__.c.linkedid == "A4")
            .values(level=2, outcome="rated", key="2", source="reconciled", as_of=2e9)
        )

    t, zones = _rebuilt_and_live(store, svc, rate_a4)
    assert t["rated_share"] == 1.0 and t["satisfaction"] == pytest.approx(4 / 6)
    assert zones["general"]["satisfaction"] == pytest.approx(2 / 4)


def test_a_qa_correction_rebuilds_its_day(store: Engine):
    svc = ReportService(store, lambda: CFG, lambda: NOW)

    def correct_a7(conn) -> None:  # the fail item was ticked by mistake
        conn.execute(insert(QaScore.__table__), fixture_store.score_row("A7", 2, 85, False, "T01"))

    t, zones = _rebuilt_and_live(store, svc, correct_a7)
    assert t["qa_avg"] == pytest.approx((90 + 70 + 85) / 3)
    assert zones["tax"]["qa_avg"] == 85.0


def test_a_reached_callback_rebuilds_its_day(store: Engine):
    svc = ReportService(store, lambda: CFG, lambda: NOW)
    when = fixture_store.at("00:40:00", 4)  # A9 missed at 00:00:29: reached within the hour

    def reach_a9(conn) -> None:
        conn.execute(insert(OutboundCall.__table__), {
            "id": "O6", "reason": "callback", "task_id": "T3", "number": "13900000000",
            "seat": "G01", "outcome": "reached", "started_at": when - timedelta(seconds=9),
            "answered_at": when, "ended_at": when + timedelta(minutes=1), "as_of": 3e9,
        })  # fmt: skip

    t, _zones = _rebuilt_and_live(store, svc, reach_a9)
    assert t["callback_1h"] == pytest.approx(2 / 3) and t["callback_24h"] == 1.0


def test_a_part_of_a_day_is_live_beside_kept_days(store: Engine):
    """A range from 12:00 on the 3rd: the 4th is kept, the afternoon of the 3rd live."""
    start = fixture_store.at("12:00:00").astimezone(WEEK.start.tzinfo)
    rng = dataclasses.replace(WEEK, start=start, kind="range")
    live = ReportService(store, lambda: CFG, lambda: UNSETTLED).report(rng, ALL)
    svc = ReportService(store, lambda: CFG, lambda: NOW)
    svc.report(rng, ALL)
    assert date(2025, 3, 3) not in kept_days(store) and date(2025, 3, 4) in kept_days(store)
    assert figures(svc.report(rng, ALL)) == figures(live)
    assert live.total.figures["offered"] == 3  # A8, A9 late on the 3rd; A10 on the 4th


def test_a_reconciled_call_rebuilds_its_day(store: Engine):
    svc = ReportService(store, lambda: CFG, lambda: NOW)
    day = WEEK
    before = svc.report(day, ALL).total.figures
    stamps = kept_days(store)
    # reconciliation after an outage finds a call the engine never saw, and a newer
    # snapshot of A3 (answered after all)
    a3 = next(r for r in fixture_store.calls() if r.linkedid == "A3")
    found = dataclasses.replace(a3, linkedid="A12", as_of=a3.as_of + 1)
    fixed = dataclasses.replace(
        a3,
        answered_at=a3.entered_at + timedelta(seconds=4),
        ended_at=a3.entered_at + timedelta(seconds=64),
        talk_seconds=60.0,
        wait_seconds=3.0,
        seat="G02",
        outcome=Outcome.ANSWERED,
        as_of=a3.as_of + 100,
    )
    with store.begin() as conn:
        db.upsert_calls(conn, [found, fixed])
    after = svc.report(day, ALL).total.figures
    assert after["offered"] == before["offered"] + 1
    assert after["answered"] == before["answered"] + 1
    assert after["abandoned"] == before["abandoned"]  # A3 answered now, A12 abandoned
    assert kept_days(store)[date(2025, 3, 3)] != stamps[date(2025, 3, 3)]
    assert kept_days(store)[date(2025, 3, 4)] == stamps[date(2025, 3, 4)]
    fresh = ReportService(store, lambda: CFG, lambda: UNSETTLED).report(day, ALL).total
    assert after == fresh.figures


def test_a_leg_rewritten_rebuilds_its_day(store: Engine):
    svc = ReportService(store, lambda: CFG, lambda: NOW)
    day = resolve_range("day", TZ, date(2025, 3, 3))
    svc.report(day, ALL)
    stamp = kept_days(store)[date(2025, 3, 3)]
    with store.begin() as conn:
        conn.execute(update(CallLeg.__table__).values(as_of=CallLeg.__table__.c.as_of + 5))
    svc.report(day, ALL)
    assert kept_days(store)[date(2025, 3, 3)] != stamp


def test_building_is_idempotent(store: Engine):
    with store.connect() as conn:
        first = rollups.build(conn, date(2025, 3, 2), date(2025, 3, 4), TZ, CFG.site.targets, NOW)
        n = conn.execute(select(func.count()).select_from(rollup_rows)).scalar_one()
        second = rollups.build(conn, date(2025, 3, 2), date(2025, 3, 4), TZ, CFG.site.targets, NOW)
        assert conn.execute(select(func.count()).select_from(rollup_rows)).scalar_one() == n
        late = rollups.build(
            conn, date(2025, 3, 4), date(2025, 3, 4), TZ, CFG.site.targets, UNSETTLED
        )
    assert [s for _d, s in first] == ["built"] * 3
    assert [s for _d, s in second] == ["kept"] * 3
    assert late == [(date(2025, 3, 4), "unsettled")]
    assert n > 0


def test_a_changed_target_rebuilds(store: Engine):
    day = resolve_range("day", TZ, date(2025, 3, 3))
    ReportService(store, lambda: CFG, lambda: NOW).report(day, ALL)
    stamp = kept_days(store)[date(2025, 3, 3)]
    strict = CFG.model_copy(
        update={
            "site": CFG.site.model_copy(
                update={"targets": CFG.site.targets.model_copy(update={"answer_seconds": 5})}
            )
        }
    )
    t = ReportService(store, lambda: strict, lambda: NOW).report(day, ALL).total.figures
    assert kept_days(store)[date(2025, 3, 3)] != stamp
    assert t["sl15"] == 2 / 10  # A1 (5 s) and A6 (3 s) within 5 s


def test_empty_kept_days(empty_store: Engine):
    svc = ReportService(empty_store, lambda: CFG, lambda: NOW)
    svc.report(WEEK, ALL)
    again = svc.report(WEEK, ALL)
    assert again.total.figures["offered"] == 0 and again.worst24 is None
    assert len(kept_days(empty_store)) == 5


def random_store(engine: Engine, seed: int) -> None:
    """Three days of random calls (across midnight too), seat shifts, pauses, wrap-ups
    and transfers: every seat changes state at least once a day."""
    rnd = random.Random(seed)
    seats = ["G01", "G02", "G03", "E-hrss1"]
    records, events, legs = [], [], []
    given: dict[str, list[dict]] = {"ratings": [], "scores": [], "misses": [], "tasks": [],
                                    "dials": []}  # fmt: skip

    def event(seat: str, state: str, t: datetime, lid: str = "", reason: str = "") -> None:
        zone = "hrss" if seat.startswith("E") else "general"
        events.append(
            {"id": uuid.uuid4().hex, "seat": seat, "state": state, "reason": reason, "zone": zone,
             "at": t, "linkedid": lid, "source": "asterisk", "as_of": t.timestamp()}
        )  # fmt: skip

    for day in (3, 4, 5):
        for seat in seats:
            event(seat, "available", fixture_store.at("07:50:00", day))
            event(seat, "paused", fixture_store.at(f"12:{rnd.randrange(60):02d}:00", day),
                  reason=rnd.choice(["break", "meal"]))  # fmt: skip
            event(seat, "available", fixture_store.at("13:30:00", day))
            event(seat, "logged_off", fixture_store.at("22:00:00", day))
        for i in range(60):
            h = rnd.choice([8, 9, 10, 15, 23]) if i else 23
            t = fixture_store.at(
                f"{h:02d}:{rnd.randrange(60):02d}:{rnd.uniform(0, 59.9):06.3f}", day
            )
            general = ("q-general", "G0" + str(rnd.randrange(1, 4)))
            route, seat = rnd.choice([general, ("q-hrss", "E-hrss1"), ("trunk:t", "tax12366")])
            lid = f"R{day}-{i}"
            wait = rnd.uniform(0, 40)
            queued = t + timedelta(seconds=rnd.choice([0.1, 12.0]))
            if rnd.random() < 0.15:
                ended = queued + timedelta(seconds=wait)
                records.append(fixture_store._call(
                    lid, "12345", route, t, queued=queued, ended=ended, outcome=Outcome.ABANDONED,
                    wait=wait))  # fmt: skip
                _random_callback(rnd, given, lid, ended)
                continue
            answered = queued + timedelta(seconds=wait)
            ended = answered + timedelta(seconds=rnd.uniform(5, 900))
            records.append(fixture_store._call(
                lid, "12345", route, t, queued=queued, answered=answered, ended=ended, seat=seat,
                outcome=Outcome.ANSWERED))  # fmt: skip
            if not route.startswith("trunk"):
                _random_rating_and_score(rnd, given, lid, ended, seat)
                event(seat, "ringing", answered - timedelta(seconds=2), lid)
                event(seat, "talking", answered, lid)
                event(seat, "wrap_up", ended, lid)
                event(seat, "available", ended + timedelta(seconds=rnd.uniform(1, 30)))
            if rnd.random() < 0.1:
                legs.append({"id": f"{lid}/1", "linkedid": lid, "seq": 1, "kind": "blind",
                             "target": "q-general", "from_seat": seat, "seat": "",
                             "started_at": answered + timedelta(seconds=3), "outcome": "answered",
                             "as_of": 1.0})  # fmt: skip
    with engine.begin() as conn:
        db.upsert_calls(conn, records)
        conn.execute(insert(SeatEvent.__table__), events)
        if legs:
            conn.execute(insert(CallLeg.__table__), legs)
        _insert_given(conn, given)


def _insert_given(conn, given: dict[str, list[dict]]) -> None:
    """The random ratings, QA scores and callbacks into their tables."""
    for table, rows in (
        (Rating, given["ratings"]), (QaScore, given["scores"]), (CallbackMiss, given["misses"]),
        (CallbackTask, given["tasks"]), (OutboundCall, given["dials"]),
    ):  # fmt: skip
        if rows:
            conn.execute(insert(table.__table__), rows)


def _random_rating_and_score(
    rnd: random.Random, given: dict[str, list[dict]], lid: str, ended: datetime, seat: str
) -> None:
    """Most answered calls rated (or not), a few scored, some of those corrected."""
    level = rnd.choice([None, 1, 2, 3, 4, 5])
    given["ratings"].append(fixture_store.rating_row(lid, level, ended, seat, "general", "12345"))
    if rnd.random() < 0.3:
        for version in range(1, rnd.choice([2, 3]) + 1):
            total = rnd.randrange(101)
            given["scores"].append(fixture_store.score_row(lid, version, total, total == 0, seat))


def _random_callback(
    rnd: random.Random, given: dict[str, list[dict]], lid: str, missed: datetime
) -> None:
    """A missed call's task, reached after a random while (often within 1 or 24 hours)."""
    task = f"T-{lid}"
    after = timedelta(minutes=rnd.choice([10, 59, 61, 600, 1439, 1441, 2000]))
    given["misses"].append({"linkedid": lid, "task_id": task, "at": missed})
    given["tasks"].append({
        "id": task, "reason": "callback", "caller": lid, "zone": "general", "status": "closed",
        "first_missed": missed, "last_missed": missed, "next_attempt_at": missed,
        "closed_at": missed + after, "closed_reason": "reached",
    })  # fmt: skip
    given["dials"].append({
        "id": f"O-{lid}", "reason": "callback", "task_id": task, "number": lid, "seat": "G01",
        "outcome": "reached", "started_at": missed + after - timedelta(seconds=10),
        "answered_at": missed + after, "as_of": 1.0,
    })  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2])
def test_kept_days_sum_exactly_to_the_whole_range_live(empty_store: Engine, seed: int):
    """The month's rule: a range's sums from kept days are the sums of one live pass."""
    random_store(empty_store, seed)
    rng = resolve_range("range", TZ, start=date(2025, 3, 3), end=date(2025, 3, 5))
    targets = CFG.site.targets
    src = standard()
    with empty_store.connect() as conn:
        whole = rollups.live(conn, rng.start, rng.end, targets, NOW, sources=src)
        built = rollups.gather(conn, rng, TZ, targets, NOW, sources=src)
        kept = rollups.gather(conn, rng, TZ, targets, NOW, sources=src)
    assert len(kept_days(empty_store)) == 3
    for part in (built, kept):
        for dim in rollups.DIMS:
            assert set(part.sums[dim]) == set(whole.sums[dim]), dim
            for key, acc in whole.sums[dim].items():
                got = part.sums[dim][key]
                assert +got.counters == +acc.counters, (dim, key)
                assert got.wait_hist == acc.wait_hist and got.reach_hist == acc.reach_hist
        assert set(part.seat) == set(whole.seat)
        for key, secs in whole.seat.items():
            assert part.seat[key] == pytest.approx(secs, abs=1e-6), key
        times, answered = part.arrivals()
        w_times, w_answered = whole.arrivals()
        order, w_order = np.argsort(times), np.argsort(w_times)
        assert np.array_equal(times[order], w_times[w_order])
        assert np.array_equal(answered[order], w_answered[w_order])
    assert sum(a.counters["offered"] for a in whole.sums["bucket"].values()) == 180
    total = {n: sum(a.counters[n] for a in whole.sums["bucket"].values())
             for n in ("rated", "qa_n", "missed", "callback_24h")}  # fmt: skip
    assert all(total.values()), total  # every source gave something to sum

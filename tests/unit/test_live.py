"""Live state: figures in a real Redis equal the figures of the stored records (by the one
definition in queues/stats.py), whatever order and repetition snapshots arrive in; a
restart or a lost Redis rebuilds the same figures; Redis down is reported, then healed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcore.ami import AmiParser
from callcore.features.calls.tracker import CallTracker
from callcore.features.live.keys import Keys
from callcore.features.live.model import LiveModel
from callcore.features.live.snapshot import read_snapshot
from callcore.features.live.state import LiveState, make_client
from callcore.records import CallRecord, Outcome
from callcore.store import db
from config.directory import Directory
from queues.stats import (
    Figures,
    contribution,
    day_start,
    wait_max_ms,
    window_start,
    windows,
)
from seats.states import SeatBoard
from tests.unit.supervisors_helpers import (
    CFG,
    REDIS_URL,
    ago,
    call,
    free_port,
    namespace,
    private_redis,
    redis_or_skip,
    until,
)

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).resolve().parents[1] / "data"
STREAM = [m for m in AmiParser().feed((DATA / "ami-demo.raw").read_bytes()) if "Event" in m]


@pytest.fixture(scope="module", autouse=True)
def _redis() -> None:
    redis_or_skip()


# -- the definitions ----------------------------------------------------------------------


def test_figures_are_the_sum_of_contributions():
    now = datetime.now(UTC)
    recs = [
        call("a", ago(1, now), wait=3.2, talk=60.0, outcome=Outcome.ANSWERED),
        call("b", ago(2, now), wait=20.0, talk=10.0, outcome=Outcome.ANSWERED),
        call("c", ago(3, now), wait=7.0, outcome=Outcome.ABANDONED),
        call("d", ago(3, now), outcome=Outcome.TIMEOUT, wait=30.0),
        call("e", ago(3, now)),  # waiting
    ]
    f = Figures()
    for r in recs:
        f.add(r, 15)
    assert (f.offered, f.answered, f.abandoned, f.timeout, f.in_progress) == (5, 2, 1, 1, 1)
    assert f.offered == f.answered + f.abandoned + f.timeout + f.failed + f.in_progress
    assert f.within_sl == 1 and f.sl == pytest.approx(1 / 5)  # abandoned counts (figures.md)
    assert f.avg_wait == pytest.approx(11.6) and f.max_wait == pytest.approx(20.0)
    assert f.avg_talk == pytest.approx(35.0) and f.answer_rate == pytest.approx(0.4)
    g = Figures()
    for r in recs:
        g.merge(contribution(r, 15), wait_max_ms(r))
    assert g == f


def test_windows_are_whole_minutes_and_local_days():
    now = datetime(2025, 3, 1, 16, 30, 42, tzinfo=UTC)  # 00:30:42 in Shanghai
    assert window_start(now, 15) == datetime(2025, 3, 1, 16, 16, tzinfo=UTC)
    assert window_start(now, 60) == datetime(2025, 3, 1, 15, 31, tzinfo=UTC)
    assert day_start(now, "Asia/Shanghai").astimezone(UTC) == datetime(
        2025, 3, 1, 16, 0, tzinfo=UTC
    )
    recs = [
        call("x", now - timedelta(minutes=45)),  # yesterday, local time; in the 60 minutes
        call("y", now - timedelta(minutes=14, seconds=30)),  # in the current-minute-and-14
        call("z", now - timedelta(minutes=15, seconds=50)),  # one minute too early for m15
    ]
    per = windows(recs, now, "Asia/Shanghai")
    assert per["today"]["all"][""].offered == 2
    assert per["m15"]["all"][""].offered == 1
    assert per["m60"]["all"][""].offered == 3


# -- figures in Redis = figures of the records --------------------------------------------


async def _connected(ns: str, **kw) -> LiveState:
    live = LiveState(lambda: CFG, REDIS_URL, ns, **kw)
    await live._connect()
    live.available = True
    return live


def _lifecycle(rec: CallRecord) -> list[CallRecord]:
    """The snapshots the tracker publishes for a call: routed, answered, ended."""
    from dataclasses import replace

    out = [
        replace(
            rec,
            answered_at=None,
            ended_at=None,
            wait_seconds=None,
            talk_seconds=None,
            outcome=None,
            seat="",
            as_of=rec.entered_at.timestamp(),
        )
    ]
    if rec.answered_at is not None:
        out.append(
            replace(
                rec,
                ended_at=None,
                talk_seconds=None,
                outcome=None,
                as_of=rec.answered_at.timestamp(),
            )
        )
    if rec.ended_at is not None:
        out.append(replace(rec, as_of=rec.ended_at.timestamp()))
    return out


def assert_same_figures(snap, records: list[CallRecord], now: datetime) -> None:
    per = windows(records, now, CFG.site.timezone, CFG.site.targets.answer_seconds)
    for w in ("today", "m15", "m60"):
        assert getattr(snap.totals, w).model_dump() == Figures.as_dict(
            per[w]["all"].get("") or Figures()
        ), w
        for q in snap.queues:
            want = per[w]["queue"].get(q.queue) or Figures()
            assert getattr(q.figures, w).model_dump() == want.as_dict(), (w, q.queue)
        for n in snap.numbers:
            want = per[w]["number"].get(n.number) or Figures()
            assert getattr(n.figures, w).model_dump() == want.as_dict(), (w, n.number)
        shown = {n.number for n in snap.numbers}
        assert shown >= {k for k, f in per[w]["number"].items() if f.offered}


_calls = st.lists(
    st.tuples(
        st.floats(0, 90),  # minutes ago it entered
        st.sampled_from(["q-general", "q-hrss", "q-tax", "trunk:tax12366", ""]),
        st.sampled_from(["12345", "12333", "12366", ""]),
        st.sampled_from(
            [Outcome.ANSWERED, Outcome.ABANDONED, Outcome.TIMEOUT, Outcome.FAILED, None]
        ),
        st.floats(0, 40),  # wait
        st.booleans(),  # ended (answered calls)
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=_calls, data=st.data())
async def test_live_figures_equal_stored_figures_in_any_order(calls, data):
    now = datetime.now(UTC).replace(microsecond=0)
    finals = []
    for i, (mins, route, hotline, outcome, wait, ended) in enumerate(calls):
        finals.append(
            call(
                f"c{i}",
                now - timedelta(minutes=mins),
                route=route,
                hotline=hotline,
                outcome=outcome,
                wait=round(wait, 3),
                talk=30.0 if ended else None,
            )
        )
    snaps = [s for r in finals for s in _lifecycle(r)]
    order = data.draw(st.permutations(snaps))
    dupes = data.draw(st.lists(st.sampled_from(snaps), max_size=10))
    with namespace() as ns:
        live = await _connected(ns)
        try:
            for i, s in enumerate([*order, *dupes]):
                live.on_record(s)
                if i % 4 == 0:
                    await live._flush()
            await live._heartbeat()
            await live._flush()
            snap = await live.snapshot(now=now.timestamp() + 0.5)
        finally:
            await live.close()
    assert snap.available
    assert_same_figures(snap, finals, now)


# -- restart, lost Redis, Redis down ------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    db.upgrade(url)
    eng = db.make_engine(url)
    yield eng
    eng.dispose()


def _traffic(now: datetime) -> list[CallRecord]:
    out = []
    for i in range(40):
        kind = i % 5
        entered = now - timedelta(minutes=i * 1.7, seconds=3)
        route = ["q-general", "q-hrss", "q-general", "q-tax", "trunk:tax12366"][kind]
        hotline = ["12345", "12333", "12349", "12366", "12366"][kind]
        if kind == 2:
            out.append(
                call(
                    f"r{i}",
                    entered,
                    route=route,
                    hotline=hotline,
                    wait=4.0 + i,
                    outcome=Outcome.ABANDONED,
                )
            )
        else:
            out.append(
                call(
                    f"r{i}",
                    entered,
                    route=route,
                    hotline=hotline,
                    wait=i * 0.9,
                    talk=40.0,
                    outcome=Outcome.ANSWERED,
                )
            )
    return out


async def test_restart_and_lost_redis_rebuild_the_same_figures(store):
    now = datetime.now(UTC)
    recs = _traffic(now)
    with store.begin() as conn:
        db.upsert_calls(conn, recs)
    load = lambda since: db.query_calls(store, since=since)  # noqa: E731
    with namespace() as ns:
        first = await _connected(ns, load_records=load)
        for r in recs[:10]:  # some already seen live, twice
            first.on_record(r)
            first.on_record(r)
        await first._flush()
        await first._heartbeat()
        before = await first.snapshot(now=now.timestamp())
        await first.close()
        assert_same_figures(before, recs, now)

        second = await _connected(ns, load_records=load)  # a restarted engine: re-applies all
        await second._heartbeat()
        after = await second.snapshot(now=now.timestamp())
        assert after.model_dump(exclude={"at"}) == before.model_dump(exclude={"at"})

        r = make_client(REDIS_URL)
        keys = [k async for k in r.scan_iter(f"callcore:{ns}:*")]
        await r.delete(*keys)  # Redis lost everything
        await r.aclose()
        third = await _connected(ns, load_records=load)
        await third._heartbeat()
        rebuilt = await third.snapshot(now=now.timestamp())
        assert rebuilt.model_dump(exclude={"at", "heartbeat_age"}) == before.model_dump(
            exclude={"at", "heartbeat_age"}
        )
        await second.close()
        await third.close()


async def test_redis_down_is_reported_then_healed(store, tmp_path):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    now = datetime.now(UTC)
    recs = _traffic(now)[:12]
    with store.begin() as conn:
        db.upsert_calls(conn, recs[:6])
    live = LiveState(
        lambda: CFG,
        url,
        "down-test",
        load_records=lambda since: db.query_calls(store, since=since),
        flush_interval=0.02,
        heartbeat_interval=0.2,
    )
    await live.start()
    try:
        await asyncio.sleep(0.5)
        assert not live.available and live.last_error
        assert live.health()["available"] is False
        for r in recs:  # calls go on while Redis is down: the model keeps them
            live.on_record(r)
        snap = await read_snapshot(make_client(url, 0.5), Keys("down-test"), CFG)
        assert not snap.available and snap.problem == "redis_unavailable" and snap.totals is None
        with private_redis(port, tmp_path / "redis"):
            await until(lambda: live.available, timeout=15)
            await asyncio.sleep(0.3)
            snap = await live.snapshot()
            assert snap.available
            # the outage's calls are counted: all those that fall on the site's today
            tz = ZoneInfo(CFG.site.timezone)
            today = datetime.now(tz).date()
            on_today = sum(r.entered_at.astimezone(tz).date() == today for r in recs)
            assert snap.totals.today.offered == on_today
        await until(lambda: not live.available, timeout=15)  # stopped again: noticed
    finally:
        await live.close()


async def test_silent_engine_is_not_shown_as_live():
    with namespace() as ns:
        live = await _connected(ns)
        await live._heartbeat()
        snap = await live.snapshot()
        assert snap.available
        later = await live.snapshot(now=snap.at + 30)
        assert not later.available and later.problem == "engine_silent"
        assert later.heartbeat_age and later.heartbeat_age > 25 and later.queues == []
        await live.close()


async def test_what_the_engine_says_is_degraded_reaches_every_reader():
    impaired = {"database": "17"}
    with namespace() as ns:
        live = await _connected(ns, degraded=lambda: dict(impaired))
        await live._heartbeat()
        snap = await live.snapshot()
        assert snap.available and snap.degraded == {"database": "17"}
        impaired.clear()
        await live._heartbeat()
        assert (await live.snapshot()).degraded == {}
        await live.close()


# -- the model: waiting callers and seats from real AMI events ------------------------------


def test_waiting_callers_and_seats_follow_the_recorded_stream():
    events: list[dict] = []
    model = LiveModel(lambda: CFG, events.append)
    timers: list = []
    board = SeatBoard(lambda: CFG, model.on_seat_change, schedule=lambda d, cb: timers.append(cb))
    model.seat_status = board.status
    tracker = CallTracker(lambda: Directory(CFG), model.on_record)
    checked = 0
    connected: dict[str, tuple[str, str]] = {}
    talked: set[str] = set()
    for ev in STREAM:
        tracker.handle(dict(ev))
        board.handle(dict(ev))
        model.handle(dict(ev))
        if ev["Event"] == "QueueCallerJoin":
            checked += 1
            w = model.waiting[ev["Linkedid"]]
            assert w.queue == ev["Queue"] and w.caller == ev["CallerIDNum"]
            assert w.dialed and w.priority >= 0  # from the routed record
        if ev["Event"] == "AgentConnect":
            assert ev["Linkedid"] not in model.waiting
            connected[ev["MemberName"]] = (ev["Linkedid"], ev["CallerIDNum"])
        for seat_id, (linked, caller) in list(connected.items()):
            seat = model.seat_json(seat_id)
            if seat["state"] == "talking":  # once the seat's phone says so (seats/states.py)
                assert seat["call"] == linked and seat["caller"] == caller  # from the record
                talked.add(linked)
                del connected[seat_id]
    assert checked == 31 and model.waiting == {}
    assert len(talked) == 28  # every answered call was seen talking, with its caller
    kinds = {e["type"] for e in events}
    assert kinds == {"call.offered", "seat.offered", "call.answered", "call.ended", "seat.state"}
    assert len([e for e in events if e["type"] == "call.ended"]) == 35
    pops = [e for e in events if e["type"] == "seat.offered"]
    assert len(pops) == 30 and all(p["data"]["seat"] and p["data"]["dialed"] for p in pops)
    changes = model.take_changes()
    assert changes.seats and not changes.waiting - {
        e["data"]["linkedid"] for e in events if e["type"] == "call.offered"
    }


def test_seat_json_carries_the_site_s_reason_name():
    model = LiveModel(lambda: CFG, lambda e: None)
    board = SeatBoard(lambda: CFG, model.on_seat_change, schedule=lambda d, cb: None)
    model.seat_status = board.status
    for q in ("q-general", "q-hrss"):
        board.handle(
            {
                "Event": "QueueMemberAdded",
                "Queue": q,
                "MemberName": "G01",
                "Interface": "PJSIP/8001",
                "Penalty": "0",
                "Paused": "1",
                "PausedReason": "meal",
                "Status": "1",
                "Timestamp": "100",
            }
        )
    j = model.seat_json("G01")
    assert (j["state"], j["reason"], j["reason_name"], j["since"]) == (
        "paused",
        "meal",
        "就餐",
        100.0,
    )
    assert model.seat_json("nobody") is None


async def test_another_node_reads_the_state_and_the_event_stream():
    """`callcore api` on another node: snapshots from Redis, events over pub/sub."""
    from callcore.features.live.reader import LiveReader

    got: list[dict] = []
    with namespace() as ns:
        live = await _connected(ns, flush_interval=0.02)
        reader = LiveReader(lambda: CFG, REDIS_URL, ns)
        reader.follow(got.append)
        try:
            await until(lambda: reader.available, timeout=5)
            await asyncio.sleep(0.2)  # subscribed
            now = datetime.now(UTC)
            live.handle(
                {
                    "Event": "QueueCallerJoin",
                    "Linkedid": "L1",
                    "Uniqueid": "L1",
                    "Queue": "q-general",
                    "Position": "1",
                    "CallerIDNum": "13900000009",
                    "CallerIDName": "李四",
                    "Timestamp": repr(now.timestamp()),
                }
            )
            live.on_record(call("L1", now))
            await live._flush()
            await live._heartbeat()
            await until(lambda: any(e["type"] == "call.offered" for e in got), timeout=5)
            offered = next(e for e in got if e["type"] == "call.offered")
            assert offered["data"]["caller_name"] == "李四"
            snap = await reader.snapshot()
            assert snap.available and [w.caller for w in snap.waiting] == ["13900000009"]
            assert snap.totals.today.in_progress == 1
            assert reader.health()["available"] and "password" not in str(reader.health())
        finally:
            await reader.close()
            await live.close()

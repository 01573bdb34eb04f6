"""The monitor: what it shows from a snapshot (Chinese by default, English on request),
highlights, keys that act on the selected seat, "live figures unavailable", and a floor of
1,000 seats and 40 queues updated in place."""

from __future__ import annotations

import time
from datetime import date

import orjson
import pytest
from textual.widgets import DataTable, Static

from callcore.features.live.snapshot import Snapshot, build
from callcore.features.reports.current import IntervalNeed, ZoneNeed
from callcore.monitor import view
from callcore.monitor.app import MonitorApp
from tests.unit.supervisors_helpers import CFG

pytestmark = pytest.mark.timeout(120)

NOW = time.time()


def seat_json(seat: str, state: str, since: float, reason: str = "", queues=("q-general",)):
    names = {r.id: r.name for r in CFG.pause_reasons}
    return orjson.dumps(
        {
            "seat": seat,
            "name": {"G01": "王芳", "G02": "李娜"}.get(seat, seat),
            "extension": "8001",
            "zone": "general",
            "state": state,
            "reason": reason,
            "reason_name": names.get(reason, reason),
            "since": since,
            "queues": list(queues),
            "call": "",
            "caller": "",
        }
    )


def snapshot(paused_for: float = 30, waited: float = 20) -> Snapshot:
    waiting = {
        "L1": orjson.dumps(
            {
                "linkedid": "L1",
                "queue": "q-general",
                "joined_at": NOW - waited,
                "position": 1,
                "caller": "13912345678",
                "caller_name": "张三丰",
                "dialed": "12345",
                "hotline": "12345",
                "priority": 0,
            }
        )
    }
    seats = {
        "G01": seat_json("G01", "paused", NOW - paused_for, "meal"),
        "G02": seat_json("G02", "available", NOW - 5),
    }
    day = {
        "all|offered": "10",
        "all|answered": "8",
        "all|abandoned": "1",
        "all|within_sl": "7",
        "all|wait_ms": "40000",
        "all|wait_n": "8",
        "all|wait_max_ms": "9000",
        "q:q-general|offered": "10",
        "q:q-general|answered": "8",
        "q:q-general|within_sl": "7",
        "q:q-general|abandoned": "1",
        "n:12345|offered": "10",
    }
    m60 = {
        "all|offered": "4",
        "all|within_sl": "2",
        "q:q-general|offered": "4",
        "q:q-general|within_sl": "2",
    }
    return build(CFG, NOW, 0.5, waiting, seats, day, {"m15": {}, "m60": m60})


def test_view_in_chinese_and_english():
    snap = snapshot(paused_for=1000, waited=90)
    zh = view.seats(snap, "zh")
    assert zh.columns[3] == "状态"
    row = dict(zh.rows)["G01"]
    assert row[3] == "暂停" and row[4] == "就餐" and row[1] == "王芳"
    assert "G01" in zh.alert_rows  # paused longer than paused_alert_seconds (900)
    en = dict(view.seats(snap, "en").rows)["G01"]
    assert en[3] == "paused" and en[4] == "meal"
    w = view.waiting(snap, "zh")
    assert w.rows[0][1][:3] == ["90", "13912345678", "张三丰"] and "L1" in w.alert_rows
    q = dict(view.queues(snap, "zh").rows)["q-general"]
    assert q[0] == "综合服务区" and q[1] == "1" and q[3] == "1/2"  # 1 free of 2 in the queue
    assert q[4:10] == ["10", "8", "1", "70.0%", "80.0%", "—"]  # SL15 today, answer rate, m15
    assert "q-general" in view.queues(snap, "zh").alert_rows  # SL15 (60 min) 50% < 90%
    alerts = view.highlights(snap, "zh")
    assert "15秒接通率低于目标" in alerts and "来电等待过久" in alerts
    assert "SL15 under target" in view.highlights(snap, "en")


def test_unavailable_says_so():
    snap = Snapshot(
        at=NOW,
        available=False,
        problem="redis_unavailable",
        site="x",
        answer_seconds=15,
        sl_target=0.9,
    )
    text, alarm = view.banner(snap, "zh")
    assert alarm and text.startswith("实时数据不可用") and "Redis" in text
    text, _ = view.banner(snap, "en")
    assert text.startswith("live figures unavailable: Redis cannot be reached")


async def test_app_shows_the_floor_and_acts_on_the_selected_seat():
    calls = []

    async def act(seat: str, action: str, **body):
        calls.append((seat, action, body))
        return {"ok": True}

    snap = snapshot()

    async def read():
        return snap

    app = MonitorApp(
        read,
        "zh",
        refresh=3600,
        act=act,
        zones=[("hrss", "12333人社专区")],
        reasons=[(r.id, r.name) for r in CFG.pause_reasons],
        supervisor="S01",
    )
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause(0.3)
        seats = app.query_one("#seats", DataTable)
        assert [str(c) for c in seats.get_row("G01")][3:5] == ["暂停", "就餐"]
        waiting = app.query_one("#waiting", DataTable)
        assert str(waiting.get_row("L1")[1]) == "13912345678"
        assert "实时" in str(app.query_one("#banner", Static).render())
        seats.move_cursor(row=seats.get_row_index("G01"))
        await pilot.press("p")
        await pilot.pause(0.2)
        await pilot.press("down", "enter")  # the second reason: meal
        await pilot.pause(0.3)
        await pilot.press("r")
        await pilot.press("l")
        await pilot.press("m")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause(0.3)
        seats.move_cursor(row=seats.get_row_index("G02"))
        await pilot.press("o")
        await pilot.pause(0.3)
    assert sorted(calls, key=lambda c: c[1]) == sorted(
        [
            ("G01", "pause", {"reason": "meal"}),
            ("G01", "resume", {}),
            ("G01", "listen", {"supervisor": "S01"}),
            ("G01", "move", {"zone": "hrss"}),
            ("G02", "logoff", {}),
        ],
        key=lambda c: c[1],
    )


async def test_app_without_token_or_live_state():
    snap = Snapshot(
        at=NOW, available=False, problem="engine_silent", site="x", answer_seconds=15, sl_target=0.9
    )

    async def read():
        return snap

    app = MonitorApp(read, "en", refresh=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        banner = str(app.query_one("#banner", Static).render())
        assert "live figures unavailable" in banner and "not updating" in banner
        assert app.query_one("#banner").has_class("alarm")
        await pilot.press("p")  # no seats, no token: nothing happens, nothing breaks


async def test_a_thousand_seats_update_in_place():
    """1,000 seats, 40 queues: refreshes rewrite only what changed (timing: benchmarks/)."""
    seats = {f"S{i:04d}": seat_json(f"S{i:04d}", "available", NOW - i) for i in range(1000)}
    first = build(CFG, NOW, 0.1, {}, seats, {}, {"m15": {}, "m60": {}})
    seats["S0500"] = seat_json("S0500", "paused", NOW, "break")
    second = build(CFG, NOW + 1, 0.1, {}, seats, {}, {"m15": {}, "m60": {}})
    snaps = [first, second]

    async def read():
        return snaps[0]

    app = MonitorApp(read, "zh", refresh=3600)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause(0.3)
        table = app.query_one("#seats", DataTable)
        assert table.row_count == 1000
        app.show(second)
        await pilot.pause()
        assert table.row_count == 1000
        assert table.get_row_index("S0500") == 0  # paused seats sort before available ones
        assert str(table.get_row("S0500")[3]) == "暂停"


def test_degraded_parts_are_an_alarm_with_the_figures_still_shown():
    snap = snapshot()
    text, alarm = view.banner(snap, "zh")
    assert not alarm and "降级" not in text
    snap.degraded = {"database": "42", "ami": "down"}
    text, alarm = view.banner(snap, "zh")
    assert alarm and "降级运行" in text and "待写入 42 条" in text and "管理连接中断" in text
    text, _ = view.banner(snap, "en")
    assert "database unavailable" in text and "(42 waiting)" in text
    assert view.queues(snap, "zh").rows  # figures stay on screen


def need(general: int = 3, offered: float = 4.5) -> IntervalNeed:
    zones = {"general": ZoneNeed("general", offered, general, general, "forecast")}
    return IntervalNeed(date(2025, 3, 10), "08:30", 30, zones)


def test_staffing_needed_beside_logged_in():
    snap = snapshot()  # G01 paused, G02 available, both in the general zone
    zh = view.staffing(snap, need(), "zh", {"general": "综合服务区"})
    assert zh.title == "本时段排班 (08:30 · 30分钟)"
    assert zh.columns[:4] == ["专区", "预计呼入", "需要座席", "已签入"]
    row = dict(zh.rows)["general"]
    assert row == ["综合服务区", "4.5", "3", "2", "1", "-2", "同期预测"]
    assert "general" in zh.alert_rows  # one seat free or on a call where three are needed
    en = view.staffing(snap, need(general=1), "en")
    assert dict(en.rows)["general"][5:] == ["+0", "same weekday"] and not en.alert_rows
    waiting = view.staffing(snap, None, "en")
    assert waiting.title.endswith("(computing)")
    assert dict(waiting.rows)["general"][1:4] == ["—", "—", "2"]


async def test_app_shows_this_intervals_staffing():
    snap = snapshot()

    async def read():
        return snap

    app = MonitorApp(read, "zh", refresh=3600, need=need, zone_names={"general": "综合服务区"})
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause(0.3)
        table = app.query_one("#staffing", DataTable)
        assert [str(c) for c in table.get_row("general")][:3] == ["综合服务区", "4.5", "3"]

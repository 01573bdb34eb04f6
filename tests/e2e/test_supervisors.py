"""Supervisors on a real Asterisk with sipp traffic: live figures equal the store's, the
monitor (in tmux) shows a waiting caller and a paused seat, `monitor --once --json` equals
the API, actions change Asterisk and are audited, a supervisor softphone listens in,
roles are enforced, a restart rebuilds the same figures, and with Redis stopped calls
still flow while the monitor says live figures are unavailable.

The engine of the session site is restarted here against a private redis-server (in this
session's port range), which the Redis test stops and starts; the module restores the
engine's default Redis afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from callcore.api.client import ApiClient, ApiFailure
from callcore.features.supervisors.actions import read_audit
from callcore.records import Outcome
from callcore.sim.sipp import Behaviour, Call, SeatFarm, place_calls
from callcore.sim.site import SimSite
from queues.stats import Figures, windows
from tests import private_redis
from tests.e2e.conftest import BASE, caller_number

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

REDIS_PORT = BASE + 95
FARM_PORT = BASE + 2500
TMUX = f"callcore-e2e-{BASE}"  # a tmux server of our own (-L), never the user's
SUPERVISOR = Behaviour("supervisor", ring_ms=300, talk_ms=60000)
LONG = Behaviour("long", ring_ms=500, talk_ms=14000)  # a seat that talks long enough to spy on
SPIED = ("E-market1", "8105", "12315")  # seat, extension, the number that reaches it first


@dataclass
class Sup:
    site: SimSite
    redis_url: str
    redis: subprocess.Popen | None
    redis_dir: Path
    api: str
    sup_token: str
    seat_token: str  # G01's
    env: dict[str, str]

    def client(self, token: str | None = None) -> ApiClient:
        return ApiClient(self.api, token or self.sup_token)

    async def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s,
            s.get(self.api + path, headers=headers) as r,
        ):
            return r.status, await r.json(content_type=None)

    def start_redis(self) -> None:
        self.redis = private_redis.start(REDIS_PORT, self.redis_dir)

    def stop_redis(self) -> None:
        if self.redis is not None:
            private_redis.stop(self.redis)
            self.redis = None

    async def restart_engine(self, sig: int | None = None) -> None:
        await self.site.stop_engine(sig)
        await self.site.start_engine(env=self.env)


def cli_argv(site: SimSite, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "callcore.cli",
        "--home",
        str(site.inst.home),
        "--config",
        str(site.inst.config_path),
        *args,
    ]


async def run_cli(sup: Sup, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, **sup.env)
    res = await asyncio.to_thread(
        subprocess.run, cli_argv(sup.site, *args), capture_output=True, text=True, env=env
    )
    if check:
        assert res.returncode == 0, res.stderr
    return res


async def until(
    probe: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 30.0, step: float = 0.3
) -> Any:
    """Poll an async probe until its value satisfies `ok`; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g} s; last: {value!r:.2000}")
        await asyncio.sleep(step)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sup(site: SimSite, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sup]:
    work = tmp_path_factory.mktemp("supervisors")
    url = f"redis://127.0.0.1:{REDIS_PORT}/0"
    env = {"CALLCORE_REDIS_URL": url}
    s = Sup(
        site, url, None, work / "redis", f"http://127.0.0.1:{site.cfg.pbx.api_port}", "", "", env
    )
    s.start_redis()
    await s.restart_engine()
    await _fresh_floor(site)
    try:
        s.sup_token = (
            await run_cli(s, "token", "add", "--role", "supervisor", "--name", "钱主管")
        ).stdout.strip()
        s.seat_token = (
            await run_cli(s, "token", "add", "--role", "seat", "--name", "王芳", "--seat", "G01")
        ).stdout.strip()
        await until(lambda: s.get("/healthz"), lambda r: r[1]["redis"]["status"] == "ok")
        yield s
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(tmux, "kill-server")
        await site.stop_engine()
        await site.start_engine()  # back on the default Redis for the modules after this one
        s.stop_redis()


async def _fresh_floor(site: SimSite) -> None:
    """Every seat logged in and not paused, whatever earlier modules did to them."""
    from callcore.commands import one_shot_session

    await site.login_seats([s.id for s in site.cfg.seats])
    ami = await one_shot_session(site.inst)
    try:
        for seat in site.cfg.seats:
            await ami.action(
                {"Action": "QueuePause", "Interface": f"PJSIP/{seat.extension}", "Paused": "false"}
            )
    finally:
        await ami.close()


# -- helpers ---------------------------------------------------------------------------------


NAMES = ["张三丰", "李小龙", "王语嫣", "欧阳锋", "黄蓉", "郭靖"]


async def traffic(site: SimSite, numbers: list[str], patience_ms: int = 60000, name: str = "sup"):
    calls = [Call(caller_number(), NAMES[i % len(NAMES)], n) for i, n in enumerate(numbers)]
    results = await place_calls(
        site.workdir,
        site.sip_server,
        calls,
        patience_ms=patience_ms,
        rate=20,
        bind=site.carrier_ip,
        name=name,
        timeout=120,
    )
    return calls, results


async def store_figures(site: SimSite) -> dict:
    """Figures from the stored calls, by the definitions of queues/stats.py."""
    now = datetime.now(UTC)
    records = await site.records()
    cfg = site.cfg
    return windows(records, now, cfg.site.timezone, cfg.site.targets.answer_seconds)


def _same(live: dict, store: dict) -> bool:
    return (
        live["source"] == "live"
        and live["totals"] == store["totals"]
        and all(live["queues"].get(q) == f for q, f in store["queues"].items())
        and live["numbers"] == store["numbers"]
    )


async def live_equals_store(sup: Sup, timeout: float = 30.0) -> tuple[dict, dict]:
    async def both():
        _, live = await sup.get("/api/v1/figures?source=live", sup.sup_token)
        _, store = await sup.get("/api/v1/figures?source=store", sup.sup_token)
        return live, store

    return await until(both, lambda p: _same(*p), timeout)


def tmux(*args: str) -> str:
    res = subprocess.run(
        ["tmux", "-L", TMUX, "-f", "/dev/null", *args], capture_output=True, text=True
    )
    return res.stdout


def start_monitor(sup: Sup, *args: str) -> None:
    """`callcore monitor` full screen in a detached 200x50 tmux session named mon."""
    env = {**sup.env, "LANG": "C.UTF-8", "COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"}
    flags = [x for k, v in env.items() for x in ("-e", f"{k}={v}")]
    cmd = " ".join(cli_argv(sup.site, "monitor", *args))
    tmux("-u", "new-session", "-d", "-s", "mon", "-x", "200", "-y", "50", *flags, cmd)


def screen() -> str:
    return tmux("capture-pane", "-p", "-J", "-t", "mon")


# -- the tests ----------------------------------------------------------------------------------


async def test_live_figures_match_the_store_under_traffic(sup: Sup):
    site = sup.site
    calls, results = await traffic(
        site, ["12345", "12345", "12333", "12393", "12366", "12349", "99999"], name="fig"
    )
    impatient, res2 = await traffic(site, ["12333", "12333"], patience_ms=2000, name="fig-ab")
    callers = [c.caller for c in [*calls, *impatient]]
    rows = await site.wait_records(callers, timeout=40)
    recs = [r for rs in rows.values() for r in rs]
    assert len(recs) == len(callers)  # one row per call
    assert [r.outcome for r in results] == ["answered"] * len(calls)
    assert {r.outcome for r in res2} == {"abandoned"}
    live, store = await live_equals_store(sup)
    today = store["totals"]["today"]
    assert today["offered"] >= len(callers)
    # offered = answered + abandoned + timeout + failed + in progress (docs/figures.md)
    assert today["offered"] == sum(
        today[k] for k in ("answered", "abandoned", "timeout", "failed", "in_progress")
    )
    assert today["sl15"] == pytest.approx(today["answered_within"] / today["offered"])
    assert today["answer_rate"] == pytest.approx(today["answered"] / today["offered"])
    # and the API's store figures are the stored rows counted by queues/stats.py
    ref: Figures = (await store_figures(site))["today"]["all"][""]
    assert today["offered"] == ref.offered and today["abandoned"] == ref.abandoned
    hrss = live["queues"]["q-hrss"]["today"]
    assert hrss["abandoned"] >= 2 and hrss["offered"] >= 3
    assert live["queues"]["trunk:tax12366"]["today"]["answered"] >= 1  # the sub-centre
    assert "12366" in live["numbers"] and "" in live["numbers"]  # per number, unknown too


async def test_monitor_shows_a_waiting_caller_and_a_paused_seat(sup: Sup):
    site = sup.site
    # the only hrss expert pauses (meeting): a 12333 caller waits until the overflow at 10 s
    await sup.client().seat_action("E-hrss1", "pause", reason="meeting")
    start_monitor(sup, "--token", sup.sup_token, "--supervisor", "S01")
    try:
        caller = Call(caller_number(), "欧阳锋", "12333")
        waiting = asyncio.create_task(
            place_calls(
                site.workdir,
                site.sip_server,
                [caller],
                patience_ms=9000,
                bind=site.carrier_ip,
                name="mon-wait",
                timeout=60,
            )
        )
        text = await until(
            lambda: asyncio.to_thread(screen),
            lambda s: caller.caller in s and "会议" in s,
            timeout=20,
        )
        assert "12345热线实时监控" in text and "实时数据不可用" not in text
        row = next(ln for ln in text.splitlines() if caller.caller in ln)
        assert "欧阳锋" in row and "q-hrss" in row
        seat_row = next(ln for ln in text.splitlines() if "E-hrss1" in ln and "会议" in ln)
        assert "暂停" in seat_row and "周建国" in seat_row

        # one snapshot from the command line equals the API's, read at the same moment
        async def pair():
            res = await run_cli(sup, "monitor", "--once", "--json")
            _, api = await sup.get("/api/v1/snapshot", sup.sup_token)
            return json.loads(res.stdout), api

        def comparable(s: dict) -> dict:
            return {
                "available": s["available"],
                "waiting": [
                    (w["linkedid"], w["queue"], w["caller"], w["position"]) for w in s["waiting"]
                ],
                "seats": sorted((x["seat"], x["state"], x["reason"]) for x in s["seats"]),
                "totals": s["totals"],
                "queues": [(q["queue"], q["waiting"], q["figures"]) for q in s["queues"]],
            }

        once, _api = await until(pair, lambda p: comparable(p[0]) == comparable(p[1]), 20)
        w = next(x for x in once["waiting"] if x["caller"] == caller.caller)
        assert w["queue"] == "q-hrss" and w["dialed"] == "12333" and w["wait"] > 0
        paused = next(x for x in once["seats"] if x["seat"] == "E-hrss1")
        assert (paused["state"], paused["reason"]) == ("paused", "meeting")
        results = await waiting
        assert results[0].outcome == "abandoned"
    finally:
        await sup.client().seat_action("E-hrss1", "resume")
        tmux("kill-session", "-t", "mon")


async def _queue_status(site: SimSite, seat: str) -> dict[str, dict]:
    from callcore.commands import one_shot_session

    ami = await one_shot_session(site.inst)
    try:
        _, evs = await ami.action_list(
            {"Action": "QueueStatus"}, complete_event="QueueStatusComplete", timeout=10
        )
    finally:
        await ami.close()
    return {e["Queue"]: e for e in evs if e.get("Event") == "QueueMember" and e["Name"] == seat}


async def test_each_action_changes_asterisk_and_is_audited(sup: Sup):
    site, c = sup.site, sup.client()
    seat = "Q02"  # an enterprise seat: its own queue q-enterprise, general as a skill
    before = await _queue_status(site, seat)
    assert set(before) == {"q-enterprise", "q-general"}

    await c.seat_action(seat, "pause", reason="training")
    now = await _queue_status(site, seat)
    assert all(e["Paused"] == "1" and e["PausedReason"] == "training" for e in now.values())
    snap = await until(
        lambda: sup.get("/api/v1/seats/Q02", sup.sup_token), lambda r: r[1].get("state") == "paused"
    )
    assert snap[1]["reason"] == "training"

    await c.seat_action(seat, "resume")
    assert all(e["Paused"] == "0" for e in (await _queue_status(site, seat)).values())

    await c.seat_action(seat, "move", zone="tax")
    moved = await _queue_status(site, seat)
    assert moved["q-tax"]["Penalty"] == "0" and "q-enterprise" not in moved
    await until(
        lambda: sup.get("/api/v1/seats/Q02", sup.sup_token), lambda r: r[1].get("zone") == "tax"
    )
    await c.seat_action(seat, "move", zone="enterprise")
    assert set(await _queue_status(site, seat)) == set(before)

    await c.seat_action(seat, "logoff")
    assert await _queue_status(site, seat) == {}
    await until(
        lambda: sup.get("/api/v1/seats/Q02", sup.sup_token),
        lambda r: r[1].get("state") == "logged_off",
    )
    with pytest.raises(ApiFailure) as refused:
        await c.seat_action(seat, "resume")
    assert refused.value.status == 409 and refused.value.code == "logged_off"
    await site.login_seats([seat])

    # the CLI's supervisor commands take the same path
    res = await run_cli(
        sup, "supervise", "pause", seat, "--reason", "acw", "--token", sup.sup_token
    )
    assert json.loads(res.stdout)["ok"] is True
    await run_cli(sup, "supervise", "resume", seat, "--token", sup.sup_token)

    def audit():
        return read_audit(site.engine_db(), target=seat)

    rows = await until(lambda: asyncio.to_thread(audit), lambda r: len(r) >= 8, timeout=20)
    got = [(r["action"], r["result"], r["actor"], r["role"]) for r in reversed(rows)][-8:]
    assert got == [
        ("pause", "ok", "钱主管", "supervisor"),
        ("resume", "ok", "钱主管", "supervisor"),
        ("move", "ok", "钱主管", "supervisor"),
        ("move", "ok", "钱主管", "supervisor"),
        ("logoff", "ok", "钱主管", "supervisor"),
        ("resume", "error", "钱主管", "supervisor"),
        ("pause", "ok", "钱主管", "supervisor"),
        ("resume", "ok", "钱主管", "supervisor"),
    ]
    assert rows[0]["at"] > rows[-1]["at"] or rows[0]["at"] == rows[-1]["at"]
    assert "not logged in" in next(r for r in rows if r["result"] == "error")["error"]


async def test_supervisor_listens_whispers_and_barges_from_a_softphone(sup: Sup):
    site = sup.site
    seat, ext, number = SPIED
    sec = site.inst.secrets()
    farm = SeatFarm(
        site.workdir / "sup-farm",
        site.sip_server,
        {"8901": sec.supervisor_passwords["S01"], ext: sec.seat_passwords[seat]},
        {"8901": SUPERVISOR, ext: LONG},
        base_port=FARM_PORT,
    )
    registered = await farm.start()
    assert all(registered.values()), registered
    try:
        call = Call(caller_number(), "黄蓉", number)
        talk = asyncio.create_task(
            place_calls(
                site.workdir,
                site.sip_server,
                [call],
                bind=site.carrier_ip,
                name="spied",
                timeout=90,
            )
        )
        await until(
            lambda: sup.get(f"/api/v1/seats/{seat}", sup.sup_token),
            lambda r: r[1].get("state") == "talking",
            timeout=20,
        )
        c = sup.client()
        for mode in ("listen", "whisper", "barge"):
            r = await c.seat_action(seat, mode, supervisor="S01")
            assert r["ok"] and r["detail"]["spy_channel"].startswith("PJSIP/8901-")
            assert r["detail"]["seat_channel"].startswith(f"PJSIP/{ext}-")
        chans = await site.rx("core show channels concise")
        spies = [ln for ln in chans.splitlines() if ln.startswith("PJSIP/8901-")]
        assert len(spies) == 3 and all("ChanSpy" in ln for ln in spies), chans
        results = await talk
        assert results[0].outcome == "answered"
        # the supervisor legs end with the seat's call (ChanSpy option E)
        await until(
            lambda: site.rx("core show channels concise"),
            lambda out: "PJSIP/8901-" not in out,
            timeout=20,
        )
        rows = await site.wait_records([call.caller], timeout=30)
        rec = rows[call.caller][0]
        assert len(rows[call.caller]) == 1 and rec.seat == seat  # spying made no extra call
        assert rec.outcome is Outcome.ANSWERED and rec.talk_seconds > 10
        audit = await asyncio.to_thread(read_audit, site.engine_db(), None, seat)
        assert [a["action"] for a in audit[:3]] == ["barge", "whisper", "listen"]
        assert all(a["result"] == "ok" for a in audit[:3])
        with pytest.raises(ApiFailure) as off_call:  # no call to listen to any more
            await c.seat_action(seat, "listen", supervisor="S01")
        assert off_call.value.code == "not_in_call"
    finally:
        await farm.stop()
        await site.farm.register({ext: sec.seat_passwords[seat]}, tag="restore-spied")


async def test_a_token_without_the_role_is_refused(sup: Sup):
    seat = sup.client(sup.seat_token)
    with pytest.raises(ApiFailure) as e:
        await seat.seat_action("G02", "pause", reason="break")
    assert e.value.status == 403
    assert (await sup.get("/api/v1/seats", sup.seat_token))[0] == 403
    assert (await sup.get("/api/v1/snapshot", sup.seat_token))[0] == 403
    assert (await sup.get("/api/v1/seats"))[0] == 401
    assert (await sup.get("/api/v1/seats", "not-a-token"))[0] == 401
    status, own = await sup.get("/api/v1/calls?since=2h&limit=1000", sup.seat_token)
    assert status == 200
    _, everyone = await sup.get("/api/v1/calls?since=2h&limit=1000", sup.sup_token)
    others = {c["seat"] for c in everyone["calls"]} - {"G01"}
    assert len(others) >= 3  # the supervisor sees every seat's calls
    assert own["calls"] == [c for c in everyone["calls"] if c["seat"] == "G01"]
    status, _ = await sup.get("/api/v1/calls?since=2h&seat=G02", sup.seat_token)
    assert status == 403
    res = await run_cli(sup, "supervise", "pause", "G02", "--token", sup.seat_token, check=False)
    assert res.returncode == 2 and "forbidden" in res.stderr
    assert (await sup.get("/healthz"))[0] == 200  # public


async def test_restart_mid_traffic_rebuilds_the_same_figures(sup: Sup):
    site = sup.site
    live0, _ = await live_equals_store(sup)
    # a caller left waiting across the restart: the hrss expert and the general seats that
    # back hrss up are paused, so nobody is offered the call before the 30 s overflow
    hrss = ("E-hrss1", "G01", "G04")
    for seat in hrss:
        await sup.client().seat_action(seat, "pause", reason="meal")
    waiter = Call(caller_number(), "郭靖", "12333")
    held = asyncio.create_task(
        place_calls(
            site.workdir,
            site.sip_server,
            [waiter],
            patience_ms=25000,
            bind=site.carrier_ip,
            name="restart-wait",
            timeout=60,
        )
    )
    batch = asyncio.create_task(
        traffic(site, ["12345", "12328", "12345", "12315", "12349"], name="restart")
    )
    await asyncio.sleep(2.5)  # calls ringing, talking and hearing the notice
    await sup.restart_engine()
    # rebuilt from Asterisk's QueueStatus and the store: the waiting caller, the paused seat
    _, snap = await until(
        lambda: sup.get("/api/v1/snapshot", sup.sup_token),
        lambda r: r[1]["available"] and any(w["caller"] == waiter.caller for w in r[1]["waiting"]),
        timeout=15,
    )
    w = next(w for w in snap["waiting"] if w["caller"] == waiter.caller)
    assert (w["queue"], w["dialed"], w["caller_name"]) == ("q-hrss", "12333", "郭靖")
    assert w["wait"] >= 2
    paused = next(x for x in snap["seats"] if x["seat"] == "E-hrss1")
    assert (paused["state"], paused["reason"]) == ("paused", "meal")
    assert time.time() - paused["since"] >= 2  # the pause began before the restart
    for seat in hrss:
        await sup.client().seat_action(seat, "resume")
    calls, results = await batch
    assert [r.outcome for r in results] == ["answered"] * len(calls)
    await held
    calls.append(waiter)
    rows = await site.wait_records([c.caller for c in calls], timeout=40)
    assert all(len(v) == 1 for v in rows.values()), rows
    live1, _ = await live_equals_store(sup, timeout=40)
    assert live1["totals"]["today"]["offered"] == live0["totals"]["today"]["offered"] + len(calls)
    # a restart with no traffic changes nothing at all
    await sup.restart_engine()
    live2, _ = await live_equals_store(sup)
    assert live2["totals"] == live1["totals"] and live2["queues"] == live1["queues"]


async def test_with_redis_stopped_calls_flow_and_the_monitor_says_so(sup: Sup):
    site = sup.site
    sup.stop_redis()
    try:
        health = await until(
            lambda: sup.get("/healthz"), lambda r: r[1]["redis"]["status"] == "degraded", timeout=20
        )
        assert health[0] == 200 and health[1]["status"] == "degraded"
        res = await run_cli(sup, "monitor", "--once", "--json", check=False)
        snap = json.loads(res.stdout)
        assert res.returncode == 3 and not snap["available"]
        assert snap["problem"] == "redis_unavailable" and snap["totals"] is None
        table = await run_cli(sup, "monitor", "--once", check=False)
        assert table.stdout.startswith("实时数据不可用") and "Redis" in table.stdout
        english = await run_cli(sup, "monitor", "--once", "--lang", "en", check=False)
        assert english.stdout.startswith("live figures unavailable")
        start_monitor(sup)
        await until(lambda: asyncio.to_thread(screen), lambda s: "实时数据不可用" in s, 20)
        tmux("kill-session", "-t", "mon")
        status, figures = await sup.get("/api/v1/figures", sup.sup_token)
        assert status == 200 and figures["source"] == "store" and not figures["live_available"]

        calls, results = await traffic(site, ["12345", "12393", "12349"], name="no-redis")
        assert [r.outcome for r in results] == ["answered"] * 3
        rows = await site.wait_records([c.caller for c in calls], timeout=30)
        assert all(len(v) == 1 and v[0].outcome is Outcome.ANSWERED for v in rows.values())
    finally:
        sup.start_redis()
    await until(lambda: sup.get("/healthz"), lambda r: r[1]["redis"]["status"] == "ok", 30)
    live, store = await live_equals_store(sup)  # the outage's calls are counted
    assert live["totals"]["today"]["offered"] == store["totals"]["today"]["offered"]

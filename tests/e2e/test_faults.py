"""Faults on purpose, on the real Asterisk, under sipp traffic (docs/reliability.md).

Every test asserts: every call offered during the run reached a seat or ended with a
recorded outcome, the store holds exactly one row per call, and the engine recovered by
itself. The figures are printed (`pytest -s`) and reported in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
import yaml

from callcore.sim.site import SimSite
from tests.e2e.faults import (
    check_traffic,
    engine_stats,
    reconcile_report,
    start_traffic,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(400)]


async def test_controller_crash_mid_traffic_is_reconciled(site: SimSite):
    """SIGKILL the engine while calls come in; callers keep reaching seats (static fallback);
    on restart every call of the outage is stored once, from queue_log and live channels."""
    traffic = start_traffic(site, 30, 2.0, name="crash")
    await asyncio.sleep(4)
    await site.stop_engine(signal.SIGKILL)
    down_at = time.time()
    await asyncio.sleep(8)  # calls arrive, are answered, end while nobody watches
    t0 = time.monotonic()
    await site.start_engine()
    rep = await wait_for(lambda: reconcile_report(site, down_at), 30, "the resync report")
    recover_s = time.monotonic() - t0
    results, rows, fig = await check_traffic(site, traffic, "controller crash")
    fig.recover_s = round(recover_s, 2)
    print(fig.show(), rep)
    assert rep["error"] is None
    assert rep["rebuilt"] + rep["adopted"] > 0 and fig.reconciled > 0
    fallback = [r for r in rows.values() if r.fallback]
    assert fallback, "no call was routed statically while the engine was down"
    for r in fallback:
        assert "static dialplan" in r.reason
        assert r.route.startswith(("q-", "trunk:")) and (r.hotline_name or r.hotline == "")
    assert [r.outcome for r in results].count("answered") >= len(results) - 3


async def test_asterisk_crash_and_restart_mid_traffic(site: SimSite):
    """SIGKILL Asterisk with calls ringing and talking, start it again: the engine notices
    at once, reconnects, closes the calls that died (answered stay answered, ending when
    Asterisk went away; waiting ones fail) and carries on; no duplicate rows."""
    traffic = start_traffic(site, 24, 2.0, name="pbx-crash", patience_ms=20000, talk_ms=15000)
    await asyncio.sleep(5)
    before = await wait_for(lambda: engine_stats(site), 10, "engine stats")
    log_file = site.inst.log / "callcore.log"
    seen = log_file.stat().st_size
    await site.kill_asterisk()
    killed_at = time.time()
    await wait_for(lambda: b" lost (" in log_file.read_bytes()[seen:], 5, "the engine to notice")
    noticed_s = time.time() - killed_at
    await asyncio.sleep(2)
    await site.start_asterisk()
    t0 = time.monotonic()
    rep = await wait_for(lambda: reconcile_report(site, killed_at), 60, "the resync report")
    recover_s = time.monotonic() - t0
    _, rows, fig = await check_traffic(site, traffic, "Asterisk crash", lost_ok=True)
    fig.recover_s = round(recover_s, 2)
    print(fig.show(), rep, {"noticed_s": round(noticed_s, 2)})
    assert rep["error"] is None
    lost = [r for r in rows.values() if "asterisk_lost" in r.flags]
    assert lost, "no call was up when Asterisk died"
    for r in lost:
        gone = r.ended_at.timestamp()
        assert killed_at - 1.5 < gone < killed_at + 1.5, (r, killed_at)
        if r.answered_at is not None:
            assert r.outcome.value in ("answered", "transferred") and r.talk_seconds is not None
        else:
            assert r.outcome.value == "failed"
    # calls after the restart reach seats again, tracked live
    after = [r for r in rows.values() if r.entered_at.timestamp() > killed_at + 3]
    assert after and all("asterisk_lost" not in r.flags for r in after)
    assert any(r.outcome.value == "answered" for r in after)
    stats = await wait_for(
        lambda: (s := engine_stats(site)) and s["ami"]["reconnects"] > before["ami"]["reconnects"]
        and s, 15, "the engine's reconnect")
    assert stats["ami"]["connected"]


async def test_sigterm_mid_traffic_loses_nothing_and_sighup_drops_no_call(site: SimSite):
    """`callcore run` stops on SIGTERM without losing a record (drained, the rest adopted
    or rebuilt at the next start); a config change applied with SIGHUP while calls are up
    drops none and applies to the next calls."""
    path = site.inst.config_path
    original = path.read_text(encoding="utf-8")
    traffic = start_traffic(site, 30, 2.0, name="sigterm")
    await asyncio.sleep(4)
    stopped_at = time.time()
    code = await site.stop_engine(signal.SIGTERM)
    assert code == 0
    log_text = (site.inst.log / "callcore.log").read_text(encoding="utf-8", errors="replace")
    assert "store not drained" not in log_text.split("AMI logged in")[-1]
    await asyncio.sleep(3)  # an upgrade: the new engine starts a moment later
    t0 = time.monotonic()
    await site.start_engine()
    rep = await wait_for(lambda: reconcile_report(site, stopped_at), 30, "the resync report")
    recover_s = time.monotonic() - t0
    # the upgraded engine takes a config change while the calls are up
    data = yaml.safe_load(original)
    next(h for h in data["hotlines"] if h["number"] == "12393")["name"] = "医疗保障(新)"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    try:
        assert site.engine_proc is not None
        site.engine_proc.send_signal(signal.SIGHUP)
        results, _, fig = await check_traffic(site, traffic, "SIGTERM and restart, SIGHUP")
        assert [r.outcome for r in results] == ["answered"] * len(results)
        fig.recover_s = round(recover_s, 2)
        print(fig.show(), rep)
        assert rep["error"] is None
        after = start_traffic(site, 2, 2.0, name="after-sighup", numbers=["12393"])
        _, rows_after, _ = await check_traffic(site, after, "after SIGHUP")
        assert {r.hotline_name for r in rows_after.values()} == {"医疗保障(新)"}
    finally:
        path.write_text(original, encoding="utf-8")
        if site.engine_proc is not None:
            site.engine_proc.send_signal(signal.SIGHUP)

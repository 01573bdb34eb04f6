"""Half-open and hostile peers under traffic: a silent AMI connection is replaced, and
FastAGI clients that say nothing, send garbage, send headers forever or vanish mid-command
never slow down the routing of real calls (measured by a probe client and by Asterisk)."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest
import yaml

from callcore.sim.site import SimSite
from tests.e2e.conftest import BASE
from tests.e2e.faults import (
    check_traffic,
    engine_stats,
    reconcile_report,
    start_traffic,
    wait_for,
)
from tests.e2e.peers import SilentProxy, hostile_client, probe_route

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(400)]

PROXY_PORT = BASE + 39


async def test_silent_ami_connection_is_detected_and_replaced(site: SimSite):
    cfg = site.cfg.pbx
    proxy = SilentProxy(cfg.bind, PROXY_PORT, (cfg.bind, cfg.ami_port))
    await proxy.start()
    data = yaml.safe_load(site.inst.config_path.read_text(encoding="utf-8"))
    data["pbx"]["ami_port"] = PROXY_PORT
    via_proxy = site.inst.config_path.with_name("site-ami-proxy.yaml")
    via_proxy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    await site.stop_engine()
    await site.start_engine(config_path=via_proxy)
    try:
        traffic = start_traffic(site, 30, 1.5, name="ami-silent")
        await asyncio.sleep(4)
        before = engine_stats(site) or {"ami": {"ping_failures": 0}}
        proxy.silence()
        silent_at = time.time()
        rep = await wait_for(lambda: reconcile_report(site, silent_at), 30, "a new AMI session")
        detect_s = rep["at"] - silent_at
        _, _, fig = await check_traffic(site, traffic, "AMI connection silent")
        fig.recover_s = round(detect_s, 2)
        print(fig.show(), rep)
        assert proxy.connections == 2  # the silent one, and the one that replaced it
        assert detect_s < 12  # ping every 5 s, 3 s to answer
        assert rep["error"] is None and fig.reconciled > 0
        stats = await wait_for(lambda: engine_stats(site), 10, "engine stats")
        assert stats["ami"]["ping_failures"] > before["ami"]["ping_failures"]
    finally:
        await site.stop_engine()
        await proxy.close()
        await site.start_engine()


async def test_hostile_fastagi_clients_never_stall_routing(site: SimSite):
    host, port = site.cfg.pbx.bind, site.cfg.pbx.agi_port
    baseline = [await probe_route(host, port, i) for i in range(20)]
    traffic = start_traffic(site, 24, 1.5, name="agi-hostile")
    per_kind: dict[str, list[float]] = {}
    for kind in ("silent", "garbage", "endless-headers", "vanish"):
        until = time.monotonic() + 4
        hostile = [asyncio.create_task(hostile_client(host, port, kind, until)) for _ in range(8)]
        samples = []
        i = 1000
        while time.monotonic() < until:
            i += 1
            samples.append(await probe_route(host, port, i))
            await asyncio.sleep(0.05)
        await asyncio.gather(*hostile)
        per_kind[kind] = samples
    _, rows, fig = await check_traffic(site, traffic, "hostile FastAGI clients")
    ms = {k: {"p50": round(statistics.median(v) * 1000, 1), "max": round(max(v) * 1000, 1),
              "n": len(v)} for k, v in per_kind.items()}
    ms["baseline"] = {"p50": round(statistics.median(baseline) * 1000, 1),
                      "max": round(max(baseline) * 1000, 1), "n": len(baseline)}
    stats = engine_stats(site) or {}
    print(fig.show(), ms, stats.get("agi"), stats.get("route_in_asterisk"))
    for kind, v in per_kind.items():
        assert len(v) > 10, kind
        # the dialplan gives FastAGI agi_bound_ms (1 s) before it routes statically
        assert statistics.median(v) < 0.1 and max(v) < 0.8, (kind, ms[kind])
    # every real call was routed by FastAGI within the dialplan's bound, none statically
    assert all(not r.fallback for r in rows.values()), [r for r in rows.values() if r.fallback]

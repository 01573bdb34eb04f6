"""A few seconds of the load harness against callcore and bare Asterisk: the report is
complete and agrees with the store. No timing is asserted (docs/benchmarks.md has figures)."""

from __future__ import annotations

import pytest

from callcore import bench
from callcore.sim import sipp
from tests.e2e.conftest import BASE, MEDIA_PORTS, SIPP_PORTS

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.timeout(600)]


async def test_load_harness_smoke(tmp_path):
    load = bench.Load(rate=3, seconds=5, seats=24, talk_mean_ms=2000, impatient_share=0.2,
                      impatient_ms=1500)
    try:
        bare, core = await bench.compare(load, tmp_path, base=BASE + 5000)
    finally:
        sipp.use_port_base(SIPP_PORTS + 400, MEDIA_PORTS + 1000)  # back to this session's range
    for r in (bare, core):
        assert r.offered == 15
        assert r.answered + r.abandoned + r.failed == r.offered
        assert r.answered > 0 and r.setup_ms["p50"] is not None
        assert r.asterisk_cpu_s > 0
        assert 1 <= r.peak_calls <= r.offered
    assert bare.callcore_cpu_s is None and bare.stored is None  # nothing of callcore ran
    # callcore: every figure present, and what callers saw is what the store holds
    assert core.routing_agi_ms["p99"] is not None and core.routing_asterisk_ms["p99"] is not None
    assert core.ami_lag_ms["p99"] is not None
    assert core.callcore_cpu_s > 0 and core.callcore_peak_rss_mb > 0
    assert core.stored == core.offered and core.stored_once
    assert core.stored_answered == core.answered
    assert core.stored_abandoned == core.abandoned

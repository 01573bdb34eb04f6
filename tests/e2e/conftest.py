"""End-to-end fixtures: one real Asterisk, the engine as its own process, sipp seats and callers.

The site is the city's default config with its own ports (so a running demo is not
disturbed), one cancelled number moved outside its transition window, and the 12366
sub-centre's trunk pointed at a sipp UAS. Everything runs for the whole session; tests run
their calls concurrently.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from callcore.instance import Instance
from callcore.sim import sipp
from callcore.sim.sipp import Behaviour
from callcore.sim.site import SimSite
from config.loader import DEFAULT_PATH

# Everything this session binds lies in [BASE-2000, BASE+3000), and a load-harness run in
# [BASE+3000, BASE+8000): sessions with bases 10000 apart run side by side (pytest-xdist
# workers, or engineers setting CALLCORE_E2E_BASE), apart from a demo on the defaults.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
BASE = int(os.environ.get("CALLCORE_E2E_BASE", "30000")) + 10000 * _WORKER
PORTS = {
    "sip_port": BASE + 60,
    "ami_port": BASE + 38,
    "agi_port": BASE + 73,
    "api_port": BASE + 45,
    "rtp_start": BASE - 2000,
    "rtp_end": BASE - 1001,
}
SUBCENTRE_PORT = BASE + 70
CARRIER_PORT = BASE + 71  # the carrier's far side of calls out (tests/e2e/test_callsout.py)
SEAT_PORTS = BASE + 100
SIPP_PORTS = BASE + 200
MEDIA_PORTS = BASE + 1000
OUTSIDE = "12336"
GUARD_BAN_SECONDS = 15  # a cancelled number whose transition window is over in the test site

PROMPT = Behaviour("prompt", ring_ms=800, talk_ms=2500)
SLOW = Behaviour("slow", ring_ms=6000, talk_ms=2500)  # the hrss expert: lets callers give up
SUBCENTRE = Behaviour("subcentre", ring_ms=800, talk_ms=2500)

_callers = itertools.count(1)


def caller_number() -> str:
    """A caller number no other test uses, so store rows map to calls one to one."""
    return f"1358{next(_callers):07d}"


def site_config(path: Path) -> Path:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["pbx"].update(PORTS)
    for t in data["trunks"]:
        if t["id"] == "tax12366":
            t["port"] = SUBCENTRE_PORT
            t["dial_timeout"] = 10
        if t["id"] == "carrier":
            t["port"] = CARRIER_PORT
    # calls out at any hour in tests (test_callsout.py sets rest hours itself); 122 stands
    # for a hand-off target that does not answer (the far side never answers ...8)
    data["callsout"] = {
        "rest_hours": {"start": "00:00", "end": "00:00"},
        "dial_seconds": 10,
        "emergency": [
            {"code": "110", "name": "公安110"},
            {"code": "119", "name": "消防119"},
            {"code": "120", "name": "急救120"},
            {"code": "122", "name": "交警122", "dial": "1228", "timeout": 6},
        ],
    }
    # seats and callers are on 127.0.0.1-2 (trusted, as a site's own LAN may be); a guesser
    # on another loopback address is banned after a few tries, for a few seconds
    data["guard"] = {"max_failures": 5, "window_seconds": 60, "ban_seconds": GUARD_BAN_SECONDS,
                     "trusted": ["127.0.0.1/32"]}
    for h in data["hotlines"]:
        if h["number"] == OUTSIDE:
            h["transition"] = {"start": "2021-11-20", "end": "2022-11-19"}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimSite]:
    sipp.use_port_base(SIPP_PORTS, MEDIA_PORTS)
    base = tmp_path_factory.mktemp("e2e")
    inst = Instance(base / "home", site_config(base / "site.yaml"))
    s = SimSite(inst, base / "sim")
    try:
        await s.boot_asterisk()
        await s.start_engine()
        behaviour = {seat.extension: PROMPT for seat in inst.config.seats}
        behaviour["8101"] = SLOW
        registered = await s.start_seats(behaviour, base_port=SEAT_PORTS)
        assert all(registered.values()), registered
        await s.start_subcentre(SUBCENTRE)
        await s.wait_trunk("tax12366", True)
        await s.start_far_side()
        yield s
    finally:
        await s.shutdown()

"""Hostile caller IDs on the real path: sipp → PJSIP → dialplan → AMI → tracker → store →
`callcore calls`. SQL and shell metacharacters, markup, very long names and odd number
formats are stored as sent and shown literally. Asterisk itself keeps only about 80 bytes of
a caller name; a character split there is stored as U+FFFD."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from callcore.sim.sipp import Call, place_calls
from callcore.sim.site import SimSite
from tests.e2e.conftest import caller_number

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

NAMES = [
    "' OR 1=1 -- DROP TABLE calls",
    "$(reboot) `id` && rm -rf / | tee x",
    "[bold red]假冒坐席[/bold red]",
    "a名" * 300,  # Asterisk keeps about 80 bytes of a name: cut inside a character
    "<script>alert(1)</script> %s%n {0}",
    "Robert'), (x 谁? O'Brien",
]


def numbers(c: str) -> list[str]:
    return [c, f"+86-{c}", f"0086({c[:3]}){c[3:]}", f"{c}'--", f"{c}.{c}", c + "0" * 40]


async def test_hostile_caller_ids_are_stored_and_shown_safely(site: SimSite):
    since = datetime.now(UTC)
    calls = []
    for i, name in enumerate(NAMES):
        for num in numbers(caller_number())[i % 6 : i % 6 + 1]:
            calls.append(Call(num, name, "12345"))
    results = await place_calls(site.workdir, site.sip_server, calls, rate=10,
                                bind=site.carrier_ip, name="hostile-ids", timeout=120)
    assert [r.outcome for r in results] == ["answered"] * len(calls), results
    rows = await site.wait_records([c.caller for c in calls], timeout=30, since=since)
    for c in calls:
        assert len(rows[c.caller]) == 1, (c, rows[c.caller])
        rec = rows[c.caller][0]
        assert rec.outcome.value == "answered"
        if len(c.name.encode()) < 80:
            assert rec.caller_name == c.name
        else:  # cut by Asterisk; a split character becomes U+FFFD, never a broken byte
            assert c.name.startswith(rec.caller_name.rstrip("\ufffd"))
            assert 20 < len(rec.caller_name) <= 255
    argv = [sys.executable, "-m", "callcore.cli", "--home", str(site.inst.home),
            "--config", str(site.inst.config_path), "calls", "--since", "10m"]
    table = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                    env={"COLUMNS": "250", "PATH": "/usr/bin"})
    assert table.returncode == 0, table.stderr
    assert not any(ord(ch) < 32 and ch != "\n" for ch in table.stdout)
    assert "[bold" in table.stdout  # markup shown literally, not interpreted
    js = await asyncio.to_thread(subprocess.run, [*argv, "--json"], capture_output=True,
                                 text=True)
    mine = {d["caller_number"]: d for d in json.loads(js.stdout)}
    for c in calls:
        assert mine[c.caller]["caller_name"] == rows[c.caller][0].caller_name

"""No citizen's number in full in the logs an instance writes (callcore's and Asterisk's):
calls of every kind are placed with numbers of their own, then every log file is read.

queue_log is not a log: it is the record of calls Asterisk keeps for reconciliation and
reports (a store of personal data under the retention rules, like the request store)."""

from __future__ import annotations

import asyncio
import re

import pytest

from callcore.sim.site import SimSite
from tests.e2e import scenes
from tests.e2e.conftest import caller_number

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]


async def test_no_full_caller_number_in_any_log(site: SimSite):
    dialed = ["12345", "12333", "99999", "12366"]
    callers = [caller_number() for _ in dialed]
    placed = await scenes.place(site, dialed, callers=callers, talk_ms=1500, name="privacy")
    assert all(p.record is not None for p in placed)
    await asyncio.sleep(2)  # what the engine logs after the calls end

    def read_logs() -> dict[str, str]:
        out = {}
        for path in sorted(site.inst.log.iterdir()):
            if path.is_file() and path.name != "queue_log" and not path.name.startswith("."):
                out[path.name] = path.read_text(encoding="utf-8", errors="replace")
        return out

    logs = await asyncio.to_thread(read_logs)
    assert "callcore.log" in logs and "messages" in logs, sorted(logs)
    found = {
        name: sorted({m for c in callers for m in re.findall(re.escape(c), text)})
        for name, text in logs.items()
    }
    assert not any(found.values()), {k: v for k, v in found.items() if v}

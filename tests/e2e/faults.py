"""Helpers of the fault tests: sipp traffic over a fault, and the checks every fault test makes.

Each fault test runs citizens' calls (sipp) across the fault and then asserts the same three
things: every call offered reached a seat or ended with a recorded outcome, the store holds
exactly one row per call, and the engine recovered by itself. `Figures` are what
docs/reliability.md reports; each test prints them (run pytest with -s to see them).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from callcore.records import CallRecord, Outcome
from callcore.sim.sipp import Call, CallResult, place_calls
from callcore.sim.site import SimSite
from tests.e2e.conftest import caller_number

NAMES = ["张三丰", "李小龙", "王语嫣", "欧阳锋", "黄蓉", "郭靖", "段誉", "乔峰", "虚竹", "周芷若"]
NUMBERS = ["12345", "12345", "12345", "12349", "12333", "12366", "12393", "99999"]


@dataclass
class Traffic:
    calls: list[Call]
    task: asyncio.Task[list[CallResult]]
    since: datetime
    started: float = field(default_factory=time.monotonic)


def start_traffic(
    site: SimSite,
    n: int,
    rate: float,
    *,
    name: str,
    numbers: list[str] | None = None,
    patience_ms: int = 60000,
    talk_ms: int = 600000,
) -> Traffic:
    """n citizens calling at `rate` per second, in the background."""
    numbers = numbers or NUMBERS
    calls = [
        Call(caller_number(), NAMES[i % len(NAMES)], numbers[i % len(numbers)]) for i in range(n)
    ]
    since = datetime.now(UTC)
    task = asyncio.create_task(
        place_calls(
            site.workdir,
            site.sip_server,
            calls,
            patience_ms=patience_ms,
            talk_ms=talk_ms,
            rate=rate,
            bind=site.carrier_ip,
            name=name,
            timeout=240,
        )
    )
    return Traffic(calls, task, since)


@dataclass
class Figures:
    fault: str
    offered: int = 0
    stored: int = 0
    duplicates: int = 0
    missing: int = 0
    unreached: int = 0  # calls whose INVITE found no Asterisk at all (the host was down)
    outcomes: dict[str, int] = field(default_factory=dict)
    reconciled: int = 0
    recover_s: float | None = None

    def show(self) -> str:
        return json.dumps(vars(self), ensure_ascii=False)


# What the caller experienced (sipp) -> the outcomes its stored row may have.
EXPECTED = {
    "answered": {Outcome.ANSWERED, Outcome.TRANSFERRED},
    "abandoned": {Outcome.ABANDONED, Outcome.TIMEOUT},
}


async def check_traffic(
    site: SimSite,
    traffic: Traffic,
    fault: str,
    *,
    lost_ok: bool = False,
    unreached_ok: bool = False,
    timeout: float = 60.0,
) -> tuple[list[CallResult], dict[str, CallRecord], Figures]:
    """Wait for the calls, then the three assertions every fault test makes."""
    results = await traffic.task
    callers = [c.caller for c in traffic.calls]
    rows = await site.wait_records(callers, timeout=timeout, since=traffic.since)
    fig = Figures(fault, offered=len(callers))
    by_caller: dict[str, CallRecord] = {}
    problems = []
    for res in results:
        mine = rows[res.caller]
        if len(mine) > 1:
            fig.duplicates += len(mine) - 1
            problems.append(f"{res.caller} ({res.dialed}): {len(mine)} rows")
        if not mine and unreached_ok and res.outcome == "failed":
            fig.unreached += 1  # the INVITE met no Asterisk: nothing could store it
            continue
        if not mine:
            fig.missing += 1
            problems.append(f"{res.caller} ({res.dialed}): no row, caller saw {res.outcome}")
            continue
        rec = by_caller[res.caller] = mine[0]
        fig.stored += 1
        fig.outcomes[rec.outcome.value if rec.outcome else "open"] = (
            fig.outcomes.get(rec.outcome.value if rec.outcome else "open", 0) + 1
        )
        fig.reconciled += "reconciled" in rec.flags
        if rec.outcome is None or rec.ended_at is None:
            problems.append(f"{res.caller} ({res.dialed}): row not ended: {rec}")
            continue
        lost = "asterisk_lost" in rec.flags
        if lost and lost_ok:
            continue
        allowed = EXPECTED.get(res.outcome)
        if allowed is None:
            problems.append(f"{res.caller} ({res.dialed}): caller saw {res.outcome}")
        elif rec.outcome not in allowed:
            problems.append(
                f"{res.caller} ({res.dialed}): caller {res.outcome}, stored {rec.outcome}"
            )
        if res.outcome == "answered" and not rec.seat:
            problems.append(f"{res.caller} ({res.dialed}): answered without a seat")
    assert not problems, "\n".join(problems)
    return results, by_caller, fig


async def wait_for(predicate, timeout: float, what: str, step: float = 0.2):
    """Poll an (async or plain) predicate until it gives something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(step)


def reconcile_report(site: SimSite, after: float) -> dict | None:
    """The engine's last resync report (run/reconcile.json), if it is newer than `after`."""
    path = site.inst.run / "reconcile.json"
    try:
        rep = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rep if rep.get("at", 0) > after else None


def engine_stats(site: SimSite) -> dict | None:
    try:
        return json.loads((site.inst.run / "engine-stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


async def health(site: SimSite) -> dict:
    """What the engine says about its parts: `/healthz` when the engine serves the API,
    else the store health in its stats snapshot (run/engine-stats.json)."""
    import aiohttp

    url = f"http://{site.cfg.pbx.bind}:{site.cfg.pbx.api_port}/healthz"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            async with http.get(url) as resp:
                body = await resp.json()
                return {"source": "healthz", "database": body["database"], "body": body}
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError):
        pass
    stats = engine_stats(site) or {}
    store = stats.get("store", {})
    status = "ok" if store.get("database") == "ok" else "unavailable"
    return {"source": "engine-stats", "database": {"status": status, **store}}


async def monitor_once(site: SimSite) -> dict:
    """`callcore monitor --once --json`: what a supervisor's screen shows now."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcore.cli", "--home", str(site.inst.home),
        "--config", str(site.inst.config_path), "monitor", "--once", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return json.loads(out)

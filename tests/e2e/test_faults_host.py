"""A host crash, on the real Asterisk under sipp traffic (docs/reliability.md, "Host crash").

Faults combined, as an operator meets them: the engine and Asterisk killed together (the
box lost power), and the engine killed, then Asterisk killed and restarted while the
engine is still away. Besides what every fault test asserts (`faults.check_traffic`), each
asserts that no row is left open and that no call ends before its own entry or answer:
the reconciler closes what the dead engine had stored as in progress, with the best times
queue_log has.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

import pytest

from callcore.asterisk import runtime
from callcore.records import CallRecord
from callcore.sim.site import SimSite
from tests.e2e.faults import (
    Figures,
    Traffic,
    check_traffic,
    reconcile_report,
    start_traffic,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(400)]

CALLS, RATE = 40, 2.0  # ~40 calls of mixed traffic, every class of number
PATIENCE_MS, TALK_MS = 20000, 15000  # callers of dead calls give up on their own


async def kill_host(site: SimSite) -> float:
    """SIGKILL the engine and Asterisk's process group back to back (a host crash);
    returns the wall time of the kill once both are gone."""
    engine, site.engine_proc = site.engine_proc, None
    pid = runtime.read_pid(site.inst)
    assert engine is not None and engine.returncode is None and pid is not None
    engine.send_signal(signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    killed_at = time.time()
    await engine.wait()
    await wait_for(lambda: runtime.read_pid(site.inst) is None, 10, "Asterisk to die")
    return killed_at


def check_times(rows: dict[str, CallRecord], fig: Figures) -> dict[str, int]:
    """No call ends before its entry or its answer; the counts for the figures."""
    bad = [
        r for r in rows.values()
        if r.ended_at is None or r.entered_at is None or r.ended_at < r.entered_at
        or (r.answered_at is not None and r.ended_at < r.answered_at)
        or (r.talk_seconds is not None and r.talk_seconds < 0)
    ]
    assert not bad, "\n".join(map(str, bad))
    lost = [r for r in rows.values() if "asterisk_lost" in r.flags]
    return {
        "open": fig.outcomes.get("open", 0),
        "end_before_answer": len(bad),
        "lost": len(lost),
        "lost_talking": sum(r.answered_at is not None for r in lost),
    }


async def left_open(site: SimSite, traffic: Traffic) -> set[str]:
    """The calls of the traffic the dead engine had stored as in progress."""
    callers = {c.caller for c in traffic.calls}
    rows = await site.records(traffic.since)
    return {r.linkedid for r in rows if r.caller_number in callers and r.ended_at is None}


async def finish(site: SimSite, traffic: Traffic, fault: str, killed_at: float,
                 started: float, open_at_crash: set[str]) -> tuple[dict[str, CallRecord], dict]:
    """The engine has just been started: its resync, then every check and the figures."""
    rep = await wait_for(lambda: reconcile_report(site, killed_at), 60, "the resync report")
    reconcile_s = time.monotonic() - started
    # A call whose INVITE met a dead host (no answer, no row) is a caller's failed call,
    # not a lost row: Asterisk never had it. Every call Asterisk had has exactly one row.
    _, rows, fig = await check_traffic(site, traffic, fault, lost_ok=True, unreached_ok=True)
    fig.recover_s = round(reconcile_s, 2)
    extra = check_times(rows, fig)
    # the rows the dead engine left open are closed (check_traffic: every row has ended)
    assert open_at_crash, "no call was in progress in the store when the engine died"
    assert open_at_crash <= {r.linkedid for r in rows.values()}
    extra["open_at_crash"] = len(open_at_crash)
    lost = [r for r in rows.values() if "asterisk_lost" in r.flags]
    assert lost, "no call was up when Asterisk died"
    # lost calls end at the last queue_log line Asterisk wrote: shortly before the kill
    offsets = [r.ended_at.timestamp() - killed_at for r in lost]
    assert all(-3.0 < o < 0.5 for o in offsets), offsets
    extra["lost_end_before_kill_s"] = round(-min(offsets), 3)
    print(fig.show(), extra, {k: rep[k] for k in ("adopted", "rebuilt", "lost", "took_ms")})
    assert rep["error"] is None
    return rows, rep


async def test_engine_and_asterisk_killed_together(site: SimSite):
    """Both die within milliseconds under mixed traffic; Asterisk comes back, then the
    engine: every call has one row, none open, none ending before its answer."""
    traffic = start_traffic(site, CALLS, RATE, name="host-crash", patience_ms=PATIENCE_MS,
                            talk_ms=TALK_MS)
    await asyncio.sleep(8)
    killed_at = await kill_host(site)
    open_at_crash = await left_open(site, traffic)
    await asyncio.sleep(2)
    await site.start_asterisk()
    started = time.monotonic()
    await site.start_engine()
    await finish(site, traffic, "host crash", killed_at, started, open_at_crash)


async def test_asterisk_restarted_while_the_engine_is_away(site: SimSite):
    """The engine dies; seconds later Asterisk dies and is started again while the engine is
    still down (calls go on, routed statically); then the engine starts: same checks."""
    traffic = start_traffic(site, CALLS, RATE, name="host-restart", patience_ms=PATIENCE_MS,
                            talk_ms=TALK_MS)
    await asyncio.sleep(6)
    await site.stop_engine(signal.SIGKILL)
    open_at_crash = await left_open(site, traffic)
    await asyncio.sleep(3)
    killed_at = time.time()
    await site.kill_asterisk()
    await asyncio.sleep(2)
    await site.start_asterisk()
    await asyncio.sleep(4)  # calls arrive, are answered, end while the engine is away
    started = time.monotonic()
    await site.start_engine()
    rows, _ = await finish(site, traffic, "engine away, Asterisk restarted", killed_at, started,
                           open_at_crash)
    # the calls Asterisk took after its restart were routed statically and reconciled
    after = [r for r in rows.values() if r.entered_at.timestamp() > killed_at + 1]
    assert after and all("reconciled" in r.flags for r in after if r.fallback)

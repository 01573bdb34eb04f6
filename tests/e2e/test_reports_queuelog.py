"""On the real Asterisk: a report made from queue_log alone (what QueueMetrics-type tools
read) agrees with callcore's report from the store on offered, answered, abandoned and
waits, for answered and abandoned calls; and the lines app_queue leaves are the ones
docs/figures.md lists ("What callcore's calls leave in queue_log")."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from callcore.features.reports import queuelog
from callcore.features.reports.model import Range
from callcore.features.reports.service import ReportService
from callcore.records import CallRecord, Outcome
from callcore.sim.sipp import Call, place_calls
from callcore.sim.site import SimSite
from tests.e2e.conftest import caller_number

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

ANSWERED = {"ENTERQUEUE", "RINGNOANSWER", "CONNECT", "COMPLETECALLER", "COMPLETEAGENT"}
ABANDONED = {"ENTERQUEUE", "RINGNOANSWER", "RINGCANCELED", "ABANDON"}


async def traffic(site: SimSite, numbers: list[str], patience_ms: int, name: str) -> list[Call]:
    calls = [Call(caller_number(), "张三丰", n) for n in numbers]
    await place_calls(
        site.workdir,
        site.sip_server,
        calls,
        patience_ms=patience_ms,
        rate=5,
        bind=site.carrier_ip,
        name=name,
        timeout=120,
    )
    return calls


def queue_log_lines(site: SimSite, since: float) -> list[list[str]]:
    path = site.inst.log / "queue_log"
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [p for p in (line.split("|") for line in lines) if len(p) >= 5 and int(p[0]) >= since]


async def settled_log(site: SimSite, since: float, ids: set[str]) -> list[list[str]]:
    """queue_log once every call has its final line (app_queue writes as calls end)."""
    deadline = time.monotonic() + 20
    while True:
        lines = queue_log_lines(site, since)
        ended = {p[1] for p in lines if p[4] in ("COMPLETECALLER", "COMPLETEAGENT", "ABANDON")}
        if ids <= ended or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.3)


async def test_queue_log_report_agrees_with_the_store(site: SimSite):
    since = datetime.now(UTC) - timedelta(seconds=1)
    # 12345: general seats answer after 0.8 s; 12333: the hrss expert rings 6 s, so the
    # impatient callers give up and the patient ones wait about 6 s
    groups = await asyncio.gather(
        traffic(site, ["12345"] * 4, 60000, "ql-general"),
        traffic(site, ["12333"] * 2, 2000, "ql-impatient"),
        traffic(site, ["12333"], 60000, "ql-patient"),
    )
    callers = [c.caller for g in groups for c in g]
    rows = await site.wait_records(callers, timeout=30, since=since)
    recs: list[CallRecord] = [rows[c][0] for c in callers]
    assert all(len(rows[c]) == 1 for c in callers)
    assert sorted(r.outcome.value for r in recs) == ["abandoned"] * 2 + ["answered"] * 5
    until = datetime.now(UTC) + timedelta(seconds=1)
    ids = {r.linkedid for r in recs}
    lines = [p for p in await settled_log(site, since.timestamp(), ids) if p[1] in ids]

    # the lines app_queue left, per call, are those the docs list
    events: dict[str, set[str]] = {}
    for p in lines:
        if not p[4].startswith("CC"):
            events.setdefault(p[1], set()).add(p[4])
    for r in recs:
        expected = ANSWERED if r.outcome is Outcome.ANSWERED else ABANDONED
        assert "ENTERQUEUE" in events[r.linkedid] and events[r.linkedid] <= expected, (
            r.outcome,
            events[r.linkedid],
        )
    assert {p[4] for p in lines if p[4].startswith("CC")} >= {"CCIN", "CCQUEUE", "CCEND"}

    # figures per queue: queue_log alone vs the store's report, same window
    text = ["|".join(p) for p in lines]
    qlog = queuelog.figures(text, since.timestamp(), until.timestamp(), 15)
    rng = Range(since, until, "range")
    report = ReportService(site.engine_db(), lambda: site.cfg).report(rng, ["zone"])
    store = {r.key: r.figures for r in report.groups["zone"]}
    assert set(qlog) == {"q-general", "q-hrss"}
    for queue, f in qlog.items():
        s = store[queue.removeprefix("q-")]
        assert (f.offered, f.answered, f.abandoned) == (s["offered"], s["answered"], s["abandoned"])
        assert f.avg_wait == pytest.approx(s["avg_wait"], abs=1.0)  # whole seconds in queue_log
    assert (qlog["q-general"].offered, qlog["q-general"].answered) == (4, 4)
    assert (qlog["q-hrss"].abandoned, qlog["q-hrss"].answered) == (2, 1)

    # call by call: the same outcome, and the wait to within queue_log's whole second
    stints = queuelog.stints(text, since.timestamp(), until.timestamp())
    for r in recs:
        st = stints[(r.linkedid, r.route)]
        assert st.outcome == r.outcome.value
        assert r.wait_seconds is not None and st.wait is not None
        assert abs(st.wait - r.wait_seconds) <= 1.0, (st, r.wait_seconds)
    patient = next(r for r in recs if r.route == "q-hrss" and r.outcome is Outcome.ANSWERED)
    assert patient.wait_seconds is not None and patient.wait_seconds > 4  # the slow expert

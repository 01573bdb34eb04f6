"""A report from queue_log alone agrees with the store's on offered, answered, abandoned,
timeouts and waits, for the calls that joined a queue; what queue_log never sees (a caller
who hangs up during a cancelled number's notice, the sub-centre over its trunk) is the
documented difference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from callcore.features.reports import queuelog
from callcore.features.reports.model import resolve_range
from callcore.features.reports.service import ReportService
from callcore.records import CallRecord, Outcome
from callcore.store import db

from .conftest import CFG, NOW

T = 1_741_000_000  # 2025-03-03 19:06:40 local
# As app_queue writes them (with callcore's own CC lines, which the reader ignores).
QUEUE_LOG = f"""\
{T}|L1|NONE|NONE|CCIN|{T}.000|12345|13900000001|甲
{T}|L1|q-general|NONE|ENTERQUEUE||13900000001|1
{T + 4}|L1|q-general|G01|RINGNOANSWER|4000
{T + 6}|L1|q-general|G02|CONNECT|6|1741000006.12|2
{T + 66}|L1|q-general|G02|COMPLETECALLER|6|60|1
{T + 10}|L2|q-general|NONE|ENTERQUEUE||13900000002|1
{T + 30}|L2|q-general|NONE|ABANDON|1|1|20
{T + 20}|L3|q-hrss|NONE|ENTERQUEUE||13900000003|1
{T + 32}|L3|q-hrss|E-hrss1|CONNECT|12|1741000032.2|1
{T + 90}|L3|q-hrss|E-hrss1|BLINDTRANSFER|9100|cc-transfer|12|58|1
{T + 40}|L4|q-general|NONE|ENTERQUEUE||13900000004|2
{T + 340}|L4|q-general|NONE|EXITWITHTIMEOUT|1|2|300
{T + 50}|L5|q-general|NONE|ENTERQUEUE||13900000005|1
{T + 51}|L5|q-general|G01|CONNECT|1|1741000051.3|1
garbage line
"""


def record(lid: str, route: str, offset: int, wait: float, outcome: Outcome,
           queued: bool = True) -> CallRecord:  # fmt: skip
    t = datetime.fromtimestamp(T + offset, UTC)
    rec = CallRecord(lid, hotline="12345", route=route, entered_at=t,
                     queued_at=t if queued else None, wait_seconds=wait, outcome=outcome,
                     as_of=1.0)  # fmt: skip
    if outcome in (Outcome.ANSWERED, Outcome.TRANSFERRED):
        rec.answered_at = t + timedelta(seconds=wait)
    return rec


def test_queue_log_agrees_with_the_store(empty_store: Engine):
    with empty_store.begin() as conn:
        db.upsert_calls(conn, [
            record("L1", "q-general", 0, 6, Outcome.ANSWERED),
            record("L2", "q-general", 10, 20, Outcome.ABANDONED),
            record("L3", "q-hrss", 20, 12, Outcome.TRANSFERRED),
            record("L4", "q-general", 40, 300, Outcome.TIMEOUT),
            record("L5", "q-general", 50, 1, Outcome.ANSWERED),
            # hung up during the notice: no queue, no app_queue line
            record("L6", "q-general", 60, 0, Outcome.ABANDONED, queued=False),
        ])  # fmt: skip
    day = resolve_range("day", CFG.site.timezone, datetime.fromtimestamp(T, UTC).date())
    store = {r.key: r.figures for r in ReportService(empty_store, lambda: CFG, lambda: NOW)
             .report(day, ["zone"]).groups["zone"]}  # fmt: skip
    qlog = queuelog.figures(QUEUE_LOG.splitlines(), day.start.timestamp(), day.end.timestamp())
    assert set(qlog) == {"q-general", "q-hrss"}
    for queue, f in qlog.items():
        s = store[queue.removeprefix("q-")]
        extra = 1 if queue == "q-general" else 0  # L6, which queue_log cannot see
        assert f.offered == s["offered"] - extra
        assert f.answered == s["answered"]
        assert f.abandoned == s["abandoned"] - extra
        assert f.timeout == s["timeout"]
        assert f.avg_wait == pytest.approx(s["avg_wait"])
        assert f.within_sl / f.offered == pytest.approx(s["sl15"] * s["offered"] / f.offered)
    assert qlog["q-general"].offered == 4 and qlog["q-general"].avg_wait == pytest.approx(3.5)


def test_stints_by_queue():
    st = queuelog.stints(QUEUE_LOG.splitlines(), 0, 2e9)
    assert st[("L3", "q-hrss")].outcome == "answered" and st[("L3", "q-hrss")].agent == "E-hrss1"
    assert st[("L4", "q-general")].outcome == "timeout" and st[("L4", "q-general")].wait == 300
    assert ("L1", "NONE") not in st

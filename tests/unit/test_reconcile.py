"""Reconciliation from queue_log: parsing, facts replayed as events, rebuilt records, lost
calls, idempotence against the store's as_of rule, and the resync against a fake AMI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import config
from callcore.features.calls.queue_log import parse_queue_log, read_queue_log
from callcore.features.calls.rebuild import facts_events, rebuild
from callcore.features.calls.reconcile import Reconciler
from callcore.features.calls.tracker import CallTracker
from callcore.records import CallRecord, Outcome
from callcore.store import db
from config.directory import Directory

DIRECTORY = Directory(config.load())

# Lines as the dialplan ([cc-log]) and app_queue write them (times from a real run).
ANSWERED = """\
1795666998|1795666998.7|NONE|NONE|CCIN|1795666998.599|12333|13800000004|赵|六,"x"
1795666998|1795666998.7|NONE|NONE|CCROUTE|1795666998.605|queue|q-hrss|0|12333|1||
1795666998|1795666998.7|NONE|NONE|CCQUEUE|1795666998.605|q-hrss
1795666998|1795666998.7|q-hrss|NONE|ENTERQUEUE||13800000004|1
1795667001|1795666998.7|q-hrss|E-hrss1|CONNECT|3|1795667001.12|2
1795667004|1795666998.7|q-hrss|E-hrss1|COMPLETEAGENT|3|3|1
1795667004|1795666998.7|NONE|NONE|CCEND|1795667004.250|16
"""
TRUNK = """\
1795667038|1795667038.3|NONE|NONE|CCIN|1795667038.819|12366|13800000003|王五
1795667038|1795667038.3|NONE|NONE|CCROUTE|1795667038.824|trunk|q-tax|10|12366|0||tax12366
1795667038|1795667038.3|NONE|NONE|CCTRUNK|1795667038.824|tax12366
1795667039|1795667038.3|NONE|NONE|CCTRUNKANS|1795667039.640
1795667042|1795667038.3|NONE|NONE|CCEND|1795667042.145|16
"""
ABANDONED_NOTICE = """\
1795667038|1795667038.0|NONE|NONE|CCIN|1795667038.774|12349|+86-138-0000-0002|李四
1795667038|1795667038.0|NONE|NONE|CCROUTE|1795667038.779|queue|q-general|0|12349|0|cancelled|
1795667041|1795667038.0|NONE|NONE|CCEND|1795667041.290|16
"""
# A call waiting when Asterisk was killed: no CCEND; Asterisk starts again later.
LOST = """\
1795667100|1795667100.1|NONE|NONE|CCIN|1795667100.100|12345|13800000009|钱七
1795667100|1795667100.1|NONE|NONE|CCROUTE|1795667100.105|queue|q-general|0|12345|0||
1795667100|1795667100.1|NONE|NONE|CCQUEUE|1795667100.106|q-general
1795667103|1795667199.9|NONE|NONE|CCIN|1795667103.000|12345|13800000010|other
1795667110|NONE|NONE|NONE|QUEUESTART|
"""


def rebuilt(text: str, went_away: float | None = None) -> dict[str, CallRecord]:
    qlog = parse_queue_log(text)
    return {r.linkedid: r for r in rebuild(qlog.calls.values(), lambda: DIRECTORY, qlog,
                                              went_away)}


def test_answered_call_rebuilt_like_the_tracker_would():
    rec = rebuilt(ANSWERED)["1795666998.7"]
    assert rec.outcome is Outcome.ANSWERED and rec.seat == "E-hrss1"
    assert rec.caller_name == '赵|六,"x"'  # the free-text name is the last field, '|' and all
    assert (rec.caller_number, rec.dialed_number, rec.hotline) == ("13800000004", "12333", "12333")
    assert rec.route == "q-hrss" and rec.fallback and "static dialplan" in rec.reason
    assert rec.queued_at == datetime.fromtimestamp(1795666998.605, UTC)
    assert rec.answered_at == datetime.fromtimestamp(1795667001.605, UTC)  # queued + hold
    assert rec.ended_at == datetime.fromtimestamp(1795667004.25, UTC)
    assert rec.wait_seconds == 3.0 and rec.talk_seconds == pytest.approx(2.645)
    assert rec.hangup_cause == 16 and rec.as_of == pytest.approx(1795667004.25)
    assert "reconciled" in rec.flags


def test_subcentre_and_notice_calls():
    recs = rebuilt(TRUNK + ABANDONED_NOTICE)
    tax = recs["1795667038.3"]
    assert tax.outcome is Outcome.TRANSFERRED and tax.seat == tax.transfer_target == "tax12366"
    assert tax.wait_seconds == pytest.approx(0.816) and tax.route == "trunk:tax12366"
    notice = recs["1795667038.0"]
    assert notice.outcome is Outcome.ABANDONED and notice.flags == ["cancelled", "reconciled"]
    assert notice.caller_number == "+86-138-0000-0002"


def test_call_that_died_with_asterisk_ends_when_it_went_away():
    recs = rebuilt(LOST)
    rec = recs["1795667100.1"]
    assert rec.outcome is Outcome.FAILED and "asterisk_lost" in rec.flags
    # the last queue_log line before Asterisk started again
    assert rec.ended_at == datetime.fromtimestamp(1795667103, UTC)
    assert rec.wait_seconds == pytest.approx(2.894)
    # the engine saw the AMI connection drop: that moment wins
    rec = rebuilt(LOST, went_away=1795667105.5)["1795667100.1"]
    assert rec.ended_at == datetime.fromtimestamp(1795667105.5, UTC)


def test_rebuilt_record_never_overrides_the_live_trackers(tmp_path: Path):
    """The live tracker's final record is stamped by the Hangup event, after CCEND."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    db.upgrade(engine)
    live = rebuilt(ANSWERED)["1795666998.7"]
    live.flags, live.reason, live.as_of = [], "the live tracker's", live.as_of + 0.004
    with engine.begin() as conn:
        db.upsert_calls(conn, [live])
    for _ in range(2):  # replays change nothing
        with engine.begin() as conn:
            db.upsert_calls(conn, list(rebuilt(ANSWERED).values()))
    assert db.get_call(engine, "1795666998.7").reason == "the live tracker's"
    # a partial row stored before an outage is completed by the rebuilt record
    partial = CallRecord("1795667038.3", route="trunk:tax12366", as_of=1795667038.9)
    with engine.begin() as conn:
        db.upsert_calls(conn, [partial])
        db.upsert_calls(conn, list(rebuilt(TRUNK).values()))
    assert db.get_call(engine, "1795667038.3").outcome is Outcome.TRANSFERRED
    engine.dispose()


def test_read_queue_log_seeks_by_time(tmp_path: Path):
    lines = [f"{t}|{t}.1|NONE|NONE|CCIN|{t}.5|12345|1|n" for t in range(1000, 6000)]
    path = tmp_path / "queue_log"
    path.write_text("\n".join(lines) + "\n1|torn", encoding="utf-8")
    qlog = read_queue_log(path, since=5500)
    assert sorted(qlog.calls) == [f"{t}.1" for t in range(5500, 6000)]
    assert read_queue_log(tmp_path / "missing", 0).calls == {}


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_garbage_lines_never_raise(text: str):
    qlog = parse_queue_log(text + "\n" + ANSWERED)
    for f in qlog.calls.values():
        facts_events(f)
    rebuild(qlog.calls.values(), lambda: DIRECTORY, qlog)


class FakeAmi:
    def __init__(self, channels: list[dict]):
        self.channels = channels

    async def action_list(self, fields, *, complete_event, timeout=None):
        assert fields["Action"] == "CoreShowChannels"
        return {"Response": "Success"}, [{"Event": "CoreShowChannel", **c} for c in self.channels]


def test_resync_adopts_live_ends_dead_and_rebuilds(tmp_path: Path):
    qlog = tmp_path / "queue_log"
    live_call = """\
1795667200|1795667200.4|NONE|NONE|CCIN|1795667200.400|12393|13900000001|孙八
1795667200|1795667200.4|NONE|NONE|CCROUTE|1795667200.405|queue|q-medins|0|12393|0||
1795667200|1795667200.4|NONE|NONE|CCQUEUE|1795667200.406|q-medins
"""
    qlog.write_text(ANSWERED + live_call, encoding="utf-8")
    out: list[CallRecord] = []
    tracker = CallTracker(lambda: DIRECTORY, out.append)
    # a call the tracker followed before Asterisk went away
    tracker.handle({"Event": "Newchannel", "Uniqueid": "1795667150.0", "Linkedid": "1795667150.0",
                    "Context": "from-carrier", "Exten": "12345", "CallerIDNum": "1",
                    "CallerIDName": "x", "Channel": "PJSIP/carrier-1",
                    "Timestamp": "1795667150.0"})
    rec = Reconciler(tracker, lambda: DIRECTORY, out.append, qlog, lookback=1e10)
    rec.went_away = 1795667160.0
    ami = FakeAmi([
        {"Uniqueid": "1795667200.4", "Linkedid": "1795667200.4", "Channel": "PJSIP/carrier-2"},
        {"Uniqueid": "1795667200.9", "Linkedid": "1795667200.4", "Channel": "PJSIP/8301-3"},
    ])
    rep = asyncio.run(rec.resync(ami))
    assert (rep.adopted, rep.ended, rep.lost, rep.rebuilt, rep.error) == (1, 1, 1, 1, None)
    finals = {r.linkedid: r for r in out if r.outcome is not None}
    assert finals["1795667150.0"].outcome is Outcome.FAILED
    assert finals["1795667150.0"].ended_at == datetime.fromtimestamp(1795667160.0, UTC)
    assert finals["1795666998.7"].outcome is Outcome.ANSWERED
    assert tracker.tracked("1795667200.4")
    # the adopted call goes on with the live events, and ends with its last channel
    for ev in (
        {"Event": "AgentConnect", "Uniqueid": "1795667200.4", "Linkedid": "1795667200.4",
         "MemberName": "E-medins1", "Timestamp": "1795667203.0"},
        {"Event": "Hangup", "Uniqueid": "1795667200.9", "Linkedid": "1795667200.4",
         "Cause": "16", "Timestamp": "1795667209.0"},
        {"Event": "Hangup", "Uniqueid": "1795667200.4", "Linkedid": "1795667200.4",
         "Cause": "16", "Timestamp": "1795667209.1"},
    ):
        tracker.handle(ev)
    done = [r for r in out if r.linkedid == "1795667200.4"][-1]
    assert done.outcome is Outcome.ANSWERED and done.seat == "E-medins1"
    assert done.talk_seconds == pytest.approx(6.1) and "reconciled" in done.flags
    # a second resync finds nothing left to do
    rep = asyncio.run(rec.resync(FakeAmi([])))
    assert (rep.adopted, rep.rebuilt) == (0, 0)


def test_a_call_arriving_during_the_login_is_adopted_from_its_live_channel(tmp_path: Path):
    # Its Newchannel came before the login and Asterisk's logger has not written its first
    # queue_log line yet: only the live channel tells of it; its route event comes next.
    qlog = tmp_path / "queue_log"
    qlog.write_text("", encoding="utf-8")
    out: list[CallRecord] = []
    tracker = CallTracker(lambda: DIRECTORY, out.append)
    rec = Reconciler(tracker, lambda: DIRECTORY, out.append, qlog, lookback=1e10)
    ami = FakeAmi([
        {"Uniqueid": "1795667300.1", "Linkedid": "1795667300.1", "Channel": "PJSIP/carrier-7",
         "CallerIDNum": "13900000077", "CallerIDName": "周九", "Duration": "00:00:01"},
        {"Uniqueid": "1795667300.2", "Linkedid": "1795667300.2", "Channel": "PJSIP/8001-8"},
    ])
    rep = asyncio.run(rec.resync(ami))
    assert rep.adopted == 1 and not tracker.tracked("1795667300.2")  # a seat's own call: no
    base = {"Uniqueid": "1795667300.1", "Linkedid": "1795667300.1"}
    for ev in (
        {"Event": "UserEvent", "UserEvent": "CallcoreRoute", "Dialed": "12345", "Hotline": "12345",
         "Kind": "queue", "Route": "q-general", "Prio": "0", "Fallback": "0", **base,
         "Timestamp": "1795667300.5"},
        {"Event": "QueueCallerJoin", "Queue": "q-general", **base, "Timestamp": "1795667300.6"},
        {"Event": "AgentConnect", "MemberName": "G01", **base, "Timestamp": "1795667302.0"},
        {"Event": "Hangup", "Cause": "16", **base, "Timestamp": "1795667305.0"},
    ):
        tracker.handle(ev)
    done = [r for r in out if r.linkedid == "1795667300.1"][-1]
    assert done.outcome is Outcome.ANSWERED and done.seat == "G01"
    assert (done.caller_number, done.caller_name, done.dialed_number) == (
        "13900000077", "周九", "12345")
    assert done.hotline == "12345" and "reconciled" in done.flags


def test_the_dialplan_writes_every_fact_the_reconciler_reads(tmp_path: Path):
    """Template and parser agree: each CC line is written, with the fields in this order."""
    from callcore.asterisk import render
    from callcore.asterisk.runtime import Runtime
    from callcore.instance import Instance
    from config.loader import DEFAULT_PATH

    inst = Instance(tmp_path / "home", DEFAULT_PATH)
    dialplan = render.render(inst, Runtime(None, "/usr/sbin/asterisk")).files["extensions.conf"]
    for fact, fields in {
        "CCIN": "|${CC_DIALED}|${FILTER(",
        "CCROUTE": "|${CC_KIND}|${CC_QUEUE}|${CC_PRIO}|${CC_HOTLINE}|${CC_FALLBACK}|${CC_FLAGS}"
                   "|${CC_TRUNK})",
        "CCQUEUE": "|${CC_QUEUE})",
        "CCQEXIT": "|${QUEUESTATUS})",
        "CCTRUNK": "|${CC_TRUNK})",
        "CCTRUNKANS": ")",
        "CCTRUNKEND": "|${DIALSTATUS})",
        "CCEND": "|${HANGUPCAUSE})",
    }.items():
        line = f"NONE,{fact},${{STRFTIME(,,%s.%3q)}}{fields}"
        assert line in dialplan, fact
    assert dialplan.rstrip().count("|${CALLERID(name)})") == 1  # the name, last on CCIN
    # every inbound path logs its entry and pushes the hangup handler that writes CCEND
    assert dialplan.count("Gosub(cc-log,in,1)") == 2
    assert "U(cc-log-trunkans)" in dialplan


# A host crash: the engine and Asterisk die together. The dead engine had stored both calls
# as open, stamped from AMI to the microsecond; queue_log's facts that close them are older.
HOST_CRASH = """\
1795667335|1795667335.11|NONE|NONE|CCIN|1795667335.120|12345|13800000011|吴十
1795667335|1795667335.11|NONE|NONE|CCROUTE|1795667335.126|queue|q-general|0|12345|0||
1795667335|1795667335.11|NONE|NONE|CCQUEUE|1795667335.127|q-general
1795667335|1795667335.11|q-general|NONE|ENTERQUEUE||13800000011|1
1795667337|1795667335.11|q-general|G01|CONNECT|2|1795667337.2|1
1795667337|1795667337.5|NONE|NONE|CCIN|1795667337.296|12345|13800000012|郑十一
1795667345|NONE|NONE|NONE|QUEUESTART|
"""


def _stored_open(engine) -> dict[str, CallRecord]:
    """What the dead engine had stored: a call just answered, a call just in (ringing)."""
    talking = CallRecord(
        "1795667335.11", caller_number="13800000011", dialed_number="12345", route="q-general",
        entered_at=datetime.fromtimestamp(1795667335.119874, UTC),
        queued_at=datetime.fromtimestamp(1795667335.127311, UTC),
        answered_at=datetime.fromtimestamp(1795667337.297083, UTC), seat="G01",
        as_of=1795667337.297083)
    ringing = CallRecord(
        "1795667337.5", caller_number="13800000012", dialed_number="12345", route="q-general",
        entered_at=datetime.fromtimestamp(1795667337.295812, UTC), as_of=1795667337.297102)
    with engine.begin() as conn:
        db.upsert_calls(conn, [talking, ringing])
    return {r.linkedid: r for r in (talking, ringing)}


@pytest.mark.parametrize("store_readable", [True, False])
def test_stored_open_record_newer_than_the_facts_that_close_it(tmp_path: Path,
                                                               store_readable: bool):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    db.upgrade(engine)
    held = _stored_open(engine)
    qlog = tmp_path / "queue_log"
    qlog.write_text(HOST_CRASH, encoding="utf-8")

    def publish(r: CallRecord) -> None:
        with engine.begin() as conn:
            db.upsert_calls(conn, [r])

    tracker = CallTracker(lambda: DIRECTORY, publish)
    rec = Reconciler(tracker, lambda: DIRECTORY, publish, qlog, lookback=1e10,
                     store=(lambda: engine) if store_readable else None)
    rep = asyncio.run(rec.resync(FakeAmi([])))
    assert (rep.rebuilt, rep.lost, rep.error) == (2, 2, None)
    for lid, before in held.items():
        row = db.get_call(engine, lid)
        assert row.ended_at is not None and row.outcome is not None, row
        assert "asterisk_lost" in row.flags and "reconciled" in row.flags
        assert row.ended_at >= row.entered_at
        if store_readable:  # stamped no older than what the store held
            assert row.as_of >= before.as_of
    talking = db.get_call(engine, "1795667335.11")
    assert talking.outcome is Outcome.ANSWERED and talking.ended_at >= talking.answered_at
    if store_readable:  # the dead engine's answer (AMI) beats CONNECT's whole second
        assert talking.answered_at == held["1795667335.11"].answered_at
    # lost at the last line Asterisk wrote before it started again, to the millisecond
    ringing = db.get_call(engine, "1795667337.5")
    assert ringing.outcome is Outcome.FAILED
    assert ringing.ended_at == datetime.fromtimestamp(1795667337.296, UTC)
    # replays of the dead engine's open records (its journal) never reopen the rows
    closed = {lid: db.get_call(engine, lid) for lid in held}
    with engine.begin() as conn:
        db.upsert_calls(conn, list(held.values()))
    assert {lid: db.get_call(engine, lid) for lid in held} == closed
    engine.dispose()


def test_an_inferred_end_is_never_before_the_answer_or_the_entry():
    # answered and ended within a second: CONNECT's whole second plus the hold time
    # (1795667402.905) would come after the hangup the dialplan logged (…402.300)
    same_second = """\
1795667400|1795667400.1|NONE|NONE|CCIN|1795667400.900|12345|13800000013|冯
1795667400|1795667400.1|NONE|NONE|CCROUTE|1795667400.904|queue|q-general|0|12345|0||
1795667400|1795667400.1|NONE|NONE|CCQUEUE|1795667400.905|q-general
1795667402|1795667400.1|q-general|G02|CONNECT|2|1795667402.4|1
1795667402|1795667400.1|q-general|G02|COMPLETECALLER|2|0|1
1795667402|1795667400.1|NONE|NONE|CCEND|1795667402.300|16
"""
    rec = rebuilt(same_second)["1795667400.1"]
    assert rec.answered_at <= rec.ended_at == datetime.fromtimestamp(1795667402.3, UTC)
    assert rec.talk_seconds is not None and rec.talk_seconds >= 0
    # lost in the second it was answered: the last lines are whole seconds (CONNECT) or
    # older milliseconds, the answer estimate is later; the end is not before it
    lost = """\
1795667500|1795667500.2|NONE|NONE|CCIN|1795667500.700|12345|13800000014|陈
1795667500|1795667500.2|NONE|NONE|CCQUEUE|1795667500.705|q-general
1795667503|1795667500.2|q-general|G03|CONNECT|3|1795667503.1|1
1795667510|NONE|NONE|NONE|QUEUESTART|
"""
    rec = rebuilt(lost)["1795667500.2"]
    assert rec.answered_at == datetime.fromtimestamp(1795667503.705, UTC)
    assert rec.ended_at >= rec.answered_at and rec.outcome is Outcome.ANSWERED
    # the engine's own moment of loss, if before the answer it replays, gives way too
    rec = rebuilt(lost, went_away=1795667503.2)["1795667500.2"]
    assert rec.ended_at >= rec.answered_at


def test_a_restart_in_the_same_second_still_ends_the_calls_before_it():
    """Which restart followed a call is told by the line order, not the whole-second clock."""
    text = """\
1795667600|1795667600.3|NONE|NONE|CCIN|1795667600.100|12345|13800000015|褚
1795667600|1795667600.3|NONE|NONE|CCQUEUE|1795667600.420|q-general
1795667600|NONE|NONE|NONE|QUEUESTART|
1795667600|1795667600.9|NONE|NONE|CCIN|1795667600.950|12345|13800000016|卫
"""
    qlog = parse_queue_log(text)
    assert qlog.lines == 4 and qlog.restarts[0].stopped_at == pytest.approx(1795667600.42)
    rec = rebuilt(text)["1795667600.3"]
    assert rec.ended_at == datetime.fromtimestamp(1795667600.42, UTC)


def test_end_call_never_puts_the_end_before_what_the_call_saw():
    out: list[CallRecord] = []
    tracker = CallTracker(lambda: DIRECTORY, out.append)
    base = {"Uniqueid": "1795667700.1", "Linkedid": "1795667700.1"}
    tracker.handle({"Event": "Newchannel", "Context": "from-carrier", "Exten": "12345",
                    "Channel": "PJSIP/carrier-9", "CallerIDNum": "1", "CallerIDName": "x",
                    **base, "Timestamp": "1795667700.0"})
    tracker.handle({"Event": "AgentConnect", "MemberName": "G01", **base,
                    "Timestamp": "1795667704.5"})
    tracker.end_call("1795667700.1", 1795667704.0, lost="gone")
    assert out[-1].ended_at == out[-1].answered_at and out[-1].talk_seconds == 0.0

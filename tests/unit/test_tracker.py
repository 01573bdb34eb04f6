"""The tracker on a recorded AMI stream of a real Asterisk 22 (the demo's traffic) and on
hand-made sequences: outcomes, times, idempotence, re-keying."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import config
from callcore.ami import AmiParser
from callcore.features.calls.tracker import CallTracker
from callcore.records import CallRecord, Outcome
from config.directory import Directory

DATA = Path(__file__).resolve().parents[1] / "data"
DIRECTORY = Directory(config.load())
STREAM = [m for m in AmiParser().feed((DATA / "ami-demo.raw").read_bytes()) if "Event" in m]


def run(events, tracker: CallTracker | None = None) -> tuple[CallTracker, list[CallRecord]]:
    out: list[CallRecord] = []
    t = tracker or CallTracker(lambda: DIRECTORY, out.append)
    if tracker is not None:
        t._emit = out.append  # a second pass on the same tracker: collect what it emits now
    for ev in events:
        t.handle(dict(ev))
    return t, out


def finals(records: list[CallRecord]) -> dict[str, CallRecord]:
    return {r.linkedid: r for r in records if r.outcome is not None}


def test_recorded_demo_traffic():
    tracker, out = run(STREAM)
    calls = finals(out)
    assert len(calls) == 35 and tracker.active == []
    assert Counter(r.outcome for r in calls.values()) == {
        Outcome.ANSWERED: 28, Outcome.TRANSFERRED: 4, Outcome.ABANDONED: 3}
    for r in calls.values():
        assert r.entered_at and r.ended_at and r.entered_at <= r.ended_at
        assert r.caller_name and all("\u4e00" <= ch <= "\u9fff" for ch in r.caller_name)
        assert not r.fallback and r.reason.endswith("[FastAGI]")
        if r.outcome is Outcome.ANSWERED:
            assert r.seat and r.route.startswith("q-")
            assert r.queued_at <= r.answered_at <= r.ended_at
            assert r.wait_seconds == pytest.approx(
                (r.answered_at - r.queued_at).total_seconds(), abs=0.002)
            assert r.talk_seconds > 1
        if r.outcome is Outcome.TRANSFERRED:  # answered by the 12366 sub-centre
            assert r.route == "trunk:tax12366" and r.seat == r.transfer_target == "tax12366"
            assert 2 < r.wait_seconds < 5  # it rings 3 s before answering
        if r.outcome is Outcome.ABANDONED:
            assert r.answered_at is None and not r.seat and r.wait_seconds is not None
    unknown = [r for r in calls.values() if not r.hotline]
    assert len(unknown) == 1 and unknown[0].flags == ["unknown_number"]
    assert all(r.flags == ["cancelled"] for r in calls.values()
               if r.hotline in ("12349", "81610000", "88348666-1", "96119"))


def test_each_call_is_published_at_route_answer_and_end_only():
    _, out = run(STREAM)
    per_call = Counter(r.linkedid for r in out)
    # routed + ended, plus answered for calls a human took
    assert set(per_call.values()) <= {2, 3}
    for r in out:
        assert r.as_of > 0


def test_replaying_the_stream_changes_nothing():
    tracker, _ = run(STREAM)
    _, again = run(STREAM, tracker)
    assert again == []  # ended calls are remembered; nothing is re-created


def test_duplicated_events_change_nothing():
    doubled = [ev for ev in STREAM for _ in (0, 1)]
    _, out = run(doubled)
    _, once = run(STREAM)
    assert finals(out) == finals(once)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=len(STREAM)))
def test_a_gap_in_the_stream_never_breaks_the_tracker(cut):
    # events lost around a reconnect: whatever is missing, no exception, no duplicate row
    _, out = run(STREAM[:cut] + STREAM[cut + 40:])
    assert len(finals(out)) == len({r.linkedid for r in out if r.outcome})


def _ev(name: str, ts: float, uid: str, linked: str, **kw: str) -> dict:
    return {"Event": name, "Timestamp": f"{ts:.6f}", "Uniqueid": uid, "Linkedid": linked, **kw}


def test_rekeyed_channels_stay_with_their_call():
    base = [
        _ev("Newchannel", 1.0, "1.1", "1.1", Channel="PJSIP/carrier-1", Context="from-carrier",
            Exten="12345", CallerIDNum="139", CallerIDName="张三"),
        _ev("UserEvent", 1.1, "1.1", "1.1", UserEvent="CallcoreRoute", Dialed="12345",
            Hotline="12345", Kind="queue", Route="q-general", Prio="0", Fallback="0"),
        _ev("QueueCallerJoin", 1.2, "1.1", "1.1", Queue="q-general"),
        _ev("Newchannel", 1.3, "1.2", "1.1", Channel="PJSIP/8001-1", Context="from-seat"),
        _ev("AgentConnect", 2.0, "1.1", "1.1", Queue="q-general", MemberName="G01"),
        # an attended transfer moves the caller under another Linkedid
        _ev("Newchannel", 3.0, "1.3", "1.3", Channel="PJSIP/8002-1", Context="from-seat"),
        _ev("Hangup", 4.0, "1.2", "1.1", Cause="16"),
        _ev("Hangup", 5.0, "1.1", "1.3", Cause="16"),
    ]
    _, out = run(base)
    final = finals(out)
    assert list(final) == ["1.1"]
    rec = final["1.1"]
    assert rec.outcome is Outcome.ANSWERED and rec.seat == "G01" and rec.caller_name == "张三"
    assert rec.wait_seconds == pytest.approx(0.8) and rec.talk_seconds == pytest.approx(3.0)


def test_queue_timeout_and_failure_outcomes():
    def call(status: str) -> CallRecord:
        events = [
            _ev("Newchannel", 1.0, "9.1", "9.1", Channel="PJSIP/carrier-9", Context="from-carrier",
                Exten="12345"),
            _ev("UserEvent", 1.1, "9.1", "9.1", UserEvent="CallcoreRoute", Kind="queue",
                Route="q-general", Hotline="12345"),
            _ev("QueueCallerJoin", 1.2, "9.1", "9.1", Queue="q-general"),
            _ev("UserEvent", 61.2, "9.1", "9.1", UserEvent="CallcoreQueueExit", Status=status),
            _ev("Hangup", 61.3, "9.1", "9.1", Cause="16"),
        ]
        return finals(run(events)[1])["9.1"]

    timed_out = call("TIMEOUT")
    assert timed_out.outcome is Outcome.TIMEOUT and timed_out.wait_seconds == pytest.approx(60)
    assert call("JOINEMPTY").outcome is Outcome.FAILED


def test_hostile_caller_id_is_stored_safely():
    name = "王\x00五\n<script>" + "长" * 400
    events = [
        _ev("Newchannel", 1.0, "7.1", "7.1", Channel="PJSIP/carrier-7", Context="from-carrier",
            Exten="12345';--", CallerIDNum="<unknown>", CallerIDName=name),
        _ev("Hangup", 1.5, "7.1", "7.1", Cause="16"),
    ]
    rec = finals(run(events)[1])["7.1"]
    assert rec.outcome is Outcome.FAILED  # ended before any route was taken
    assert rec.caller_number == "" and "\x00" not in rec.caller_name and "\n" not in rec.caller_name
    assert len(rec.caller_name) == 255 and rec.caller_name.startswith("王\ufffd五\ufffd<script>")
    assert rec.dialed_number == "12345';--"


def test_calls_not_from_the_carrier_are_not_citizens_calls():
    events = [
        _ev("Newchannel", 1.0, "5.1", "5.1", Channel="PJSIP/8001-1", Context="from-seat",
            Exten="8002"),
        _ev("Hangup", 2.0, "5.1", "5.1", Cause="16"),
    ]
    assert run(events)[1] == []


def test_published_records_are_snapshots():
    # the store writer may hold a record while the call goes on: it must not change under it
    _, out = run(STREAM)
    first = out[0]
    assert first.outcome is None and first.ended_at is None
    assert finals(out)[first.linkedid].outcome is not None

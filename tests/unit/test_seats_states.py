"""Seat states derived from AMI events (seats/states.py), and their rebuild after a restart."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import config
from callcore.ami import AmiParser
from seats.membership import memberships
from seats.states import SeatBoard, SeatChange, SeatState, state_label

CFG = config.load()
T0 = 1_790_000_000.0
DATA = Path(__file__).resolve().parents[1] / "data"


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.timers: list[tuple[float, object]] = []

    def __call__(self) -> float:
        return self.now

    def schedule(self, delay: float, callback) -> None:  # type: ignore[no-untyped-def]
        self.timers.append((self.now + delay, callback))

    def advance(self, to: float) -> None:
        self.now = to
        due = [t for t in self.timers if t[0] <= to]
        self.timers = [t for t in self.timers if t[0] > to]
        for _, cb in due:
            cb()  # type: ignore[operator]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[SeatChange]:
    return []


@pytest.fixture
def board(clock: Clock, changes: list[SeatChange]) -> SeatBoard:
    return SeatBoard(lambda: CFG, changes.append, schedule=clock.schedule, clock=clock)


def member(seat: str, queue: str, event: str = "QueueMemberStatus", ts: float = T0, **kw) -> dict:
    s = CFG.seat(seat)
    assert s is not None
    penalty = next(m.penalty for m in memberships(CFG, s) if m.queue == queue)
    ev = {
        "Event": event,
        "Timestamp": f"{ts:.6f}",
        "Queue": queue,
        "MemberName": seat,
        "Interface": f"PJSIP/{s.extension}",
        "Penalty": str(penalty),
        "Status": "1",
        "Paused": "0",
        "PausedReason": "",
    }
    ev.update({k: str(v) for k, v in kw.items()})
    return ev


def login(board: SeatBoard, seat: str, ts: float = T0) -> list[str]:
    s = CFG.seat(seat)
    assert s is not None
    queues = [m.queue for m in memberships(CFG, s)]
    for q in queues:
        board.handle(member(seat, q, "QueueMemberAdded", ts))
    return queues


def device(board: SeatBoard, seat: str, status: int, ts: float, reason: str = "") -> None:
    """The seat's device changed: one QueueMemberStatus per queue, with its pause as it is."""
    s = CFG.seat(seat)
    assert s is not None
    paused = 1 if reason else 0
    for m in memberships(CFG, s):
        board.handle(
            member(seat, m.queue, ts=ts, Status=status, Paused=paused, PausedReason=reason)
        )


def agent(event: str, seat: str, queue: str, ts: float, linkedid: str = "L1") -> dict:
    s = CFG.seat(seat)
    assert s is not None
    return {
        "Event": event,
        "Timestamp": f"{ts:.6f}",
        "Queue": queue,
        "MemberName": seat,
        "Interface": f"PJSIP/{s.extension}",
        "Linkedid": linkedid,
        "Uniqueid": linkedid,
        "DestChannel": f"PJSIP/{s.extension}-00000001",
    }


def states(changes: list[SeatChange], seat: str) -> list[tuple[str, str]]:
    return [(c.state, c.reason) for c in changes if c.seat == seat]


def test_a_queue_call_from_ringing_to_wrap_up_and_back(board, clock, changes):
    login(board, "G01")
    board.handle(agent("AgentCalled", "G01", "q-general", T0 + 1))
    device(board, "G01", 6, T0 + 1)
    board.handle(agent("AgentConnect", "G01", "q-general", T0 + 3))
    device(board, "G01", 2, T0 + 3)
    device(board, "G01", 1, T0 + 60)  # the seat hangs up
    board.handle(agent("AgentComplete", "G01", "q-general", T0 + 60))
    assert states(changes, "G01") == [
        ("available", ""), ("ringing", ""), ("talking", ""), ("wrap_up", "")
    ]  # fmt: skip
    wrap = changes[-1]
    assert wrap.linkedid == "L1" and wrap.at == datetime.fromtimestamp(T0 + 60, UTC)
    assert board.status("G01").channel == "PJSIP/8001-00000001"  # what an API transfer acts on
    clock.advance(T0 + 60 + CFG.zone("general").wrapup_seconds + 1)
    assert states(changes, "G01")[-1] == ("available", "")
    # the end of wrap-up is dated when the zone's wrap-up ended, not when the timer ran
    assert changes[-1].at == datetime.fromtimestamp(T0 + 65, UTC).replace(microsecond=1)
    assert board.status("G01").linkedid == ""


def test_wrap_up_is_the_zone_of_the_queue_that_rang(board, clock, changes, monkeypatch):
    login(board, "G01")
    board.handle(agent("AgentConnect", "G01", "q-hrss", T0 + 1))
    device(board, "G01", 2, T0 + 1)
    device(board, "G01", 1, T0 + 20)
    assert board.state("G01") is SeatState.WRAP_UP
    assert board._facts["G01"].wrap_until == T0 + 20 + CFG.zone("hrss").wrapup_seconds


def test_pause_with_a_reason_in_every_queue_and_autopause_in_one(board, changes):
    queues = login(board, "G02")
    board.handle(
        {**member("G02", queues[0], "QueueMemberPause", Paused=1), "PausedReason": "Auto-Pause"}
    )
    assert board.state("G02") is SeatState.AVAILABLE  # still taking the other queues
    for q in queues:
        board.handle(member("G02", q, "QueueMemberPause", Paused=1, PausedReason="meal"))
    assert states(changes, "G02")[-1] == ("paused", "meal")
    assert state_label(board.state("G02")) == "暂停" and state_label("paused", "en") == "paused"
    for q in queues:
        board.handle(member("G02", q, "QueueMemberPause", Paused=0))
    assert states(changes, "G02")[-1] == ("available", "")


def test_logged_off_when_out_of_every_queue_and_unreachable_phone(board, changes):
    queues = login(board, "G03")
    device(board, "G03", 5, T0 + 1)  # the softphone lost its registration
    assert board.state("G03") is SeatState.UNREACHABLE
    for q in queues:
        board.handle(member("G03", q, "QueueMemberRemoved"))
    assert states(changes, "G03")[-2:] == [("unreachable", ""), ("logged_off", "")]


def test_a_call_while_paused_shows_talking_then_paused_again(board, changes):
    queues = login(board, "G04")
    for q in queues:
        board.handle(member("G04", q, "QueueMemberPause", Paused=1, PausedReason="acw"))
    device(board, "G04", 2, T0 + 5, "acw")  # e.g. a consultation or a feature code's own call
    device(board, "G04", 1, T0 + 9, "acw")
    assert states(changes, "G04")[-3:] == [("paused", "acw"), ("talking", ""), ("paused", "acw")]


def test_who_asked_for_a_change_survives_the_feature_codes_own_call(board, clock, changes):
    login(board, "G05")
    device(board, "G05", 2, T0 + 1)  # dialing *632
    board.expect("G05", "feature")
    for m in memberships(CFG, CFG.seat("G05")):
        board.handle(member("G05", m.queue, "QueueMemberPause", ts=T0 + 1, Status=2, Paused=1,
                            PausedReason="meal"))  # fmt: skip
    device(board, "G05", 1, T0 + 3, "meal")  # the confirmation has played
    last = changes[-1]
    assert (last.state, last.reason, last.source) == ("paused", "meal", "feature")
    assert [c.source for c in changes if c.seat == "G05" and c.state == "talking"] == ["asterisk"]


def test_a_moved_seat_reports_its_new_zone(board, changes):
    queues = login(board, "G06")
    for q in queues:
        board.handle(member("G06", q, "QueueMemberRemoved"))
    moved = CFG.seat("G06").model_copy(update={"zone": "hrss"})
    for m in memberships(CFG, moved):
        ev = member("G06", m.queue if m.queue != "q-hrss" else "q-hrss", "QueueMemberAdded")
        ev["Penalty"] = str(m.penalty)
        board.handle(ev)
    assert board.status("G06").zone == "hrss" and changes[-1].zone == "hrss"


def test_rebuild_from_queuestatus_keeps_the_time_of_unchanged_seats(board, changes):
    earlier = datetime.fromtimestamp(T0 - 3600, UTC)
    last = {
        "G01": SeatChange(
            "a", "G01", "available", "", "general", earlier, "", "feature", T0 - 3600
        ),
        "G02": SeatChange(
            "b", "G02", "available", "", "general", earlier, "", "feature", T0 - 3600
        ),
    }
    snapshot = []
    for seat, paused in (("G01", "0"), ("G02", "1")):
        for m in memberships(CFG, CFG.seat(seat)):
            snapshot.append({"Event": "QueueMember", "Queue": m.queue, "Name": seat,
                             "Location": m.interface, "Penalty": str(m.penalty), "Status": "1",
                             "Paused": paused, "PausedReason": "meeting" if paused == "1" else "",
                             "LastCall": "0"})  # fmt: skip
    marks = board.begin_snapshot()
    changed = board.apply_snapshot(snapshot, last, marks, now=T0)
    assert board.status("G01").since == earlier  # unchanged: no new row, same "since"
    assert [(c.seat, c.state, c.reason, c.source) for c in changes if c.seat in ("G01", "G02")] == [
        ("G02", "paused", "meeting", "rebuild")
    ]
    # every other seat is logged off (no QueueMember rows), each published once
    assert changed == 1 + len(CFG.seats) - 2
    assert board.state("T01") is SeatState.LOGGED_OFF


def test_a_snapshot_never_undoes_events_that_came_after_it_was_asked_for(board, changes):
    marks = board.begin_snapshot()
    login(board, "G07")  # arrives while QueueStatus is on its way
    board.apply_snapshot([], {}, marks, now=T0)  # the snapshot predates the login
    assert board.state("G07") is SeatState.AVAILABLE


def test_the_recorded_demo_stream_gives_consistent_states():
    out: list[SeatChange] = []
    b = SeatBoard(lambda: CFG, out.append, schedule=lambda *_: None, clock=lambda: T0 * 2)
    parser = AmiParser()
    for ev in parser.feed((DATA / "ami-demo.raw").read_bytes()):
        b.handle(ev)
    assert out, "the demo's seats changed state"
    out = list({c.id: c for c in out}.values())  # a change re-published with its call
    assert {c.state for c in out} <= {s.value for s in SeatState}
    for c in out:
        assert CFG.seat(c.seat) is not None and c.at.tzinfo is not None
        if c.state in ("ringing", "talking"):
            assert c.linkedid  # which call it rings for or talks on


_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause",
                         "QueueMemberStatus", "AgentConnect", "AgentComplete", "AgentCalled"]),
        st.sampled_from(["q-general", "q-hrss", "q-tax"]),
        st.sampled_from(["0", "1", "2", "5", "6", "x"]),
        st.sampled_from(["0", "1", ""]),
    ),
    max_size=40,
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(_EVENTS)
def test_any_event_sequence_gives_a_state_the_facts_support(events):
    out: list[SeatChange] = []
    clock = Clock()
    b = SeatBoard(lambda: CFG, out.append, schedule=clock.schedule, clock=clock)
    for i, (name, queue, status, paused) in enumerate(events):
        ev = (
            agent(name, "G08", queue, T0 + i)
            if name.startswith("Agent")
            else member(
                "G08",
                queue if queue != "q-tax" else "q-tax",
                name,
                T0 + i,
                Status=status,
                Paused=paused,
            )
        )
        b.handle(ev)
        f = b._facts.get("G08")
        state = b.state("G08")
        if f is None or not f.queues:
            assert state is SeatState.LOGGED_OFF
        if state is SeatState.PAUSED:
            assert f is not None and all(f.queues.values())
    newest = list({c.id: c for c in out}.values())  # re-published with its call: same row
    for a, c in itertools.pairwise(newest):
        assert (a.state, a.reason, a.zone) != (c.state, c.reason, c.zone)  # only real changes

"""Ratings in the engine: talk time ending with the seat, the live event filed with its
call's context, and queue_log facts reconciled once (the dialplan as rendered:
tests/unit/test_ratings_wiring.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, insert

import config
from callcore.features.calls.queue_log import parse_queue_log
from callcore.features.calls.rebuild import rebuild
from callcore.features.calls.tracker import CallTracker
from callcore.features.ratings.desk import RatingDesk
from callcore.features.ratings.model import RatingRecord
from callcore.features.ratings.service import RatingService, ratings
from callcore.records import CallRecord
from config.directory import Directory

SITE = config.load()
DIRECTORY = Directory(SITE)
LID = "1795667000.1"
T0 = 1795667000.0

# A call rated while callcore was away: answered by G03, the seat hung up at +8 s, the
# caller pressed 4 at +11 s and the call ended at +13 s.
RATED_AWAY = f"""\
1795667000|{LID}|NONE|NONE|CCIN|1795667000.100|12345|13800000001|张三
1795667000|{LID}|NONE|NONE|CCROUTE|1795667000.105|queue|q-general|0|12345|1||
1795667000|{LID}|NONE|NONE|CCQUEUE|1795667000.106|q-general
1795667002|{LID}|q-general|G03|CONNECT|2|1795667000.2|1
1795667008|{LID}|NONE|NONE|CCRATEASK|1795667008.500
1795667011|{LID}|NONE|NONE|CCRATE|1795667011.250|rated|4
1795667013|{LID}|NONE|NONE|CCEND|1795667013.000|16
1795667020|1795667020.9|NONE|NONE|CCRATE|not-a-time|rated|4
"""


def ev(name: str, ts: float, **kw: str) -> dict[str, str]:
    return {"Event": name, "Uniqueid": LID, "Linkedid": LID, "Timestamp": f"{ts:.6f}", **kw}


def tracked_call(records: list[CallRecord]) -> CallTracker:
    tracker = CallTracker(lambda: DIRECTORY, records.append)
    tracker.handle(ev("Newchannel", T0, Context="from-carrier", Exten="12345",
                      CallerIDNum="13800000001", Channel="PJSIP/carrier-1"))  # fmt: skip
    tracker.handle(ev("UserEvent", T0 + 0.1, UserEvent="CallcoreRoute", Kind="queue",
                      Route="q-general", Hotline="12345", Fallback="0"))  # fmt: skip
    tracker.handle(ev("QueueCallerJoin", T0 + 0.2, Queue="q-general"))
    tracker.handle(ev("AgentConnect", T0 + 2, MemberName="G03", Queue="q-general"))
    return tracker


def test_talk_time_ends_when_the_seat_hangs_up():
    records: list[CallRecord] = []
    tracker = tracked_call(records)
    tracker.handle(ev("UserEvent", T0 + 8.5, UserEvent="CallcoreRateAsked", Member="G03"))
    tracker.handle(ev("Hangup", T0 + 13, Cause="16"))
    rec = records[-1]
    assert rec.talk_seconds == pytest.approx(6.5)  # not the 11 s until the caller left
    assert rec.ended_at == datetime.fromtimestamp(T0 + 13, UTC)


def test_talk_time_is_rebuilt_from_queue_log_too():
    qlog = parse_queue_log(RATED_AWAY)
    assert qlog.calls[LID].rate_asked_at == pytest.approx(1795667008.5)
    assert [(c, e) for c, e, _ in qlog.other] == [(LID, "CCRATE"), ("1795667020.9", "CCRATE")]
    (rec,) = rebuild([qlog.calls[LID]], lambda: DIRECTORY, qlog)
    # answered at queued + hold (CONNECT), talk until the seat hung up
    assert rec.talk_seconds == pytest.approx(8.5 - 2.106) and rec.seat == "G03"


class Filed:
    """A store writer's `submit` that keeps what it was given."""

    def __init__(self) -> None:
        self.records: list[RatingRecord] = []

    def __call__(self, rec: Any) -> None:
        self.records.append(rec)


@dataclass(frozen=True)
class Leg:
    """A leg as the leg tracker holds it (the fields a rating reads)."""

    id: str
    linkedid: str
    seq: int
    target: str
    seat: str
    answered_at: datetime | None


def leg(seq: int, target: str, seat: str, answered: bool) -> Leg:
    at = datetime.fromtimestamp(T0 + seq, UTC)
    return Leg(f"{LID}/{seq}", LID, seq, target, seat, at if answered else None)


def desk(engine: Engine, filed: Filed, tracker: CallTracker, heard: list) -> RatingDesk:
    chain = [leg(0, "q-general", "G03", True), leg(1, "q-hrss", "E-hrss1", True)]
    return RatingDesk(
        RatingService(engine, filed, lambda: SITE),
        lambda: SITE,
        call_of=tracker.record,
        legs_of=lambda lid: chain if lid == LID else [],
        request_of=lambda lid: lid,
        on_rating=[heard.append],
    )


def test_a_live_rating_is_filed_with_the_seat_that_served_last(engine: Engine):
    filed, heard = Filed(), []
    d = desk(engine, filed, tracked_call([]), heard)
    rating = ev("UserEvent", T0 + 11.25, UserEvent="CallcoreRating", Outcome="rated", Key="4")
    d.handle(rating)
    d.handle(rating)  # the same event again files nothing
    d.handle(ev("UserEvent", T0 + 12, UserEvent="CallcoreRating", Outcome="rated", Key="xx"))
    (rec,) = filed.records
    assert (rec.seat, rec.zone, rec.hotline, rec.request_id) == ("E-hrss1", "hrss", "12345", LID)
    assert rec.legs == [f"{LID}/0", f"{LID}/1"]
    assert (rec.level, rec.key, rec.outcome, rec.source) == (4, "4", "rated", "live")
    assert rec.unsatisfied and heard == [rec]
    assert d.bad == 1  # a key no phone sends


async def test_queue_log_ratings_are_reconciled_once(engine: Engine):
    qlog = parse_queue_log(RATED_AWAY)
    rebuilt = {r.linkedid: r for r in rebuild(qlog.calls.values(), lambda: DIRECTORY, qlog)}
    filed, heard = Filed(), []
    d = desk(engine, filed, CallTracker(lambda: DIRECTORY, lambda r: None), heard)
    assert await d.reconcile(qlog, rebuilt) == 1
    (rec,) = filed.records
    assert (rec.seat, rec.zone, rec.level, rec.source) == ("G03", "general", 4, "reconciled")
    assert rec.as_of < 1795667011.25  # a live rating of the same press would win
    assert d.bad == 1  # the malformed line
    assert await d.reconcile(qlog, rebuilt) == 0  # another resync: nothing new


async def test_a_call_rated_in_the_store_is_not_reconciled_again(engine: Engine):
    with engine.begin() as conn:
        conn.execute(insert(ratings), [{
            "linkedid": LID, "seat": "G03", "legs": [], "hotline": "12345", "zone": "general",
            "request_id": "", "key": "4", "level": 4, "outcome": "rated", "source": "live",
            "at": datetime.fromtimestamp(1795667011.3, UTC), "as_of": 1795667011.3,
        }])  # fmt: skip
    filed = Filed()
    d = desk(engine, filed, CallTracker(lambda: DIRECTORY, lambda r: None), [])
    assert await d.reconcile(parse_queue_log(RATED_AWAY), {}) == 0
    assert filed.records == []


def test_a_rating_under_a_new_linkedid_is_filed_under_the_call(engine: Engine):
    """An attended transfer can re-key the caller's channel: the call keeps its own id."""
    filed = Filed()
    tracker = tracked_call([])
    moved = "1795667050.30"
    tracker.handle({**ev("QueueCallerJoin", T0 + 9, Queue="q-hrss"), "Linkedid": moved})
    d = desk(engine, filed, tracker, [])
    d.handle({**ev("UserEvent", T0 + 20, UserEvent="CallcoreRating", Outcome="rated", Key="1"),
              "Linkedid": moved})  # fmt: skip
    (rec,) = filed.records
    assert rec.linkedid == LID and rec.level == 1 and rec.seat == "E-hrss1"

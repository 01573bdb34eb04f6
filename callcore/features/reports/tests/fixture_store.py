"""A small store whose figures are worked out by hand (the table in each test), written on
SQLite or PostgreSQL through the store's own upsert and tables.

Monday 3 March 2025 in Asia/Shanghai (UTC+8), local times (wait: s in the queue):

| call | number | route     | arrives  | queued   | answered   | wait | talk | seat    |
|------|--------|-----------|----------|----------|------------|------|------|---------|
| A1   | 12345  | q-general | 08:00:00 | 08:00:01 | 08:00:06   | 5    | 120  | G01     |
| A2   | 12345  | q-general | 08:10:00 | 08:10:01 | 08:10:21   | 20   | 100  | G02     |
| A3   | 12345  | q-general | 08:20:00 | 08:20:01 | (hung up 08:20:03, short) | 2 | | |
| A4   | 12349  | q-general | 08:40:00 | 08:40:12 | 08:40:22   | 10   | 60   | G01     |
| A5   | 12333  | q-hrss    | 09:05:00 | 09:05:01 | 09:05:15.5 | 14.5 | 200  | E-hrss1 |
| A6   | 12366  | trunk     | 09:10:00 |          | 09:10:03   | 3    | 90   | tax12366 |
| A7   | 12366  | q-tax     | 09:20:00 | 09:20:20 | 09:20:50   | 30   | 50   | T01     |
| A8   | 12345  | q-general | 23:50:00 | 23:50:01 | 23:50:41   | 40   | 1200 | G01     |
| A9   | 12345  | q-general | 23:59:58 | 23:59:59 | (hung up 00:00:29) | 30 |  |        |
| A11  | 12349  | q-general | 10:00:00 |          | (hung up 10:00:07) | 0 |   |        |
| A10  | 12345  | q-general | 00:05:00 on the 4th, answered after 3 s, talk 30 | | | | G01 |

A4 and A11 dialed a cancelled number (12-s notice; A11 hung up during it); A5 was blind
transferred to G02; the sub-centre answered A6 over its trunk and failed A7 (queued in the
12366 zone); A8 and A9 end after midnight. Wrap-up (seat_events): A1 5 s, A2 10, A4 5,
A5 8, A7 5, A8 5 (after midnight).

Ratings (一次一评; 1 非常满意 … 5 非常不满意): A1 1, A2 4, A4 none (no key), A5 3, A7 2, A8 5
(given at 00:10:45 on the 4th: it belongs to the 3rd), A10 1. A6, the sub-centre's, has
none. QA scores: A1 80, corrected to 90; A2 70; A7 failed (0, 85 as given). Callbacks of
the missed calls: A3 (missed 08:20:03) reached at 09:00:03 by the second call out of its
task; A11 (10:00:07) reached at 12:00:07; A9 (00:00:29 on the 4th) reached 25 hours later.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, insert

from callcore.features.callsout.tables import CallbackMiss, CallbackTask, OutboundCall
from callcore.features.quality.tables import QaScore
from callcore.features.ratings.tables import Rating
from callcore.records import CallRecord, Outcome
from callcore.store import db
from callcore.store.models import CallLeg, SeatEvent

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2025, 3, 3, tzinfo=TZ)


def at(hhmmss: str, day: int = 3) -> datetime:
    h, m, s = hhmmss.split(":")
    sec = float(s)
    base = datetime(2025, 3, day, int(h), int(m), tzinfo=TZ)
    return (base + timedelta(seconds=sec)).astimezone(UTC)


def _call(
    lid: str,
    number: str,
    route: str,
    arrives: datetime,
    *,
    queued: datetime | None = None,
    answered: datetime | None = None,
    ended: datetime | None = None,
    seat: str = "",
    outcome: Outcome,
    wait: float | None = None,
) -> CallRecord:
    talk = (ended - answered).total_seconds() if answered and ended else None
    if wait is None and answered is not None:
        wait = (answered - (queued or arrives)).total_seconds()
    return CallRecord(
        linkedid=lid,
        caller_number="13900000000",
        dialed_number=number,
        hotline=number,
        route=route,
        entered_at=arrives,
        queued_at=queued,
        answered_at=answered,
        ended_at=ended,
        wait_seconds=wait,
        talk_seconds=talk,
        seat=seat,
        outcome=outcome,
        as_of=(ended or answered or arrives).timestamp(),
    )


def calls() -> list[CallRecord]:
    ans, ab, tr = Outcome.ANSWERED, Outcome.ABANDONED, Outcome.TRANSFERRED
    return [
        _call("A1", "12345", "q-general", at("08:00:00"), queued=at("08:00:01"),
              answered=at("08:00:06"), ended=at("08:02:06"), seat="G01", outcome=ans),
        _call("A2", "12345", "q-general", at("08:10:00"), queued=at("08:10:01"),
              answered=at("08:10:21"), ended=at("08:12:01"), seat="G02", outcome=ans),
        _call("A3", "12345", "q-general", at("08:20:00"), queued=at("08:20:01"),
              ended=at("08:20:03"), outcome=ab, wait=2.0),
        _call("A4", "12349", "q-general", at("08:40:00"), queued=at("08:40:12"),
              answered=at("08:40:22"), ended=at("08:41:22"), seat="G01", outcome=ans),
        _call("A5", "12333", "q-hrss", at("09:05:00"), queued=at("09:05:01"),
              answered=at("09:05:15.5"), ended=at("09:08:35.5"), seat="E-hrss1", outcome=tr),
        _call("A6", "12366", "trunk:tax12366", at("09:10:00"), answered=at("09:10:03"),
              ended=at("09:11:33"), seat="tax12366", outcome=tr, wait=3.0),
        _call("A7", "12366", "q-tax", at("09:20:00"), queued=at("09:20:20"),
              answered=at("09:20:50"), ended=at("09:21:40"), seat="T01", outcome=ans),
        _call("A8", "12345", "q-general", at("23:50:00"), queued=at("23:50:01"),
              answered=at("23:50:41"), ended=at("00:10:41", 4), seat="G01", outcome=ans),
        _call("A9", "12345", "q-general", at("23:59:58"), queued=at("23:59:59"),
              ended=at("00:00:29", 4), outcome=ab, wait=30.0),
        _call("A11", "12349", "q-general", at("10:00:00"), ended=at("10:00:07"), outcome=ab,
              wait=0.0),
        _call("A10", "12345", "q-general", at("00:05:00", 4), queued=at("00:05:01", 4),
              answered=at("00:05:04", 4), ended=at("00:05:34", 4), seat="G01", outcome=ans),
    ]  # fmt: skip


# (seat, zone, state, reason, local time, day, call)
SEAT_EVENTS = [
    ("G01", "general", "available", "", "07:55:00", 3, ""),
    ("G01", "general", "ringing", "", "08:00:01", 3, "A1"),
    ("G01", "general", "talking", "", "08:00:06", 3, "A1"),
    ("G01", "general", "wrap_up", "", "08:02:06", 3, "A1"),
    ("G01", "general", "available", "", "08:02:11", 3, ""),
    ("G01", "general", "ringing", "", "08:40:13", 3, "A4"),
    ("G01", "general", "talking", "", "08:40:22", 3, "A4"),
    ("G01", "general", "wrap_up", "", "08:41:22", 3, "A4"),
    ("G01", "general", "available", "", "08:41:27", 3, ""),
    ("G01", "general", "paused", "meal", "12:00:00", 3, ""),
    ("G01", "general", "available", "", "13:00:00", 3, ""),
    ("G01", "general", "ringing", "", "23:50:35", 3, "A8"),
    ("G01", "general", "talking", "", "23:50:41", 3, "A8"),
    ("G01", "general", "wrap_up", "", "00:10:41", 4, "A8"),
    ("G01", "general", "available", "", "00:10:46", 4, ""),
    ("G01", "general", "logged_off", "", "01:00:00", 4, ""),
    ("G02", "general", "available", "", "08:00:00", 3, ""),
    ("G02", "general", "ringing", "", "08:10:19", 3, "A2"),
    ("G02", "general", "talking", "", "08:10:21", 3, "A2"),
    ("G02", "general", "wrap_up", "", "08:12:01", 3, "A2"),
    ("G02", "general", "available", "", "08:12:11", 3, ""),
    ("G02", "general", "paused", "break", "08:30:00", 3, ""),
    ("G02", "general", "available", "", "08:45:00", 3, ""),
    ("G02", "general", "logged_off", "", "09:00:00", 3, ""),
    ("E-hrss1", "hrss", "available", "", "09:05:00", 3, ""),
    ("E-hrss1", "hrss", "wrap_up", "", "09:08:35.5", 3, "A5"),
    ("E-hrss1", "hrss", "available", "", "09:08:43.5", 3, ""),
    ("E-hrss1", "hrss", "logged_off", "", "10:00:00", 3, ""),
    ("T01", "tax", "wrap_up", "", "09:21:40", 3, "A7"),
    ("T01", "tax", "available", "", "09:21:45", 3, ""),
    ("T01", "tax", "logged_off", "", "09:30:00", 3, ""),
]

# (call, seq, kind, target, from_seat, seat)
LEGS = [
    ("A5", 0, "queue", "q-hrss", "", "E-hrss1"),
    ("A5", 1, "blind", "q-general", "E-hrss1", "G02"),
    ("A6", 0, "trunk", "trunk:tax12366", "", "tax12366"),
    ("A1", 0, "queue", "q-general", "", "G01"),
]


def fill(engine: Engine, records: list[CallRecord] | None = None) -> None:
    """The calls, seat events and legs above, in a migrated store (the column sources'
    rows: `fill_sources`)."""
    with engine.begin() as conn:
        db.upsert_calls(conn, records if records is not None else calls())
        conn.execute(
            insert(SeatEvent.__table__),
            [
                {
                    "id": uuid.uuid4().hex,
                    "seat": seat,
                    "state": state,
                    "reason": reason,
                    "zone": zone,
                    "at": at(when, day),
                    "linkedid": lid,
                    "source": "asterisk",
                    "as_of": at(when, day).timestamp(),
                }
                for seat, zone, state, reason, when, day, lid in SEAT_EVENTS
            ],
        )
        starts = {r.linkedid: r.entered_at for r in calls()}
        conn.execute(
            insert(CallLeg.__table__),
            [
                {
                    "id": f"{lid}/{seq}",
                    "linkedid": lid,
                    "seq": seq,
                    "kind": kind,
                    "target": target,
                    "from_seat": from_seat,
                    "seat": seat,
                    "started_at": starts[lid] + timedelta(seconds=seq * 60),
                    "outcome": "answered",
                    "as_of": 0.0,
                }
                for lid, seq, kind, target, from_seat, seat in LEGS
            ],
        )


# (call, level or None, local time, day, seat, zone, number)
RATINGS = [
    ("A1", 1, "08:02:10", 3, "G01", "general", "12345"),
    ("A2", 4, "08:12:05", 3, "G02", "general", "12345"),
    ("A4", None, "08:41:40", 3, "G01", "general", "12349"),
    ("A5", 3, "09:08:40", 3, "G02", "general", "12333"),
    ("A7", 2, "09:21:45", 3, "T01", "tax", "12366"),
    ("A8", 5, "00:10:45", 4, "G01", "general", "12345"),
    ("A10", 1, "00:05:40", 4, "G01", "general", "12345"),
]

# (call, version, total, failed, seat)
QA_SCORES = [
    ("A1", 1, 80, False, "G01"),
    ("A1", 2, 90, False, "G01"),
    ("A2", 1, 70, False, "G02"),
    ("A7", 1, 0, True, "T01"),
]

# (task, missed call, missed at, day, [(call out, outcome, answered at, day)])
CALLBACKS = [
    ("T1", "A3", "08:20:03", 3, [("O1", "no_answer", None, 3), ("O2", "reached", "09:00:03", 3)]),
    ("T2", "A11", "10:00:07", 3, [("O3", "reached", "12:00:07", 3)]),
    ("T3", "A9", "00:00:29", 4, [("O4", "no_answer", None, 4), ("O5", "reached", "01:00:30", 5)]),
]


def rating_row(lid: str, level: int | None, when: datetime, seat: str, zone: str,
               number: str) -> dict:  # fmt: skip
    return {
        "linkedid": lid, "seat": seat, "legs": [], "hotline": number, "zone": zone,
        "request_id": "", "key": str(level or ""), "level": level,
        "outcome": "rated" if level else "no_key", "at": when, "source": "live",
        "as_of": when.timestamp(),
    }  # fmt: skip


def score_row(lid: str, version: int, total: int, failed: bool, seat: str) -> dict:
    return {
        "linkedid": lid, "version": version, "day": DAY.date(), "seat": seat,
        "reviewer": "Q01", "scorecard": "standard", "points": {}, "fails": [], "notes": {},
        "comment": "", "raw_total": total or 85, "total": total, "failed": failed,
        "reason": "" if version == 1 else "复核", "submitted_at": at("18:00:00"),
    }  # fmt: skip


def _callbacks(conn) -> None:
    for task, lid, missed, day, dials in CALLBACKS:
        when = at(missed, day)
        reached = [at(t, d) for _o, outcome, t, d in dials if outcome == "reached"]
        conn.execute(insert(CallbackMiss.__table__), {"linkedid": lid, "task_id": task, "at": when})
        conn.execute(insert(CallbackTask.__table__), {
            "id": task, "reason": "callback", "caller": "13900000000", "zone": "general",
            "dialed": "12345", "status": "closed", "first_missed": when, "last_missed": when,
            "misses": 1, "attempts": len(dials), "next_attempt_at": when,
            "closed_at": reached[0] if reached else when, "closed_reason": "reached",
        })  # fmt: skip
        for i, (oid, outcome, t, d) in enumerate(dials):
            start = (at(t, d) - timedelta(seconds=20)) if t else when + timedelta(minutes=20 * i)
            conn.execute(insert(OutboundCall.__table__), {
                "id": oid, "reason": "callback", "task_id": task, "number": "13900000000",
                "seat": "G01", "outcome": outcome, "started_at": start,
                "answered_at": at(t, d) if t else None, "ended_at": start + timedelta(minutes=2),
                "as_of": start.timestamp(),
            })  # fmt: skip


def fill_sources(engine: Engine) -> None:
    """The ratings, QA scores and callbacks above (the reports' column sources)."""
    with engine.begin() as conn:
        conn.execute(
            insert(Rating.__table__),
            [rating_row(lid, lv, at(t, d), seat, z, n) for lid, lv, t, d, seat, z, n in RATINGS],
        )
        conn.execute(insert(QaScore.__table__), [score_row(*row) for row in QA_SCORES])
        _callbacks(conn)

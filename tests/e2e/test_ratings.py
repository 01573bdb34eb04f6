"""一次一评 on a real Asterisk: the seat hangs up first, the caller stays and presses a key
(sipp sending RFC 2833 events), and the rating is stored with the call, live or, after
the engine was down, reconciled from queue_log."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from callcore.features.ratings.tables import Rating
from callcore.records import Outcome
from callcore.sim.seat_actions import start_seat_behaviour
from callcore.sim.sipp import Behaviour, Call, place_calls
from callcore.sim.site import SimSite
from tests.e2e import scenes
from tests.e2e.conftest import PROMPT, caller_number
from tests.e2e.scenes import Placed, place, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

SEAT_TALK_S = PROMPT.talk_ms / 1000  # every 12345 seat of the session hangs up after this
AFTER_SEAT_MS = PROMPT.talk_ms + 1500  # a key this long after the answer: during the prompt


async def rating_of(site: SimSite, linkedid: str) -> dict[str, Any] | None:
    t = Rating.__table__

    def read() -> dict[str, Any] | None:
        with site.engine_db().connect() as conn:
            row = conn.execute(select(t).where(t.c.linkedid == linkedid)).mappings().first()
            return dict(row) if row is not None else None

    return await asyncio.to_thread(read)


async def stored_rating(site: SimSite, linkedid: str) -> dict[str, Any]:
    return await wait_for(
        lambda: rating_of(site, linkedid), lambda r: r is not None, f"the rating of {linkedid}"
    )


async def rated_call(site: SimSite, name: str, **kw: Any) -> Placed:
    (placed,) = await place(site, ["12345"], name=name, **kw)
    assert placed.result.outcome == "answered", placed.result
    assert placed.record.outcome is Outcome.ANSWERED, placed.record
    return placed


def assert_talk_ends_with_the_seat(placed: Placed) -> None:
    """Talk time is the seat's, not the rating's: the caller stayed on after it."""
    rec = placed.record
    assert rec.talk_seconds is not None and rec.answered_at and rec.ended_at
    assert SEAT_TALK_S - 0.5 < rec.talk_seconds < SEAT_TALK_S + 1.5, rec.talk_seconds
    assert (rec.ended_at - rec.answered_at).total_seconds() > rec.talk_seconds + 0.5


async def test_seat_hangs_up_first_and_the_key_is_the_rating(site: SimSite):
    placed = await rated_call(site, "rate-2", talk_ms=60000, dtmf=((AFTER_SEAT_MS, "2"),))
    rec = placed.record
    r = await stored_rating(site, rec.linkedid)
    assert (r["outcome"], r["level"], r["key"], r["source"]) == ("rated", 2, "2", "live")
    assert r["seat"] == rec.seat and rec.seat
    assert (r["zone"], r["hotline"]) == ("general", "12345")
    assert r["request_id"] == rec.linkedid  # the request the answered call registered
    assert rec.answered_at < r["at"] <= rec.ended_at
    assert_talk_ends_with_the_seat(placed)


async def test_caller_hangs_up_first_is_unrated(site: SimSite):
    placed = await rated_call(site, "rate-hangup", talk_ms=1200)
    r = await stored_rating(site, placed.record.linkedid)
    assert (r["outcome"], r["level"], r["key"]) == ("hangup", None, "")
    assert r["seat"] == placed.record.seat
    assert placed.record.talk_seconds is not None and placed.record.talk_seconds < SEAT_TALK_S


async def test_an_invalid_key_then_a_valid_one(site: SimSite):
    presses = ((AFTER_SEAT_MS, "9"), (1500, "4"))  # 9 is no level: the retry prompt, then 4
    placed = await rated_call(site, "rate-9-4", talk_ms=60000, dtmf=presses)
    r = await stored_rating(site, placed.record.linkedid)
    assert (r["outcome"], r["level"], r["key"]) == ("rated", 4, "4")
    assert_talk_ends_with_the_seat(placed)


async def test_a_rating_given_while_the_engine_is_down_is_reconciled(site: SimSite):
    number = caller_number()
    call = Call(number, "黄蓉", "12345")
    await site.stop_engine()
    try:  # no engine: the static dialplan routes the call and asks for the rating
        results = await place_calls(
            site.workdir, site.sip_server, [call], talk_ms=60000, bind=site.carrier_ip,
            name="rate-down", timeout=120, dtmf=((AFTER_SEAT_MS, "1"),),
        )  # fmt: skip
    finally:
        await site.start_engine()
    assert results[0].outcome == "answered", results
    rows = await site.wait_records([number], timeout=30)
    assert len(rows[number]) == 1, rows
    placed = Placed(call, results[0], rows[number][0])
    rec = placed.record
    assert rec.fallback and "reconciled" in rec.flags, rec
    r = await stored_rating(site, rec.linkedid)
    assert (r["outcome"], r["level"], r["key"], r["source"]) == ("rated", 1, "1", "reconciled")
    assert r["seat"] == rec.seat and rec.seat and r["zone"] == "general"
    assert_talk_ends_with_the_seat(placed)
    # reconciling again (another AMI login) files nothing new: the row stays as it is
    await site.stop_engine()
    await site.start_engine()
    assert await rating_of(site, rec.linkedid) == r


EXPERT = Behaviour("rating-expert", ring_ms=500, talk_ms=3000)


async def test_a_transferred_call_is_rated_once_under_the_seat_that_served_last(site: SimSite):
    """G03 answers and transfers to 12333 (hrss) after 1.5 s; the expert talks 3 s and hangs
    up; the caller rates during the prompt. The consultation legs are never asked."""
    expert = lambda port: start_seat_behaviour(site.workdir, "rating-expert", port, EXPERT)  # noqa: E731
    async with (
        scenes.only(site, ["q-general"], ["G03"]),
        scenes.acting(site, "G03", scenes.transferring(site, "G03", "12333")),
        scenes.acting(site, "E-hrss1", expert),
    ):
        [placed] = await place(site, ["12345"], name="rate-xfer", talk_ms=60000,
                               dtmf=((8000, "3"),))  # fmt: skip
    rec = placed.record
    assert placed.result.outcome == "answered" and rec.outcome is Outcome.TRANSFERRED
    chain = await scenes.finished_legs(site, rec.linkedid, 2)
    r = await stored_rating(site, rec.linkedid)
    assert (r["outcome"], r["level"], r["key"]) == ("rated", 3, "3")
    assert r["seat"] == chain[-1]["seat"] == "E-hrss1" and r["zone"] == "hrss"
    assert r["legs"] == [leg["id"] for leg in chain] and rec.seat == "G03"

"""Transfers that never drop a caller, on a real Asterisk with sipp softphones: blind and
attended to an expert zone by the softphone's transfer button and by the API, to the 12366
sub-centre over its trunk (answered; unanswered, back in the queue ahead of the others),
a call transferred in from 12366, and the sub-centre posting its own call records. Each
checks the call's record and its transfer chain (legs) in the store.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from callcore.records import Outcome
from callcore.sim.sipp import Behaviour
from callcore.sim.site import SimSite
from tests.e2e import scenes
from tests.e2e.conftest import SUBCENTRE, caller_number

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

SEAT = "G03"  # the general seat that transfers (the only one taking 12345 calls meanwhile)
LONG = Behaviour("long-talk", ring_ms=400, talk_ms=30000)  # stays on the line for the API
# the hrss expert for attended transfers: stays on the consultation until it is completed
EXPERT = Behaviour("expert-on-the-line", ring_ms=1000, talk_ms=9000)
NO_ANSWER = Behaviour("subcentre-noanswer", answer=False)


def leg(chain: list[dict], i: int) -> tuple:
    x = chain[i]
    return (x["kind"], x["target"], x["from_seat"], x["via"], x["seat"], x["outcome"])


async def cli(site: SimSite, *args: str) -> str:
    argv = [sys.executable, "-m", "callcore.cli", "--home", str(site.inst.home),
            "--config", str(site.inst.config_path), *args]  # fmt: skip
    res = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def api_url(site: SimSite, path: str) -> str:
    return f"http://{site.cfg.pbx.bind}:{site.cfg.pbx.api_port}{path}"


def patient_expert(site: SimSite):  # type: ignore[no-untyped-def]
    """The hrss expert's softphone, for a while, talks long enough to be transferred to."""
    return scenes.acting(
        site,
        "E-hrss1",
        lambda port: scenes.seat_actions.start_seat_behaviour(site.workdir, "expert", port, EXPERT),
    )


async def softphone_transfer(site: SimSite, target: str, attended: bool, name: str):  # type: ignore[no-untyped-def]
    async with (
        scenes.only(site, ["q-general"], [SEAT]),
        scenes.acting(site, SEAT, scenes.transferring(site, SEAT, target, attended)),
        patient_expert(site),
    ):
        [placed] = await scenes.place(site, ["12345"], name=name)
    return placed


@pytest.mark.parametrize("attended", [False, True], ids=["blind", "attended"])
async def test_transfer_to_an_expert_zone_by_softphone(site: SimSite, attended: bool):
    p = await softphone_transfer(site, "12333", attended, f"xfer-zone-{attended}")
    rec = p.record
    assert p.result.outcome == "answered"
    assert rec.route == "q-general" and rec.seat == SEAT  # 首接: the first seat keeps it
    assert rec.outcome is Outcome.TRANSFERRED and rec.transfer_target == "q-hrss"
    chain = await scenes.finished_legs(site, rec.linkedid, 2)
    assert len(chain) == 2
    assert leg(chain, 0) == ("queue", "q-general", "", "", SEAT, "transferred")
    kind = "attended" if attended else "blind"
    expert = {"E-hrss1", "G01", "G04"}  # the expert, or skilled seats past the threshold
    assert leg(chain, 1)[:4] == (kind, "q-hrss", SEAT, "softphone")
    assert chain[1]["seat"] in expert and chain[1]["outcome"] == "answered"
    assert chain[0]["answered_at"] <= chain[1]["started_at"] <= chain[1]["answered_at"]
    assert chain[1]["ended_at"] == rec.ended_at


async def seat_token(site: SimSite, seat_id: str) -> str:
    return await cli(site, "token", "add", "--role", "seat", "--name", seat_id, "--seat", seat_id)


async def test_transfer_to_an_expert_zone_by_api(site: SimSite):
    token = await seat_token(site, SEAT)
    auth = {"Authorization": f"Bearer {token}"}
    start = lambda port: scenes.seat_actions.start_seat_behaviour(  # noqa: E731
        site.workdir, f"long-{SEAT}", port, LONG
    )
    callers = [caller_number(), caller_number()]
    async with (
        aiohttp.ClientSession() as http,
        scenes.only(site, ["q-general"], [SEAT]),
        scenes.acting(site, SEAT, start),
        patient_expert(site),
    ):
        for caller, mode in zip(callers, ("blind", "attended"), strict=True):
            call = asyncio.create_task(
                scenes.place(site, ["12345"], callers=[caller], name=f"api-{mode}")
            )
            await scenes.wait_for(
                site.records,
                lambda rs, c=caller: any(r.caller_number == c and r.answered_at for r in rs),
                f"{SEAT} talking to the {mode} caller",
            )
            since = datetime.now(UTC)
            r = await http.post(
                api_url(site, f"/api/v1/seats/{SEAT}/transfer"),
                json={"target": "12333", "mode": mode},
                headers=auth,
            )
            assert r.status == 200, await r.text()
            if mode == "attended":  # the seat consults the expert, then hands the caller over
                await scenes.wait_for(
                    lambda s=since: scenes.seat_changes(site, "E-hrss1", s),
                    lambda rows: any(x.state == "talking" for x in rows),
                    "the expert answering the consultation",
                )
                r = await http.post(
                    api_url(site, f"/api/v1/seats/{SEAT}/transfer/complete"), headers=auth
                )
                assert r.status == 200, await r.text()
            [placed] = await call
            assert placed.result.outcome == "answered"
            rec = placed.record
            assert rec.outcome is Outcome.TRANSFERRED and rec.transfer_target == "q-hrss"
            chain = await scenes.finished_legs(site, rec.linkedid, 2)
            assert leg(chain, 0) == ("queue", "q-general", "", "", SEAT, "transferred")
            assert leg(chain, 1)[:4] == (mode, "q-hrss", SEAT, "api")
            assert chain[1]["seat"] in {"E-hrss1", "G01", "G04"}
        # a seat token moves its own caller only
        r = await http.post(
            api_url(site, "/api/v1/seats/G07/transfer"), json={"target": "12333"}, headers=auth
        )
        assert r.status == 403


async def test_transfer_to_12366_answered_by_the_subcentre(site: SimSite):
    p = await softphone_transfer(site, "12366", False, "xfer-12366")
    rec = p.record
    assert p.result.outcome == "answered"
    assert rec.outcome is Outcome.TRANSFERRED and rec.transfer_target == "trunk:tax12366"
    chain = await scenes.finished_legs(site, rec.linkedid, 2)
    assert leg(chain, 0) == ("queue", "q-general", "", "", SEAT, "transferred")
    assert leg(chain, 1) == ("blind", "trunk:tax12366", SEAT, "softphone", "tax12366", "answered")


async def test_transfer_to_12366_unanswered_comes_back_ahead_of_the_queue(site: SimSite):
    """The sub-centre rings out: the caller is back in the 12345 queue it came from, at
    priority RETURNED, and is answered before two callers who were already waiting."""
    x, ordinary = caller_number(), [caller_number(), caller_number()]
    await site.stop_subcentre()
    await site.start_subcentre(NO_ANSWER)  # reachable (answers OPTIONS), never answers calls
    try:
        await site.wait_trunk("tax12366", True)  # so it rings out (not refused at once)
        async with (
            scenes.only(site, ["q-general"], [SEAT]),
            scenes.acting(site, SEAT, scenes.transferring(site, SEAT, "12366")),
        ):
            xcall = asyncio.create_task(scenes.place(site, ["12345"], callers=[x], name="ret-x"))
            await scenes.wait_for(
                site.records,
                lambda rs: any(r.caller_number == x and r.answered_at for r in rs),
                "the seat answering before it transfers",
            )
            await scenes.pause_in(site, "q-general", [SEAT], True)  # it takes no one else
            others = asyncio.create_task(
                scenes.place(site, ["12345"] * 2, callers=ordinary, name="ret-o", rate=5)
            )
            linkedid = (await scenes.wait_for(
                site.records,
                lambda rs: any(r.caller_number == x for r in rs),
                "x's record",
            ))  # fmt: skip
            linkedid = next(r.linkedid for r in linkedid if r.caller_number == x)
            await scenes.wait_for(
                lambda: scenes.legs(site, linkedid),
                lambda ls: any(x["kind"] == "returned" for x in ls),
                "x back in the queue",
                timeout=40,
            )
            await scenes.pause_in(site, "q-general", ["G07"], False)
            [px] = await xcall
            placed = await others
            await scenes.pause_in(site, "q-general", [SEAT], False)
    finally:
        await site.stop_subcentre()
        await site.start_subcentre(SUBCENTRE)
        await site.wait_trunk("tax12366", True)
    rec = px.record
    assert px.result.outcome == "answered" and rec.outcome is Outcome.ANSWERED
    assert "transfer_returned" in rec.flags and "ahead of others" in rec.reason
    chain = await scenes.finished_legs(site, rec.linkedid, 3)
    assert leg(chain, 0) == ("queue", "q-general", "", "", SEAT, "transferred")
    # rang out (unanswered), or refused at once if a qualify had just marked it unreachable
    assert leg(chain, 1)[:5] == ("blind", "trunk:tax12366", SEAT, "softphone", "")
    assert chain[1]["outcome"] in ("unanswered", "failed")
    assert leg(chain, 2)[:2] == ("returned", "q-general") and chain[2]["seat"] == "G07"
    back = chain[2]["started_at"]
    for p in placed:
        assert p.result.outcome == "answered"
        assert p.record.entered_at < back  # they were waiting before x came back
        assert chain[2]["answered_at"] < p.record.answered_at  # x was answered first


async def test_a_call_transferred_in_from_12366(site: SimSite):
    [p] = await scenes.place(
        site, ["12345"], bind=site.cfg.trunk("tax12366").host, name="from-12366"
    )
    rec = p.record
    assert p.result.outcome == "answered" and rec.outcome is Outcome.ANSWERED
    assert rec.flags == ["transferred_in"] and rec.route == "q-general" and rec.priority == 10
    assert "transferred in" in rec.reason
    chain = await scenes.finished_legs(site, rec.linkedid, 1)
    assert leg(chain, 0)[:4] == ("transfer_in", "q-general", "", "trunk:tax12366")
    assert chain[0]["seat"] == rec.seat and chain[0]["outcome"] == "answered"


async def test_the_subcentre_posts_its_call_records(site: SimSite):
    sub = await cli(site, "token", "add", "--role", "subcentre", "--name", "tax12366")
    rogue = await cli(site, "token", "add", "--role", "subcentre", "--name", "elsewhere")
    sup = await cli(site, "token", "add", "--role", "supervisor", "--name", "钱主管")
    seat = await seat_token(site, "G02")
    t0 = datetime.now(UTC).replace(microsecond=0)
    calls = [
        {
            "external_id": "TAX-0001",
            "caller_number": "13512345678",
            "dialed_number": "12366",
            "started_at": t0.isoformat(),
            "answered_at": (t0 + timedelta(seconds=4)).isoformat(),
            "agent": "税务-007",
            "outcome": "answered",
            "summary": "个税汇算咨询",
        },
        {
            "external_id": "TAX-0002",
            "caller_number": "13512345679",
            "dialed_number": "12345",
            "started_at": t0.isoformat(),
            "ended_at": (t0 + timedelta(seconds=30)).isoformat(),
            "outcome": "transferred",
            "transferred_to_12345": True,
        },
    ]
    url = api_url(site, "/api/v1/subcentre/calls")

    def bearer(token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}

    async with aiohttp.ClientSession() as http:
        assert (await http.post(url, json={"calls": calls})).status == 401
        assert (await http.post(url, json={"calls": calls}, headers=bearer(seat))).status == 403
        assert (await http.post(url, json={"calls": calls}, headers=bearer(sup))).status == 403
        r = await http.post(url, json={"calls": calls}, headers=bearer(rogue))
        assert r.status == 403  # a sub-centre token of no sub-centre of this site
        bad = [dict(calls[0], external_id="TAX-BAD", caller_number="13x; DROP TABLE")]
        r = await http.post(url, json={"calls": bad}, headers=bearer(sub))
        assert r.status == 400 and (await r.json())["error"] == "bad_body"

        r = await http.post(url, json={"calls": calls}, headers=bearer(sub))
        assert r.status == 202 and (await r.json()) == {"source": "tax12366", "accepted": 2}
        ended = dict(calls[0], ended_at=(t0 + timedelta(seconds=95)).isoformat())
        r = await http.post(url, json={"calls": [ended]}, headers=bearer(sub))  # it ended
        assert r.status == 202

        async def stored() -> list[dict]:
            r = await http.get(url + "?source=tax12366", headers=bearer(sup))
            assert r.status == 200
            return (await r.json())["calls"]

        rows = await scenes.wait_for(
            stored,
            lambda rs: len(rs) == 2 and all(x["ended_at"] for x in rs),
            "the sub-centre's records in the store",
        )
    by = {x["external_id"]: x for x in rows}
    assert by["TAX-0001"]["agent"] == "税务-007" and by["TAX-0001"]["summary"] == "个税汇算咨询"
    assert by["TAX-0002"]["transferred_to_12345"] is True
    assert "TAX-BAD" not in by

"""Calls out on a real Asterisk, the carrier's far side played by a sipp UAS that answers,
never answers, returns busy or 404 by the called number's last digit: a softphone dialing
an outside number is refused; missed calls become one callback task, called back seat
first; the caller calling in closes a task; rest hours refuse and reschedule; hand-offs to
110 (blind, three-party) and a target that does not answer bringing the caller back; tasks
that survive an engine restart and are never dialed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import yaml
from sqlalchemy import select

from callcore.features.callsout import tasks
from callcore.features.callsout.tables import OutboundCall
from callcore.sim import seat_actions
from callcore.sim.sipp import Behaviour
from callcore.sim.site import SimSite
from tests.e2e import scenes
from tests.e2e.test_transfers import api_url, seat_token

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

SEAT = "G03"
LONG = Behaviour("callsout-long-talk", ring_ms=400, talk_ms=30000)
_numbers = itertools.count(1)


def citizen(last: str = "1") -> str:
    """A mobile number no other test uses, ending in `last` (the far side's behaviour)."""
    return f"1370{next(_numbers):06d}{last}"


def far_invites(site: SimSite, number: str) -> list[list[str]]:
    assert site.far_side is not None
    return [ln for ln in site.far_side.lines() if ln[0] == "INVITE" and ln[1] == number]


async def outbound_rows(site: SimSite, **where: str) -> list[dict]:
    t = OutboundCall.__table__

    def read() -> list[dict]:
        q = select(t).order_by(t.c.started_at)
        for k, v in where.items():
            q = q.where(t.c[k] == v)
        with site.engine_db().connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    return await asyncio.to_thread(read)


async def task_of(site: SimSite, caller: str) -> list[dict]:
    rows = await asyncio.to_thread(tasks.listing, site.engine_db(), None, None, 1000)
    return [r for r in rows if r["caller"] == caller]


async def wait_task(site: SimSite, caller: str, ok: Callable[[dict], bool], what: str) -> dict:
    found = await scenes.wait_for(
        lambda: task_of(site, caller), lambda ts: bool(ts) and ok(ts[-1]), what
    )
    return found[-1]


async def miss(site: SimSite, caller: str, name: str) -> None:
    """A call from `caller` to 12345 that nobody answers: the caller gives up after 2 s."""
    async with scenes.only(site, ["q-general"], []):
        [p] = await scenes.place(site, ["12345"], callers=[caller], patience_ms=2000, name=name)
    assert p.record.outcome is not None and p.record.outcome.value in ("abandoned", "timeout")


async def post(site: SimSite, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            api_url(site, path), json=body or {}, headers={"Authorization": f"Bearer {token}"}
        )
        return r.status, await r.json()


async def test_a_softphone_cannot_dial_an_outside_number(site: SimSite):
    ext = scenes.seat(site, SEAT).extension
    number = citizen()
    [dialed] = await seat_actions.dial_codes(
        site.workdir, site.sip_server, [(ext, number, scenes.password(site, SEAT))],
        name="dial-outside",
    )  # fmt: skip
    assert dialed.outcome == "DONE"  # answered with the notice, then hung up by Asterisk
    await asyncio.sleep(1)
    assert far_invites(site, number) == []  # nothing reached the carrier


async def test_missed_calls_make_one_task_called_back_seat_first(site: SimSite):
    caller = citizen()
    await miss(site, caller, "miss-1")
    first = await wait_task(site, caller, lambda t: t["misses"] == 1, "a callback task")
    await miss(site, caller, "miss-2")
    task = await wait_task(site, caller, lambda t: t["misses"] == 2, "the second miss joined")
    assert task["id"] == first["id"] and task["first_missed"] == first["first_missed"]
    assert task["status"] == "open" and task["zone"] == "general"

    token = await seat_token(site, SEAT)
    status, body = await post(site, f"/api/v1/seats/{SEAT}/callbacks/{task['id']}/call", token)
    assert status == 200, body
    assert body["number"] != caller and body["number"].endswith(caller[-2:])  # masked
    row = await scenes.wait_for(
        lambda: outbound_rows(site, task_id=task["id"]),
        lambda rs: bool(rs) and rs[-1]["outcome"] is not None,
        "the outbound call's outcome",
    )
    out = row[-1]
    assert out["outcome"] == "reached", out
    assert (out["seat"], out["reason"], out["direction"]) == (SEAT, "callback", "out")
    assert out["talk_seconds"] and out["talk_seconds"] > 0 and out["wait_seconds"] > 0
    [invite] = far_invites(site, caller)
    assert invite[2] == "12345"  # the citizen sees 12345
    done = await wait_task(site, caller, lambda t: t["status"] == "closed", "the task closed")
    assert done["closed_reason"] == "reached" and done["attempts"] == 1
    # recorded (the recordings' Gosub in [cc-out]) under the outbound call's id
    rec = await scenes.wait_for(
        lambda: recordings_of(site, out["id"]), bool, "the outbound call's recording"
    )
    assert rec[0]["leg"] == "outbound" and rec[0]["seat"] == SEAT


async def recordings_of(site: SimSite, linkedid: str) -> list[dict]:
    from callcore.features.recordings.tables import Recording

    t = Recording.__table__

    def read() -> list[dict]:
        with site.engine_db().connect() as conn:
            q = select(t).where(t.c.linkedid == linkedid)
            return [dict(r) for r in conn.execute(q).mappings()]

    return await asyncio.to_thread(read)


async def test_the_caller_calling_in_closes_the_open_task(site: SimSite):
    caller = citizen()
    await miss(site, caller, "miss-then-in")
    await wait_task(site, caller, lambda t: t["status"] == "open", "a callback task")
    async with scenes.only(site, ["q-general"], [SEAT]):
        [p] = await scenes.place(site, ["12345"], callers=[caller], talk_ms=1500, name="back-in")
    assert p.result.outcome == "answered"
    done = await wait_task(site, caller, lambda t: t["status"] == "closed", "the task closed")
    assert done["closed_reason"] == "called_in" and done["attempts"] == 0
    assert far_invites(site, caller) == []  # nobody had to call


@contextlib.asynccontextmanager
async def site_changed(site: SimSite, change: Callable[[dict], None]) -> AsyncIterator[None]:
    """The engine runs with a changed site file for a while (SIGHUP reloads it)."""
    path = site.inst.config_path
    original = path.read_text(encoding="utf-8")
    data = yaml.safe_load(original)
    change(data)

    async def reload(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        assert site.engine_proc is not None
        site.engine_proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(1.5)

    await reload(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    try:
        yield
    finally:
        await reload(original)


def rest_now(data: dict) -> None:
    now = datetime.now(ZoneInfo(data["site"].get("timezone", "Asia/Shanghai")))
    data["callsout"]["rest_hours"] = {
        "start": f"{(now - timedelta(hours=1)):%H:%M}",
        "end": f"{(now + timedelta(hours=1)):%H:%M}",
    }


async def test_a_callback_in_rest_hours_is_refused_and_rescheduled(site: SimSite):
    caller = citizen()
    await miss(site, caller, "miss-rest")
    task = await wait_task(site, caller, lambda t: t["status"] == "open", "a callback task")
    token = await seat_token(site, SEAT)
    async with site_changed(site, rest_now):
        status, body = await post(site, f"/api/v1/seats/{SEAT}/callbacks/{task['id']}/call", token)
        assert status == 409 and body["error"] == "rest_hours", body
        status, body = await post(
            site, f"/api/v1/seats/{SEAT}/calls-out", token, {"number": citizen()}
        )
        assert status == 409 and body["error"] == "rest_hours"
    later = await wait_task(site, caller, lambda t: t["status"] == "open", "the task open")
    assert later["last_outcome"] == "refused" and later["attempts"] == 0
    wait = later["next_attempt_at"] - datetime.now(UTC)
    assert timedelta(minutes=50) < wait < timedelta(minutes=61)  # when the rest hours end
    [row] = await outbound_rows(site, task_id=task["id"])
    assert row["outcome"] == "refused" and row["cause"] == "rest_hours"
    assert far_invites(site, caller) == []
    # not callable before then
    status, body = await post(site, f"/api/v1/seats/{SEAT}/callbacks/{task['id']}/call", token)
    assert status == 409 and body["error"] == "taken"


async def test_click_to_call_outcomes_busy_no_answer_invalid(site: SimSite):
    token = await seat_token(site, SEAT)
    bad, _ = await post(site, f"/api/v1/seats/{SEAT}/calls-out", token, {"number": "95598"})
    assert bad == 400
    async with long_seat(site, "long-click"):  # the seat waits out the citizen's ringing
        await click_outcomes(site, token)


async def click_outcomes(site: SimSite, token: str) -> None:
    for last, outcome in (("7", "busy"), ("9", "invalid_number"), ("8", "no_answer")):
        number = citizen(last)
        path = f"/api/v1/seats/{SEAT}/calls-out"
        status, body = await post(site, path, token, {"number": number})
        assert status == 200, body
        rows = await scenes.wait_for(
            lambda i=body["id"]: outbound_rows(site, id=i),
            lambda rs: bool(rs) and rs[0]["outcome"] is not None,
            f"the outcome of a call to a number ending in {last}",
            timeout=70,
        )
        assert rows[0]["outcome"] == outcome, rows[0]
        assert rows[0]["reason"] == "click" and len(far_invites(site, number)) == 1


async def answered_call(
    site: SimSite, caller: str, name: str, talk_ms: int = 600000
) -> asyncio.Task:
    call = asyncio.create_task(
        scenes.place(site, ["12345"], callers=[caller], name=name, talk_ms=talk_ms)
    )
    await scenes.wait_for(
        site.records,
        lambda rs: any(r.caller_number == caller and r.answered_at for r in rs),
        f"{SEAT} talking to {caller}",
    )
    return call


def long_seat(site: SimSite, name: str):  # type: ignore[no-untyped-def]
    return scenes.acting(
        site,
        SEAT,
        lambda port: seat_actions.start_seat_behaviour(site.workdir, name, port, LONG),
    )


async def test_blind_transfer_to_110_by_softphone(site: SimSite):
    async with (
        scenes.only(site, ["q-general"], [SEAT]),
        scenes.acting(site, SEAT, scenes.transferring(site, SEAT, "110")),
    ):
        [p] = await scenes.place(site, ["12345"], talk_ms=4000, name="xfer-110")
    rec = p.record
    assert p.result.outcome == "answered"
    assert rec.outcome is not None and rec.outcome.value == "transferred"
    assert rec.transfer_target == "emergency:110"
    chain = await scenes.finished_legs(site, rec.linkedid, 2)
    assert (chain[1]["kind"], chain[1]["target"], chain[1]["from_seat"]) == (
        "blind", "emergency:110", SEAT,
    )  # fmt: skip
    assert chain[1]["seat"] == "carrier" and chain[1]["answered_at"] is not None
    [invite] = far_invites(site, "110")[-1:]
    assert invite[2] == p.call.caller  # 110 sees the citizen's own number


async def test_a_target_not_answering_brings_the_caller_back_to_the_seat(site: SimSite):
    token = await seat_token(site, SEAT)
    caller = citizen()
    async with scenes.only(site, ["q-general"], [SEAT]), long_seat(site, "long-122") as phone:
        call = await answered_call(site, caller, "handoff-122")
        status, body = await post(site, f"/api/v1/seats/{SEAT}/handoff", token, {"target": "122"})
        assert status == 200, body
        [p] = await call
    assert p.result.outcome == "answered" and len(far_invites(site, "1228")) >= 1
    answered = [ln for ln in phone.lines() if ln[0] == "ANSWERED"]
    assert len(answered) == 2  # the caller, then the same caller back from 122
    chain = await scenes.finished_legs(site, p.record.linkedid, 3)
    kinds = [(x["kind"], x["target"], x["outcome"]) for x in chain]
    assert kinds[1] == ("blind", "emergency:122", "unanswered")
    assert kinds[2][:2] == ("returned", f"seat:{SEAT}")
    status, _ = await post(site, f"/api/v1/seats/{SEAT}/handoff", token, {"target": "999"})
    assert status == 400


async def test_three_party_call_the_seat_leaves(site: SimSite):
    token = await seat_token(site, SEAT)
    caller = citizen()
    async with scenes.only(site, ["q-general"], [SEAT]), long_seat(site, "long-3p"):
        call = await answered_call(site, caller, "three-party", talk_ms=15000)
        status, body = await post(
            site, f"/api/v1/seats/{SEAT}/handoff", token, {"target": "110", "mode": "conference"}
        )
        assert status == 200, body
        conf = body["conference"]

        async def members() -> str:
            return await site.rx(f"confbridge list {conf}")

        await scenes.wait_for(members, lambda out: out.count("PJSIP/") == 3, "three in the call")
        async with scenes.ami(site) as a:  # the seat leaves
            await a.action({"Action": "Hangup", "Channel": body["channel"]})
        await asyncio.sleep(2)
        out = await members()
        assert out.count("PJSIP/") == 2 and "carrier" in out, out  # citizen and 110 stay
        [p] = await call
    assert p.result.outcome == "answered"


async def test_tasks_survive_a_restart_and_are_dialed_once(site: SimSite):
    caller = citizen()
    await miss(site, caller, "miss-restart")
    task = await wait_task(site, caller, lambda t: t["status"] == "open", "a callback task")
    await site.stop_engine()
    await site.start_engine()
    assert (await task_of(site, caller))[-1]["id"] == task["id"]
    token = await seat_token(site, SEAT)
    other = await seat_token(site, "G07")
    path = f"/api/v1/seats/{{}}/callbacks/{task['id']}/call"
    results = await asyncio.gather(
        post(site, path.format(SEAT), token), post(site, path.format("G07"), other)
    )
    assert sorted(s for s, _ in results) == [200, 409], results
    await wait_task(site, caller, lambda t: t["status"] == "closed", "the task closed")
    assert len(far_invites(site, caller)) == 1

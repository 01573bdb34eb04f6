"""Seats on a real Asterisk with sipp softphones that register with credentials: feature
codes (with callcore and without it), states in Asterisk and in the store, a state that
survives a controller restart, overflow while the caller waits, enterprise callers ahead
of earlier callers, and a repeat caller offered to the seat of their open request first.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from callcore.records import Outcome
from callcore.sim import seat_actions, sipp
from callcore.sim.site import SimSite
from seats.membership import memberships
from tests.e2e import scenes
from tests.e2e.conftest import caller_number

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]


async def cli(site: SimSite, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "callcore.cli", "--home", str(site.inst.home),
            "--config", str(site.inst.config_path), *args]  # fmt: skip
    res = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res


async def dial(site: SimSite, seat_id: str, code: str) -> str:
    """The seat's softphone dials a feature code; returns DONE when it heard the prompt."""
    s = scenes.seat(site, seat_id)
    [done] = await seat_actions.dial_codes(
        site.workdir, site.sip_server, [(s.extension, code, scenes.password(site, seat_id))],
        name=f"feature-{seat_id}",
    )  # fmt: skip
    return done.outcome


def queues_of(members: list[dict]) -> dict[str, tuple[int, bool, str]]:
    return {
        m["Queue"]: (int(m["Penalty"]), m["Paused"] == "1", m.get("PausedReason", ""))
        for m in members
    }


async def last_state(site: SimSite, seat_id: str, since: datetime) -> tuple[str, str, str]:
    rows = await scenes.seat_changes(site, seat_id, since)
    return (rows[-1].state, rows[-1].reason, rows[-1].source) if rows else ("", "", "")


async def settled(site: SimSite, seat_id: str, since: datetime, want: tuple[str, str]):  # type: ignore[no-untyped-def]
    """Wait until the store's newest state of the seat is `want` (state, reason)."""
    return await scenes.wait_for(
        lambda: last_state(site, seat_id, since), lambda s: s[:2] == want, f"{seat_id} {want}"
    )


async def test_a_seat_with_a_wrong_password_cannot_register(site: SimSite):
    ext = scenes.seat(site, "G05").extension
    decoy = next(scenes.SPECIAL_PORTS)
    got = await sipp.register_contacts(
        site.workdir, site.sip_server, {ext: ("not-the-password", decoy)}, tag="wrongpw"
    )
    assert got == {ext: False}
    contacts = await site.rx(f"pjsip show contacts like {ext}")
    assert f":{decoy}" not in contacts  # its real softphone stays the one registered
    assert f":{scenes.farm_port(site, 'G05')}" in contacts
    unknown = await sipp.register_contacts(
        site.workdir, site.sip_server, {"8999": ("whatever", decoy)}, tag="unknownseat"
    )
    assert unknown == {"8999": False}


async def test_feature_codes_log_in_pause_resume_log_out(site: SimSite):
    seat_id, codes = "T03", site.cfg.features
    expected = {m.queue: m.penalty for m in memberships(site.cfg, scenes.seat(site, seat_id))}
    since = datetime.now(UTC)
    try:
        assert await dial(site, seat_id, codes.logout) == "DONE"
        await scenes.wait_for(
            lambda: scenes.members(site, seat_id), lambda m: m == [], "logged off"
        )
        await settled(site, seat_id, since, ("logged_off", ""))

        assert await dial(site, seat_id, codes.login) == "DONE"
        got = queues_of(await scenes.members(site, seat_id))
        assert {q: p for q, (p, _, _) in got.items()} == expected
        assert not any(paused for _, paused, _ in got.values())
        await settled(site, seat_id, since, ("available", ""))

        assert await dial(site, seat_id, codes.pause + "3") == "DONE"  # 3: training 培训
        got = queues_of(await scenes.members(site, seat_id))
        assert all(paused and reason == "training" for _, paused, reason in got.values())
        await settled(site, seat_id, since, ("paused", "training"))

        assert await dial(site, seat_id, codes.pause + "9") == "DONE"  # no such reason
        got = queues_of(await scenes.members(site, seat_id))
        assert all(reason == "training" for _, _, reason in got.values())  # unchanged

        assert await dial(site, seat_id, codes.resume) == "DONE"
        got = queues_of(await scenes.members(site, seat_id))
        assert not any(paused for _, paused, _ in got.values())
        await settled(site, seat_id, since, ("available", ""))
    finally:
        await site.login_seats([seat_id])
        await scenes.pause_in(site, None, [seat_id], False)

    rows = await scenes.seat_changes(site, seat_id, since)
    # a feature code is a call: the seat talks while it hears the confirmation
    states = [r for r in rows if r.state != "talking"]
    path = [r for i, r in enumerate(states) if i == 0 or r.state != states[i - 1].state]
    assert [(r.state, r.reason, r.source) for r in path] == [
        ("logged_off", "", "feature"),
        ("available", "", "feature"),
        ("paused", "training", "feature"),
        ("available", "", "feature"),
    ]
    assert all(a.at <= b.at for a, b in itertools.pairwise(rows))


async def test_feature_codes_without_callcore_and_the_state_after_a_restart(site: SimSite):
    """With the engine down the dialplan pauses the seat itself; the restarted engine
    rebuilds that state from Asterisk and the store, and keeps an unchanged seat's 'since'."""
    seat_id, steady = "T02", "T01"
    before = await scenes.seat_changes(site, steady)
    await site.stop_engine()
    try:
        assert await dial(site, seat_id, site.cfg.features.pause + "2") == "DONE"  # 2: meal
        got = queues_of(await scenes.members(site, seat_id))
        assert got and all(paused and reason == "meal" for _, paused, reason in got.values())
        since = datetime.now(UTC)
    finally:
        await site.start_engine()
    try:
        _, _, source = await settled(site, seat_id, since, ("paused", "meal"))
        assert source == "rebuild"
        after = await scenes.seat_changes(site, steady)
        assert [(r.state, r.at) for r in after] == [(r.state, r.at) for r in before]

        status = json.loads((await cli(site, "seat", "status", "--json")).stdout)
        mine = next(s for s in status if s["seat"] == seat_id)
        assert (mine["state"], mine["reason"]) == ("paused", "meal")
    finally:
        assert await dial(site, seat_id, site.cfg.features.resume) == "DONE"
        await settled(site, seat_id, datetime.now(UTC).replace(year=2000), ("available", ""))


async def test_overflow_while_the_caller_waits(site: SimSite):
    """12333: the expert answers before the zone's first threshold although skilled general
    seats are free; 12393 with its expert away: a general seat with that skill after 10 s;
    12329 with its expert and skilled seats away: any general seat after 30 s."""
    cfg = site.cfg
    medins = [s.id for s in cfg.seats if s.zone == "medins" or "medins" in s.skills]
    hpf = [s.id for s in cfg.seats if s.zone == "hpf" or "hpf" in s.skills]
    await scenes.pause_in(site, "q-medins", ["E-medins1"], True)
    await scenes.pause_in(site, "q-hpf", hpf, True)
    try:
        placed = await scenes.place(site, ["12333", "12393", "12329"], name="overflow")
    finally:
        await scenes.pause_in(site, "q-medins", ["E-medins1"], False)
        await scenes.pause_in(site, "q-hpf", hpf, False)
    hrss, med, hp = (p.record for p in placed)
    assert all(p.result.outcome == "answered" for p in placed), [p.result for p in placed]

    first = cfg.zone("hrss").overflow[0].after_seconds
    assert hrss.seat == "E-hrss1" and hrss.route == "q-hrss"
    assert hrss.wait_seconds is not None and hrss.wait_seconds < first  # experts only, first

    skilled = {s for s in medins if s != "E-medins1"}
    assert med.seat in skilled, med.seat
    assert (
        med.wait_seconds is not None
        and med.wait_seconds >= cfg.zone("medins").overflow[0].after_seconds - 1
    )

    general = {s.id for s in cfg.seats if s.role.value == "general"}
    assert hp.seat in general - set(hpf), hp.seat
    assert (
        hp.wait_seconds is not None
        and hp.wait_seconds >= cfg.zone("hpf").overflow[1].after_seconds - 1
    )
    for r in (hrss, med, hp):
        assert r.outcome is Outcome.ANSWERED


async def test_enterprise_caller_is_answered_ahead_of_earlier_callers(site: SimSite):
    """Registered in the store by the CLI, recognised at entry: the enterprise zone, with
    priority, and a seat in both zones serves the enterprise caller first (queue weight)."""
    enterprise = caller_number()
    await cli(site, "enterprise", "add", enterprise, "盐城某某科技有限公司")
    await scenes.wait_for(
        lambda: scenes.probe_route(site, "12345", enterprise),
        lambda d: d["CC_QUEUE"] == "q-enterprise",
        "the engine to know the enterprise",
    )
    ordinary = [caller_number(), caller_number()]
    everyone = [s.id for s in site.cfg.seats]
    async with scenes.only(site, ["q-general", "q-enterprise"], []):
        await scenes.pause_in(site, "q-general", everyone, True)
        task = asyncio.create_task(
            scenes.place(site, ["12345"] * 3, callers=[*ordinary, enterprise], rate=2,
                        name="enterprise")
        )  # fmt: skip
        await asyncio.sleep(3.0)  # the three are waiting: two ordinary, then the enterprise
        await scenes.pause_in(site, "q-general", ["Q01"], False)
        await scenes.pause_in(site, "q-enterprise", ["Q01"], False)
        await scenes.wait_for(
            lambda: site.records(),
            lambda rs: any(r.caller_number == enterprise and r.answered_at for r in rs),
            "the enterprise caller answered",
        )
        await scenes.pause_in(site, "q-general", everyone, False)
        placed = await task
    by = {p.call.caller: p.record for p in placed}
    ent = by[enterprise]
    assert ent.route == "q-enterprise" and ent.priority == 5 and ent.flags == ["enterprise"]
    assert ent.seat == "Q01" and "一企来" in ent.reason
    for n in ordinary:
        assert by[n].entered_at < ent.entered_at
        assert by[n].answered_at is not None and ent.answered_at < by[n].answered_at
        assert by[n].route == "q-general" and by[n].priority == 0


async def test_repeat_caller_is_offered_to_their_previous_seat_first(site: SimSite):
    caller = caller_number()
    [first] = await scenes.place(site, ["12345"], callers=[caller], name="first-contact-1")
    seat_id = first.record.seat
    assert first.record.affinity is False and seat_id
    # the seat is back from wrap-up: the engine would ring it first now
    decision = await scenes.wait_for(
        lambda: scenes.probe_route(site, "12393", caller),
        lambda d: d["CC_AFF_SEAT"] == seat_id,
        "the first seat to be offered",
    )
    assert decision["CC_AFF_DIAL"] == f"PJSIP/{scenes.seat(site, seat_id).extension}"

    [again] = await scenes.place(site, ["12393"], callers=[caller], name="first-contact-2")
    rec = again.record
    assert rec.affinity is True and rec.seat == seat_id and rec.outcome is Outcome.ANSWERED
    assert "首接负责制" in rec.reason and rec.hotline == "12393"
    chain = await scenes.finished_legs(site, rec.linkedid, 1)
    assert (chain[0]["kind"], chain[0]["target"], chain[0]["seat"]) == (
        "first_contact",
        f"seat:{seat_id}",
        seat_id,
    )

    # the request of the first call is closed: no longer the seat's to take first
    for placed in (first, again):  # 直接办结: each call's work order
        await cli(site, "request", "act", placed.record.linkedid, "close_on_spot",
                  "--result", "已当场答复")  # fmt: skip
    await scenes.wait_for(
        lambda: scenes.probe_route(site, "12393", caller),
        lambda d: d["CC_AFF_SEAT"] == "",
        "the closed requests to be known",
    )
    [third] = await scenes.place(site, ["12393"], callers=[caller], name="first-contact-3")
    assert third.record.affinity is False

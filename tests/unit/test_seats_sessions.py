"""Seat operations (seats/sessions.py) and feature codes through FastAGI (seats/features.py),
against a fake AMI that keeps queue membership the way Asterisk does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import config
from agi.server import FastAgiServer
from callcore.ami import AmiError
from seats.features import make_agent_handler, prompts
from seats.membership import memberships
from seats.sessions import SeatError, SeatSessions
from tests.unit.test_agi_server import agi_env, fake_asterisk

pytestmark = pytest.mark.timeout(20)
CFG = config.load()
SEAT_CHAN = "PJSIP/8001-0000002a"


class FakeAmi:
    """Queue members as Asterisk keeps them; every action is recorded."""

    def __init__(self) -> None:
        self.members: dict[tuple[str, str], dict] = {}  # (queue, interface) -> member
        self.actions: list[dict] = []
        self.fail: str | None = None  # an action name that Asterisk refuses

    async def action(self, fields: dict[str, str], *, timeout: float | None = None) -> dict:
        self.actions.append(dict(fields))
        name = fields["Action"]
        if name == self.fail:
            raise AmiError("refused", {"Response": "Error", "Message": "refused"})
        if name == "QueueAdd":
            key = (fields["Queue"], fields["Interface"])
            if key in self.members:
                raise AmiError(
                    "Already there", {"Message": "Unable to add interface: Already there"}
                )
            self.members[key] = {
                "Queue": fields["Queue"],
                "Name": fields.get("MemberName", ""),
                "Location": fields["Interface"],
                "Penalty": fields.get("Penalty", "0"),
                "Paused": "1" if fields.get("Paused") == "true" else "0",
                "PausedReason": fields.get("Reason", ""),
                "Status": "1",
            }
        elif name == "QueueRemove":
            if self.members.pop((fields["Queue"], fields["Interface"]), None) is None:
                raise AmiError("Not there", {"Message": "Unable to remove interface: Not there"})
        elif name == "QueuePause":
            hit = [m for (q, i), m in self.members.items() if i == fields["Interface"]
                   and fields.get("Queue") in (None, q)]  # fmt: skip
            if not hit:
                raise AmiError("Interface not found", {"Message": "Interface not found"})
            for m in hit:
                m["Paused"] = "1" if fields["Paused"] == "true" else "0"
                m["PausedReason"] = fields.get("Reason", "") if m["Paused"] == "1" else ""
        return {"Response": "Success"}

    async def action_list(
        self, fields: dict[str, str], *, complete_event: str, timeout: float | None = None
    ) -> tuple[dict, list[dict]]:
        self.actions.append(dict(fields))
        assert fields["Action"] == "QueueStatus"
        rows = [
            {"Event": "QueueMember", **m}
            for (q, i), m in self.members.items()
            if fields.get("Member") in (None, i)
        ]
        return {"Response": "Success"}, rows

    def queues_of(self, iface: str) -> dict[str, dict]:
        return {q: m for (q, i), m in self.members.items() if i == iface}


@pytest.fixture
def ami() -> FakeAmi:
    return FakeAmi()


@pytest.fixture
def sessions(ami: FakeAmi) -> SeatSessions:
    return SeatSessions(ami, lambda: CFG)


async def test_login_joins_every_queue_of_zone_and_skills_at_their_penalty(sessions, ami):
    queues = await sessions.login("G01")
    want = {m.queue: str(m.penalty) for m in memberships(CFG, CFG.seat("G01"))}
    assert sorted(queues) == sorted(want)
    got = ami.queues_of("PJSIP/8001")
    assert {q: m["Penalty"] for q, m in got.items()} == want
    assert {m["Name"] for m in got.values()} == {"G01"}
    assert await sessions.login("G01") == queues  # again: already there, nothing changes


async def test_pause_with_reason_by_id_or_code_and_resume(sessions, ami):
    await sessions.login("G02")
    assert await sessions.pause("G02", "2") == "meal"
    assert {m["PausedReason"] for m in ami.queues_of("PJSIP/8002").values()} == {"meal"}
    assert await sessions.pause("G02", "training") == "training"
    await sessions.resume("G02")
    assert {m["Paused"] for m in ami.queues_of("PJSIP/8002").values()} == {"0"}


async def test_bad_requests_are_refused_before_asterisk_is_asked(sessions, ami):
    with pytest.raises(SeatError) as e:
        await sessions.pause("G03", "nap")
    assert e.value.code == "unknown_reason" and "meal" in str(e.value)
    with pytest.raises(SeatError) as e:
        await sessions.login("nobody")
    assert e.value.code == "unknown_seat"
    assert ami.actions == []
    with pytest.raises(SeatError) as e:
        await sessions.pause("G03", "meal")  # not logged in
    assert e.value.code == "logged_off"
    assert [a["Action"] for a in ami.actions] == ["QueueStatus"]


async def test_move_changes_the_own_zone_and_keeps_a_pause(sessions, ami):
    await sessions.login("G04")
    await sessions.pause("G04", "meeting")
    queues = await sessions.move("G04", "hrss")
    moved = CFG.seat("G04").model_copy(update={"zone": "hrss"})
    want = {m.queue: str(m.penalty) for m in memberships(CFG, moved)}
    got = ami.queues_of("PJSIP/8004")
    assert sorted(queues) == sorted(want)
    assert {q: m["Penalty"] for q, m in got.items()} == want
    assert got["q-hrss"]["Penalty"] == "0" and "q-general" not in got
    assert {(m["Paused"], m["PausedReason"]) for m in got.values()} == {("1", "meeting")}
    with pytest.raises(SeatError):
        await sessions.move("G04", "atlantis")
    # logging out leaves the moved queues too
    await sessions.logout("G04")
    assert ami.queues_of("PJSIP/8004") == {}


# -- feature codes over FastAGI ---------------------------------------------------------------


@pytest.fixture
async def server(sessions: SeatSessions) -> AsyncIterator[FastAgiServer]:
    srv = FastAgiServer(
        {"agent": make_agent_handler(lambda: sessions)}, "127.0.0.1", 0, request_timeout=0.5
    )
    await srv.start()
    yield srv
    await srv.close(grace=1.0)


async def feature(srv: FastAgiServer, action: str, seat: str = "G01", arg: str = "") -> list:
    env = agi_env("agent", (action, seat, arg, SEAT_CHAN))
    ex = await fake_asterisk(srv.bound_port, env)
    return ex.words


async def test_feature_codes_set_the_confirmation_to_play(server, ami):
    assert await feature(server, "login") == [
        ["SET", "VARIABLE", f"SHARED(CC_AGENT,{SEAT_CHAN})", "login"]
    ]
    assert "q-general" in ami.queues_of("PJSIP/8001")
    [[*_, said]] = await feature(server, "pause", arg="2")
    assert said == "pause-meal"
    [[*_, said]] = await feature(server, "pause", arg="9")
    assert said == "bad-code"
    [[*_, said]] = await feature(server, "resume")
    assert said == "resume"
    [[*_, said]] = await feature(server, "logout")
    assert said == "logout" and ami.queues_of("PJSIP/8001") == {}
    [[*_, said]] = await feature(server, "resume")
    assert said == "not-logged-in"
    # every confirmation it can ask for exists as a prompt
    names = set(prompts(CFG))
    for key in ("login", "logout", "resume", "bad-code", "not-logged-in"):
        assert f"agent-{key}" in names
    assert {f"agent-pause-{r.id}" for r in CFG.pause_reasons} <= names


async def test_when_asterisk_refuses_nothing_is_written_and_the_dialplan_acts(server, ami):
    ami.fail = "QueueAdd"
    assert await feature(server, "login") == []  # the dialplan's AddQueueMember takes over
    assert server.stats.ok == 1


async def test_hostile_arguments_get_no_command(server, ami):
    for args in (("login", "G01", "", "PJSIP/x, y"), ("sudo", "G01", "", SEAT_CHAN),
                 ("login", "nobody", "", SEAT_CHAN)):  # fmt: skip
        ex = await fake_asterisk(server.bound_port, agi_env("agent", args))
        assert ex.commands == []
    assert ami.members == {}
    assert server.stats.bad_requests == 3


async def test_an_operation_finishes_even_when_the_request_bound_passes(ami):
    slow = SeatSessions(ami, lambda: CFG)
    real = ami.action

    async def sluggish(fields, *, timeout=None):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        return await real(fields, timeout=timeout)

    ami.action = sluggish  # type: ignore[method-assign]
    srv = FastAgiServer({"agent": make_agent_handler(lambda: slow)}, "127.0.0.1", 0,
                        request_timeout=0.1)  # fmt: skip
    await srv.start()
    try:
        ex = await fake_asterisk(srv.bound_port, agi_env("agent", ("login", "G01", "", SEAT_CHAN)))
        assert ex.commands == []  # too late to answer: the dialplan logs in statically
        n = len(memberships(CFG, CFG.seat("G01")))
        for _ in range(100):
            if len(ami.queues_of("PJSIP/8001")) == n:
                break
            await asyncio.sleep(0.05)
        assert len(ami.queues_of("PJSIP/8001")) == n  # and callcore's own login completed
    finally:
        await srv.close(grace=1.0)

"""Recordings on a real Asterisk with sipp sending G.711 both ways: an answered call leaves
a two-channel recording as long as the talk, both channels carrying the speaker's sound; a
transferred call has a recording per leg under one call; a seat hears only its own calls
and every fetch is audited; a store that cannot take recordings leaves calls flowing and
/healthz degraded, and what was recorded meanwhile is stored once it can be."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml
from sqlalchemy import select

from callcore.api.client import ApiClient
from callcore.sim import seat_actions
from callcore.sim.sipp import Behaviour, Call, SeatFarm, alaw_tone, place_calls
from callcore.sim.site import SimSite
from callcore.store.models import AuditEntry
from tests.e2e import scenes
from tests.e2e.conftest import BASE, caller_number
from tests.e2e.test_transfers import api_url, cli, patient_expert

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

SEAT = "G05"  # the general seat that talks (the only one taking 12345 calls meanwhile)
CALLER_HZ, SEAT_HZ = 400, 1200  # each side's voice: a tone the other side can tell apart


def channel_stats(opus: Path, channel: int) -> dict[str, float]:
    """sox's `stat` of one channel of a stored recording (decoded by opusdec)."""
    wav = opus.with_suffix(".wav")
    subprocess.run(["opusdec", "--quiet", str(opus), str(wav)], check=True)
    res = subprocess.run(
        ["sox", str(wav), "-n", "remix", str(channel), "stat"], capture_output=True, text=True
    )
    out = {}
    for line in res.stderr.splitlines():
        m = re.match(r"^(.+?):\s+(-?[0-9.]+)$", line.strip())
        if m:
            out[m.group(1).strip()] = float(m.group(2))
    return out


@dataclass
class Rec:
    site: SimSite
    sup: str  # a supervisor's token
    mine: str  # SEAT's token
    other: str  # another seat's token
    tmp: Path

    async def get(self, path: str, token: str, **headers: str) -> tuple[int, Any, bytes]:
        auth = {"Authorization": f"Bearer {token}", **headers}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
            async with s.get(api_url(self.site, path), headers=auth) as r:
                body = await r.read()
                ctype = r.headers.get("Content-Type", "")
                return r.status, (r.headers, ctype), body

    async def recordings(self, linkedid: str, n: int) -> list[dict]:
        """The call's recordings once there are `n` (polling the API)."""

        async def probe() -> list[dict]:
            status, _, body = await self.get(f"/api/v1/calls/{linkedid}/recordings", self.sup)
            return yaml.safe_load(body)["recordings"] if status == 200 else []

        return await scenes.wait_for(probe, lambda rs: len(rs) >= n, f"{n} recordings", 60)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def rec(site: SimSite, tmp_path_factory: pytest.TempPathFactory) -> Rec:
    sup = await cli(site, "token", "add", "--role", "supervisor", "--name", "录音主管")
    mine = await cli(site, "token", "add", "--role", "seat", "--name", SEAT, "--seat", SEAT)
    other = await cli(site, "token", "add", "--role", "seat", "--name", "G02", "--seat", "G02")
    return Rec(site, sup, mine, other, tmp_path_factory.mktemp("rec"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def answered(rec: Rec) -> AsyncIterator[tuple[scenes.Placed, dict]]:
    """One call the seat answers and talks on for 4 s, both sides sending audio."""
    site = rec.site
    voice = alaw_tone(rec.tmp / "s.al", SEAT_HZ)
    talker = Behaviour("rec-talker", ring_ms=300, talk_ms=4000, audio=voice)

    def start(port: int):  # type: ignore[no-untyped-def]
        return seat_actions.start_seat_behaviour(site.workdir, "rec-talker", port, talker)

    async with scenes.only(site, ["q-general"], [SEAT]), scenes.acting(site, SEAT, start):
        [placed] = await scenes.place(
            site, ["12345"], audio=alaw_tone(rec.tmp / "c.al", CALLER_HZ), name="rec-answered"
        )
    [one] = await rec.recordings(placed.record.linkedid, 1)
    yield placed, one


async def test_an_answered_call_is_recorded_on_two_channels(rec: Rec, answered):
    placed, one = answered
    r = placed.record
    assert placed.result.outcome == "answered" and r.seat == SEAT
    assert (one["leg"], one["seat"], one["codec"]) == ("seat", SEAT, "opus")
    assert r.talk_seconds is not None and abs(one["duration"] - r.talk_seconds) <= 1.0
    status, (_, ctype), body = await rec.get(one["url"], rec.sup)
    assert status == 200 and ctype == "audio/ogg; codecs=opus" and len(body) == one["size"]
    path = rec.tmp / "answered.opus"
    path.write_bytes(body)
    seat_side, citizen = channel_stats(path, 1), channel_stats(path, 2)
    # channel 1: what the seat's channel says (12345); channel 2: what it hears (citizen)
    assert seat_side["RMS     amplitude"] > 0.02 and citizen["RMS     amplitude"] > 0.02
    assert abs(seat_side["Rough   frequency"] - SEAT_HZ) < SEAT_HZ * 0.2
    assert abs(citizen["Rough   frequency"] - CALLER_HZ) < CALLER_HZ * 0.2
    assert abs(seat_side["Length (seconds)"] - one["duration"]) < 0.5


async def test_a_seat_hears_only_its_calls_and_every_fetch_is_audited(rec: Rec, answered):
    _, one = answered
    status, _, _ = await rec.get(one["url"], rec.other)
    assert status == 403
    status, _, _ = await rec.get(f"/api/v1/calls/{one['linkedid']}/recordings", rec.other)
    assert status == 403
    status, (headers, _), body = await rec.get(one["url"], rec.mine, Range="bytes=0-99")
    assert status == 206 and len(body) == 100
    assert headers["Content-Range"] == f"bytes 0-99/{one['size']}"
    t = AuditEntry.__table__

    async def audits() -> list[tuple]:
        def read() -> list[tuple]:
            with rec.site.engine_db().connect() as conn:
                q = select(t.c.actor, t.c.role, t.c.action, t.c.result).where(
                    t.c.target.in_([one["id"], one["linkedid"]])
                )
                return [tuple(x) for x in conn.execute(q.order_by(t.c.at))]

        return await asyncio.to_thread(read)

    expected = {
        ("G02", "seat", "recording_get", "error"),
        ("G02", "seat", "recording_list", "error"),
        (SEAT, "seat", "recording_get", "ok"),
        ("录音主管", "supervisor", "recording_get", "ok"),
        ("录音主管", "supervisor", "recording_list", "ok"),
    }
    seen = await scenes.wait_for(audits, lambda a: expected <= set(a), "the fetches' audit rows")
    assert {a[0] for a in seen} == {"G02", SEAT, "录音主管"}  # nobody else touched it


async def test_a_transferred_call_has_a_recording_per_leg(rec: Rec):
    site, seat = rec.site, "G03"
    async with (
        scenes.only(site, ["q-general"], [seat]),
        scenes.acting(site, seat, scenes.transferring(site, seat, "12333")),
        patient_expert(site),
    ):
        voice = alaw_tone(rec.tmp / "x.al", CALLER_HZ)  # a leg with no sound at all is not kept
        [p] = await scenes.place(site, ["12345"], audio=voice, name="rec-xfer")
    chain = await scenes.finished_legs(rec.site, p.record.linkedid, 2)
    legs = await rec.recordings(p.record.linkedid, 2)
    assert {x["linkedid"] for x in legs} == {p.record.linkedid}
    assert [x["seat"] for x in legs] == [c["seat"] for c in chain]  # the first, then the expert
    assert all(x["leg"] == "seat" and x["duration"] > 0 for x in legs)


async def test_a_whispering_supervisor_is_recorded_under_the_call(rec: Rec):
    site, sec = rec.site, rec.site.inst.secrets()
    seat, ext, number = "E-market1", "8105", "12315"  # the number reaches that seat first
    voice = alaw_tone(rec.tmp / "sup.al", SEAT_HZ)
    farm = SeatFarm(
        site.workdir / "rec-sup-farm",
        site.sip_server,
        {"8901": sec.supervisor_passwords["S01"], ext: sec.seat_passwords[seat]},
        {
            "8901": Behaviour("rec-supervisor", ring_ms=200, talk_ms=60000, audio=voice),
            ext: Behaviour("rec-spied", ring_ms=300, talk_ms=8000, audio=voice),
        },
        base_port=BASE + 2510,
    )
    assert all((await farm.start()).values())
    try:
        call = Call(caller_number(), "黄蓉", number)
        talk = asyncio.create_task(
            place_calls(
                site.workdir, site.sip_server, [call], bind=site.carrier_ip, name="rec-spied",
                timeout=90, audio=alaw_tone(rec.tmp / "spied.al", CALLER_HZ),
            )
        )  # fmt: skip
        await scenes.wait_for(
            lambda: rec.get(f"/api/v1/seats/{seat}", rec.sup),
            lambda r: yaml.safe_load(r[2]).get("state") == "talking",
            "the spied seat talking",
        )
        reply = await ApiClient(api_url(site, ""), rec.sup).seat_action(
            seat, "whisper", supervisor="S01"
        )
        assert reply["ok"]
        [result] = await talk
        assert result.outcome == "answered"
        rows = await site.wait_records([call.caller], timeout=30)
        linkedid = rows[call.caller][0].linkedid
        legs = await rec.recordings(linkedid, 2)
    finally:
        await farm.stop()
        await site.farm.register({ext: sec.seat_passwords[seat]}, tag="rec-restore-spied")
    by_leg = {x["leg"]: x for x in legs}
    assert by_leg["seat"]["seat"] == seat and by_leg["supervisor"]["seat"] == "S01"
    assert by_leg["supervisor"]["duration"] > 1


async def _reload(site: SimSite, recordings: dict[str, Any]) -> None:
    """Change the running site's `recordings:` section (SIGHUP, as an operator would)."""
    data = yaml.safe_load(site.inst.config_path.read_text(encoding="utf-8"))
    data["recordings"] = recordings
    site.inst.config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    site.inst.reload_config()
    assert site.engine_proc is not None
    os.kill(site.engine_proc.pid, signal.SIGHUP)


async def _health(rec: Rec, word: str, problem: str = "") -> dict:
    """/healthz once its recordings part says `word` (and names the `problem`)."""

    async def probe() -> dict:
        status, _, body = await rec.get("/healthz", rec.sup)
        return {"http": status, **yaml.safe_load(body)}

    def ok(h: dict) -> bool:
        part = h["recordings"]
        return part["status"] == word and problem in part.get("problem", "")

    return await scenes.wait_for(probe, ok, f"recordings {word} {problem}", 30)


async def test_a_store_that_cannot_take_recordings_leaves_calls_flowing(rec: Rec):
    site = rec.site
    blocker = rec.tmp / "a-file-not-a-folder"
    blocker.write_text("")
    try:
        await _reload(site, {"path": str(blocker)})
        h = await _health(rec, "degraded", "cannot write")
        assert h["http"] == 200 and h["status"] == "degraded"
        async with scenes.only(site, ["q-general"], ["G06"]):
            voice = alaw_tone(rec.tmp / "u.al", CALLER_HZ)
            [p] = await scenes.place(
                site, ["12345"], talk_ms=2000, audio=voice, name="rec-unwritable"
            )
        assert p.result.outcome == "answered" and p.record.seat == "G06"
        await _reload(site, {"min_free_mb": 100_000_000})  # a full disk, by the threshold
        h = await _health(rec, "degraded", "threshold")
        assert h["http"] == 200 and h["status"] == "degraded"
        # the engine's heartbeat carries it to the supervisors' monitor
        snap = await scenes.wait_for(
            lambda: rec.get("/api/v1/snapshot", rec.sup),
            lambda r: "threshold" in yaml.safe_load(r[2]).get("degraded", {}).get("recordings", ""),
            "recordings in the heartbeat's degraded parts",
        )
        assert snap[0] == 200
    finally:
        await _reload(site, {})
    await _health(rec, "ok")
    # what was recorded while the store could not take it is stored now
    [late] = await rec.recordings(p.record.linkedid, 1)
    assert late["seat"] == "G06" and late["duration"] > 1

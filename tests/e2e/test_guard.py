"""SIP password guessing on the real Asterisk: a guesser on its own address is banned after
the site's limit while the seats go on taking calls, the ban is audited and listed, the
right password from the banned address gets nowhere, and the ban expires."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import aiohttp
import pytest

from callcore.sim import sipp
from callcore.sim.site import SimSite
from tests.e2e import scenes
from tests.e2e.conftest import GUARD_BAN_SECONDS

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

GUESSER = "127.0.0.9"  # an address no seat, trunk or caller of the test site uses


async def token(site: SimSite, role: str) -> str:
    argv = [sys.executable, "-m", "callcore.cli", "--home", str(site.inst.home),
            "--config", str(site.inst.config_path), "token", "add", "--role", role,
            "--name", f"guard-{role}"]  # fmt: skip
    res = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


async def bans(site: SimSite, tok: str) -> list[dict]:
    url = f"http://{site.cfg.pbx.bind}:{site.cfg.pbx.api_port}/api/v1/bans"
    async with aiohttp.ClientSession() as http, http.get(
        url, headers={"Authorization": f"Bearer {tok}"}
    ) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["bans"]


async def guess(site: SimSite, ext: str, password: str, tag: str) -> str:
    port = next(scenes.SPECIAL_PORTS)
    out = await sipp.register_outcomes(
        site.workdir, site.sip_server, {ext: (password, port)}, tag=tag, bind=GUESSER,
        silent_ms=3000,
    )
    return out[ext]


async def test_a_password_guesser_is_banned_while_the_seats_take_calls(site: SimSite):
    sup = await token(site, "supervisor")
    ext = scenes.seat(site, "G06").extension
    seen = [await guess(site, ext, f"guess-{i}", f"guess{i}") for i in range(5)]
    assert seen[0] == "REJECTED"  # Asterisk answered the guesser until the limit
    listed = await scenes.wait_for(lambda: bans(site, sup), lambda b: bool(b), "the ban")
    assert [b["address"] for b in listed] == [GUESSER] and listed[0]["failures"] >= 5
    banned_at = time.monotonic()
    # the right password from the banned address is refused before any challenge
    assert await guess(site, ext, scenes.password(site, "G06"), "rightpw") == "FORBIDDEN"
    # the seats, on their own address, go on taking calls
    placed = await scenes.place(site, ["12345"], talk_ms=1500, name="while-banned")
    assert placed[0].result.outcome == "answered" and placed[0].record.seat
    acl = (site.inst.etc / "pjsip_bans.conf").read_text()
    assert f"deny = {GUESSER}/255.255.255.255" in acl
    # audited
    await scenes.wait_for(
        lambda: _audit(site),
        lambda rows: any(r["action"] == "ban" and r["target"] == GUESSER for r in rows),
        "the ban in the audit",
    )
    # and it expires: the guesser is answered again (with a 401, as before)
    await scenes.wait_for(lambda: bans(site, sup), lambda b: not b, "the ban to expire",
                          timeout=GUARD_BAN_SECONDS + 15)
    assert time.monotonic() - banned_at >= GUARD_BAN_SECONDS - 2
    assert await guess(site, ext, "guess-after", "after") == "REJECTED"
    await scenes.wait_for(
        lambda: _audit(site),
        lambda rows: any(r["action"] == "unban" and r["target"] == GUESSER for r in rows),
        "the unban in the audit",
    )


async def _audit(site: SimSite) -> list[dict]:
    from sqlalchemy import select

    from callcore.store.db import make_engine
    from callcore.store.models import AuditEntry

    def read() -> list[dict]:
        engine = make_engine(site.inst.db_url)
        try:
            with engine.connect() as conn:
                t = AuditEntry.__table__
                return [dict(r._mapping) for r in conn.execute(select(t.c.action, t.c.target))]
        finally:
            engine.dispose()

    return await asyncio.to_thread(read)

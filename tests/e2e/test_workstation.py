"""The seat workstation and the wallboard in a real browser (Debian's Chromium driven by
Playwright), against the real Asterisk with sipp callers and softphones: a call pops up
on the ringing seat's page within a second with the caller's previous call; pausing from
the page (by its keyboard shortcut) pauses the member in Asterisk and the live snapshot
shows it; a transfer from the page moves the caller; a knowledge-base search in Chinese
finds the article; the wallboard shows the live figures and keeps updating in place.
Each test saves a screenshot under its tmp dir and prints the path.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from callcore.records import Outcome
from callcore.sim.site import SimSite
from tests.e2e import scenes
from tests.e2e.conftest import caller_number
from tests.e2e.test_transfers import LONG, api_url, cli, leg, patient_expert, seat_token

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
playwright_api = pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

SEAT = "G02"  # the general seat on the page (the only one taking 12345 calls meanwhile)
CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/install-deps.sh); never downloaded


def masked(number: str) -> str:
    """What the page shows of a citizen's number (static/js/format.js)."""
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/install-deps.sh)")
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        await b.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sup_token(site: SimSite) -> str:
    return await cli(site, "token", "add", "--role", "supervisor", "--name", "ws-sup")


async def new_page(browser, width: int, height: int):  # type: ignore[no-untyped-def]
    """A page of its own context. The test's own probes (`wait_for_function`) are
    evaluated strings, which the page's CSP forbids for the page itself."""
    context = await browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", bypass_csp=True
    )
    return await context.new_page()


async def seat_page(browser, site: SimSite, token: str):  # type: ignore[no-untyped-def]
    """A 1366×768 page signed in as the seat, once its state and stream are up."""
    page = await new_page(browser, 1366, 768)
    page.on("pageerror", lambda exc: print("page error:", exc))
    await page.goto(api_url(site, "/workstation/"))
    await page.fill("#token", token)
    await page.press("#token", "Enter")
    await page.wait_for_selector("#desk:not([hidden])")
    await page.wait_for_function("document.getElementById('stream').hidden")
    await page.wait_for_function("!!document.querySelector('#xfer-targets button')")
    return page


async def shot(page, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=str(path))
    print(f"screenshot: {path}")


async def popped(page, caller: str, not_call: str = "") -> str:  # type: ignore[no-untyped-def]
    """Wait for the pop of a call of `caller` (other than `not_call`); it must show within
    a second of Asterisk's ring. Returns the call's linkedid."""
    await page.wait_for_function(
        "([before, c]) => !['', before].includes(document.getElementById('pop').dataset.call)"
        " && document.getElementById('pop-caller').textContent === c",
        arg=[not_call, masked(caller)],
        timeout=30000,
    )
    rang = float(await page.get_attribute("#pop", "data-rang-at") or 0)
    shown = float(await page.get_attribute("#pop", "data-shown-at") or 0)
    assert 0 <= shown - rang < 1.0, (rang, shown)  # from Asterisk's ring to the screen
    assert caller not in await page.inner_text("body")  # never the whole number
    return await page.get_attribute("#pop", "data-call") or ""


async def test_a_ringing_call_pops_up_with_the_caller_s_previous_call(
    site: SimSite, browser, tmp_path: Path
):
    token = await seat_token(site, SEAT)
    page = await seat_page(browser, site, token)
    caller = caller_number()
    async with scenes.only(site, ["q-general"], [SEAT]):
        placing = asyncio.create_task(
            scenes.place(site, ["12345"], callers=[caller], name="ws-first")
        )
        # the seat hangs up (the caller stays on to rate the call): the seat wraps up, the
        # page counts the time down
        await page.wait_for_selector("#wrapup:not([hidden])", timeout=30000)
        left = int(await page.inner_text("#wrapup-left"))
        assert 0 <= left <= site.cfg.zone("general").wrapup_seconds
        [first] = await placing
        assert first.record.seat == SEAT
        await page.wait_for_function(
            "document.getElementById('state').dataset.state === 'available'", timeout=15000
        )
        # the caller calls again: 首接负责制 rings this seat itself, before any queue
        second = asyncio.create_task(
            scenes.place(site, ["12345"], callers=[caller], talk_ms=3000, name="ws-second")
        )
        linkedid = await popped(page, caller, first.record.linkedid)
        await shot(page, tmp_path, "screen-pop")
        row = page.locator(f"#pop-previous tr[data-linkedid='{first.record.linkedid}']")
        assert await row.count() == 1
        assert "12345" in await row.inner_text()
        request = page.locator(f"#pop-requests li[data-request='{first.record.linkedid}']")
        assert "已受理" in await request.inner_text()  # the first call's request, still open
        assert await page.locator("#pop-flags .affinity").count() == 1
        assert await page.inner_text("#pop-zone") == site.cfg.zone("general").name
        [placed] = await second
    assert placed.record.seat == SEAT and placed.record.affinity
    assert linkedid == placed.record.linkedid
    # the seat's calls today list both, once the second has ended
    await page.wait_for_selector(f"#today tr[data-linkedid='{linkedid}']", timeout=15000)
    assert await page.locator(f"#today tr[data-linkedid='{first.record.linkedid}']").count() == 1
    await page.context.close()


async def test_pausing_from_the_page_pauses_the_member_in_asterisk(
    site: SimSite, browser, sup_token: str, tmp_path: Path
):
    token = await seat_token(site, SEAT)
    page = await seat_page(browser, site, token)
    await page.select_option("#reason", "meal")
    await page.keyboard.press("Alt+P")
    members = await scenes.wait_for(
        lambda: scenes.members(site, SEAT),
        lambda ms: bool(ms) and all(m["Paused"] == "1" for m in ms),
        f"{SEAT} paused in every queue",
    )
    assert {m.get("PausedReason", "") for m in members} == {"meal"}
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {sup_token}"}

        async def live_seat() -> dict:
            r = await http.get(api_url(site, "/api/v1/snapshot"), headers=auth)
            snap = await r.json()
            return next(s for s in snap["seats"] if s["seat"] == SEAT)

        seat = await scenes.wait_for(
            live_seat, lambda s: s["state"] == "paused", "the snapshot shows the pause"
        )
        assert seat["reason"] == "meal"
        await page.wait_for_function(
            "document.getElementById('state').dataset.state === 'paused'"
        )
        assert "就餐" in await page.inner_text("#state")
        await shot(page, tmp_path, "paused")
        await page.click("#lang")  # the English switch, and back
        assert (await page.inner_text("#state")).startswith("paused")
        assert "Resume" in await page.inner_text("#do-resume")
        await page.click("#lang")
        assert "恢复" in await page.inner_text("#do-resume")
        await page.keyboard.press("Alt+R")
        await scenes.wait_for(
            lambda: scenes.members(site, SEAT),
            lambda ms: all(m["Paused"] == "0" for m in ms),
            f"{SEAT} resumed",
        )
        await scenes.wait_for(live_seat, lambda s: s["state"] == "available", "resumed live")
    await page.context.close()


async def test_a_transfer_from_the_page_moves_the_caller(site: SimSite, browser, tmp_path: Path):
    token = await seat_token(site, SEAT)
    page = await seat_page(browser, site, token)
    caller = caller_number()
    start = lambda port: scenes.seat_actions.start_seat_behaviour(  # noqa: E731
        site.workdir, f"ws-long-{SEAT}", port, LONG
    )
    async with (
        scenes.only(site, ["q-general"], [SEAT]),
        scenes.acting(site, SEAT, start),
        patient_expert(site),
    ):
        call = asyncio.create_task(
            scenes.place(site, ["12345"], callers=[caller], name="ws-transfer")
        )
        await popped(page, caller)  # rung by the queue this time
        await page.wait_for_function(
            "document.getElementById('state').dataset.state === 'talking'", timeout=30000
        )
        await page.click("#xfer-targets button[data-target='12333']")
        await page.wait_for_function(
            "document.getElementById('xfer-msg').textContent.includes('已转接至')"
        )
        await shot(page, tmp_path, "transferred")
        [placed] = await call
    rec = placed.record
    assert placed.result.outcome == "answered"
    assert rec.outcome is Outcome.TRANSFERRED and rec.transfer_target == "q-hrss"
    chain = await scenes.finished_legs(site, rec.linkedid, 2)
    assert leg(chain, 0) == ("queue", "q-general", "", "", SEAT, "transferred")
    assert leg(chain, 1)[:4] == ("blind", "q-hrss", SEAT, "api")
    await page.context.close()


async def test_a_knowledge_search_in_chinese_finds_the_article(
    site: SimSite, browser, sup_token: str, tmp_path: Path
):
    article = {
        "id": "ws-gjj-yidi",
        "title": "异地购房提取住房公积金",
        "body": "在外地购买自住住房的职工，可凭购房合同和发票申请提取住房公积金。",
        "class_id": "gjj",
        "class_name": "住房公积金",
        "unit": "市住房公积金管理中心",
    }
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            api_url(site, "/api/v1/knowledge/articles"),
            json=article,
            headers={"Authorization": f"Bearer {sup_token}"},
        )
        assert r.status in (200, 201), await r.text()
    page = await seat_page(browser, site, await seat_token(site, SEAT))
    await page.keyboard.press("Alt+K")  # the shortcut puts the cursor in the search box
    assert await page.evaluate("document.activeElement.id") == "kb-q"
    await page.keyboard.type("异地购房提取")
    await page.keyboard.press("Enter")
    hit = page.locator("#kb-hits li", has_text=article["title"])
    await hit.wait_for(timeout=10000)
    text = await hit.inner_text()
    assert article["class_name"] in text and article["unit"] in text
    assert await hit.locator("mark").count() >= 1  # the matched words are marked
    await hit.locator("button").click()
    await page.wait_for_selector("#kb-article:not([hidden])")
    assert await page.inner_text("#kb-title") == article["title"]
    assert "购房合同和发票" in await page.inner_text("#kb-body")
    await shot(page, tmp_path, "knowledge")
    await page.context.close()


async def test_the_wallboard_shows_the_live_figures_and_updates(
    site: SimSite, browser, tmp_path: Path
):
    token = await cli(site, "token", "add", "--role", "seat", "--name", "wall", "--wallboard")
    page = await new_page(browser, 1920, 1080)
    await page.goto(api_url(site, f"/workstation/wallboard.html#token={token}"))
    await page.wait_for_function("Number(document.getElementById('wall').dataset.updates) >= 1")
    assert "token" not in page.url  # the token left the address bar
    queues = await page.locator("#wall-queues tbody tr").count()
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {token}"}
        r = await http.get(api_url(site, "/api/v1/queues"), headers=auth)
        assert queues == len((await r.json())["queues"]) > 1  # one row per queue
    offered = int(await page.inner_text("#f-offered"))
    nodes = await page.evaluate("document.getElementsByTagName('*').length")
    async with scenes.only(site, ["q-general"], ["G05"]):
        await scenes.place(site, ["12345"], callers=[caller_number()], name="ws-wall")
    await page.wait_for_function(
        "(n) => Number(document.getElementById('f-offered').textContent) > n",
        arg=offered,
        timeout=20000,
    )
    updates = int(await page.get_attribute("#wall", "data-updates") or 0)
    await page.wait_for_function(
        "(n) => Number(document.getElementById('wall').dataset.updates) >= n + 3", arg=updates
    )
    # refreshes replace text in place: the page has as many elements as before
    assert await page.evaluate("document.getElementsByTagName('*').length") == nodes
    assert await page.locator("#wall-queues tbody tr").count() == queues
    assert await page.is_hidden("#wall-stale")
    await shot(page, tmp_path, "wallboard")
    # the wallboard's token reads figures only: no seat's calls, no actions
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {token}"}
        r = await http.post(
            api_url(site, f"/api/v1/seats/{SEAT}/session"), json={"action": "logout"}, headers=auth
        )
        assert r.status == 403
        r = await http.get(api_url(site, "/api/v1/calls"), headers=auth)
        assert r.status == 200 and (await r.json())["calls"] == []
        r = await http.get(api_url(site, "/api/v1/snapshot"), headers=auth)
        assert r.status == 403
    await page.context.close()

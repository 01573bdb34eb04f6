"""Does the wallboard grow while it runs? Chromium (Debian's) shows the real page against
a stand-in API whose figures change on every fetch; after each interval the benchmark
collects garbage and reads the page's JS heap, DOM nodes and event listeners (Chrome
DevTools Protocol). No assertions; prints one line per sample.

    .venv/bin/python benchmarks/wallboard_memory.py [--minutes 10] [--every 500] [--queues 12]

At `--every 500` ten minutes are 1,200 refreshes, about 40 minutes of a wall screen at its
default pace (2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

from aiohttp import web
from playwright.async_api import async_playwright

from callcore.features.workstation.api import ASSETS

PORT = 18473
CHROMIUM = "/usr/bin/chromium"


def window(n: int) -> dict:
    figures = {
        "offered": n, "answered": n - n // 10, "abandoned": n // 10, "timeout": 0, "failed": 0,
        "in_progress": n % 3, "answered_within": n - n // 5, "sl15": 0.8 + (n % 20) / 100,
        "answer_rate": 0.9, "avg_wait": 5.0 + n % 7, "max_wait": 30.0, "avg_talk": 150.0,
    }  # fmt: skip
    return {"today": figures, "m15": figures, "m60": figures}


def stand_in(queues: int) -> web.Application:
    """The workstation's files and the three reads the wallboard makes, figures changing."""
    tick = itertools.count()

    async def files(req: web.Request) -> web.Response:
        a = ASSETS.get(req.match_info["path"] or "index.html")
        if a is None:
            raise web.HTTPNotFound()
        return web.Response(body=a.body, content_type=a.content_type.split(";")[0])

    async def profile(_: web.Request) -> web.Response:
        return web.json_response({"site": "bench", "timezone": "Asia/Shanghai"})

    async def queue_list(_: web.Request) -> web.Response:
        n = next(tick)
        return web.json_response({"at": time.time(), "waiting": [], "queues": [
            {"queue": f"q-{i}", "zone": str(i), "name": f"专区{i}", "kind": "queue",
             "waiting": (n + i) % 9, "longest_wait": float((n * i) % 90) or None,
             "seats": {"available": (n + i) % 5, "talking": i % 4, "paused": n % 2},
             "figures": window(n + i), "sl_alert": (n + i) % 7 == 0}
            for i in range(queues)
        ]})  # fmt: skip

    async def figures(_: web.Request) -> web.Response:
        return web.json_response({"totals": window(next(tick))})

    app = web.Application()
    app.router.add_get("/workstation/{path:.*}", files)
    app.router.add_get("/api/v1/workstation/profile", profile)
    app.router.add_get("/api/v1/queues", queue_list)
    app.router.add_get("/api/v1/figures", figures)
    return app


async def main(minutes: float, every: int, queues: int) -> None:
    runner = web.AppRunner(stand_in(queues), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT).start()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await page.goto(f"http://127.0.0.1:{PORT}/workstation/wallboard.html?every={every}#token=x")
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        print("minute  refreshes  js_heap_kb  dom_nodes  listeners")
        started = time.monotonic()
        for minute in range(int(minutes) + 1):
            if minute:
                await asyncio.sleep(max(0.0, started + 60 * minute - time.monotonic()))
            await cdp.send("HeapProfiler.collectGarbage")
            metrics = (await cdp.send("Performance.getMetrics"))["metrics"]
            m = {x["name"]: x["value"] for x in metrics}
            updates = await page.get_attribute("#wall", "data-updates")
            print(f"{minute:6d}  {updates:>9}  {m['JSHeapUsedSize'] / 1024:10.0f}  "
                  f"{m['Nodes']:9.0f}  {m['JSEventListeners']:9.0f}", flush=True)  # fmt: skip
        await browser.close()
    await runner.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--every", type=int, default=500, help="the wallboard's refresh, ms")
    ap.add_argument("--queues", type=int, default=12)
    a = ap.parse_args()
    asyncio.run(main(a.minutes, a.every, a.queues))

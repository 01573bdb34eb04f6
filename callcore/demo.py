"""`callcore demo`: a minute of a working day at the 12345 centre, on a real Asterisk.

Simulated seats register and log in across the zones; simulated citizens call 12345, kept
expert numbers, cancelled numbers (the 8-digit and the extension one included), 12366
(the tax sub-centre answers over its trunk) and a number nobody knows. Some citizens are
impatient. Then the store is read back and a table per number is printed.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from callcore.features.calls.present import make_console, print_per_number
from callcore.features.callsout import tasks as callbacks
from callcore.i18n import t
from callcore.instance import Instance
from callcore.sim.sipp import Behaviour, Call, place_calls
from callcore.sim.site import SimSite
from config.schema import Mode

NAMES = [
    "张伟",
    "王芳",
    "李娜",
    "刘洋",
    "陈静",
    "杨磊",
    "赵敏",
    "黄晓燕",
    "周建国",
    "吴丽华",
    "徐志强",
    "孙海峰",
    "马丽",
    "朱光明",
    "胡晓梅",
    "郭红",
    "何平",
    "高雪",
    "林峰",
    "罗娟",
]

# Seats mostly answer after a short ring; one general seat has stepped away from the desk.
PROMPT = Behaviour("prompt", ring_ms=2000, talk_ms=9000)
SLOW = Behaviour("slow", ring_ms=5000, talk_ms=12000)
AWAY = Behaviour("away", answer=False)
SUBCENTRE = Behaviour("subcentre", ring_ms=3000, talk_ms=8000)


def traffic(inst: Instance, seconds: int, rng: random.Random) -> list[Call]:
    cfg = inst.config
    kept = [h.number for h in cfg.hotlines if h.mode is Mode.RETAINED][:4]
    cancelled = ["12349", "81610000", "883486661", "96119"]
    weighted = (
        [("12345", 10)]
        + [(n, 2) for n in kept]
        + [(n, 1) for n in cancelled]
        + [("12366", 2), ("12399", 1)]
    )
    numbers = [n for n, w in weighted for _ in range(w)]
    count = max(len(weighted) + 4, int(seconds * 0.8))
    calls = []
    # every number at least once, then a realistic mix
    for i, n in enumerate([n for n, _ in weighted] + [rng.choice(numbers) for _ in range(count)]):
        calls.append(Call(f"1390000{i:04d}", rng.choice(NAMES), n))
    return calls


async def run(inst: Instance, *, seconds: int = 60, keep: bool = False, lang: str = "zh") -> bool:
    console = make_console()
    rng = random.Random(12345)
    site = SimSite(inst)
    say = console.print
    try:
        say("[bold]1.[/] Asterisk: provisioning and starting (the first run builds its root)…")
        await site.boot_asterisk()
        say(f"   {site.rt.version if site.rt else 'Asterisk'} on {site.sip_server}")
        say("[bold]2.[/] callcore engine: FastAGI routing, AMI tracking, request store…")
        await site.start_engine()
        say("[bold]3.[/] seats register with digest credentials and log in to their zones…")
        seats = inst.config.seats
        behaviour_of = {s.extension: PROMPT for s in seats}
        general = [s for s in seats if s.zone == inst.config.general_zone]
        behaviour_of[general[-1].extension] = AWAY
        behaviour_of[general[-2].extension] = SLOW
        registered = await site.start_seats(behaviour_of)
        say(f"   {sum(registered.values())}/{len(registered)} seats registered")
        await site.start_subcentre(SUBCENTRE)
        await site.wait_trunk("tax12366", True)
        say("   12366 sub-centre answering on its trunk")

        calls = traffic(inst, seconds, rng)
        patient = [c for i, c in enumerate(calls) if i % 7 != 3]
        impatient = [c for i, c in enumerate(calls) if i % 7 == 3]
        say(
            f"[bold]4.[/] {len(calls)} citizens call over about {seconds} s "
            f"({len(impatient)} of them hang up after a few seconds of waiting)…"
        )
        started = datetime.now(UTC)
        rate = len(calls) / seconds
        results = await asyncio.gather(
            place_calls(
                site.workdir,
                site.sip_server,
                patient,
                patience_ms=90000,
                rate=rate * len(patient) / len(calls),
                bind=site.carrier_ip,
                name="citizens",
                timeout=seconds + 240,
            ),
            place_calls(
                site.workdir,
                site.sip_server,
                impatient,
                patience_ms=4000,
                rate=rate * len(impatient) / len(calls),
                bind=site.carrier_ip,
                name="impatient",
                timeout=seconds + 240,
            ),
        )
        experienced = [r for group in results for r in group]
        by_caller = await site.wait_records([c.caller for c in calls], timeout=30, since=started)
        records = [r for rows in by_caller.values() for r in rows]
        say("[bold]5.[/] what happened (read back from the request store):")
        print_per_number(records, inst.config, lang, t("demo_title", lang), console)
        missing = [c for c, rows in by_caller.items() if len(rows) != 1]
        fallback = sum(1 for r in records if r.fallback)
        answered_by_caller = sum(1 for r in experienced if r.outcome == "answered")
        say(
            f"citizens who reached a human: {answered_by_caller}/{len(experienced)}; "
            f"calls stored: {len(records)} (missing or doubled: {len(missing)}); "
            f"routed by the static fallback: {fallback}"
        )
        figs = await asyncio.to_thread(callbacks.figures, site.engine_db(), datetime.now(UTC))
        say(f"callbacks (漏话回拨): {figs['open']} callers who gave up are on the callback list")
        say(
            f"store: {inst.db_url.split('://')[0]} at {inst.db_url.split('///')[-1]} — "
            f"`callcore calls --since 10m` lists them"
        )
        return not missing
    finally:
        await site.shutdown(keep=keep)

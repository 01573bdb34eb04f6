"""`callcore demo`: a minute of a working day at the 12345 centre, on a real Asterisk.

Simulated seats register and log in across the zones; simulated citizens call 12345, kept
expert numbers, cancelled numbers (the 8-digit and the extension one included), 12366
(the tax sub-centre answers over its trunk) and a number nobody knows. Some citizens are
impatient; most patient ones rate the call after the seat hangs up (一次一评). Then the
store is read back and a table per number is printed, with the rated share and 满意率, and
a few of the work orders the answered calls registered are dispatched and shown by unit.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from callcore.api.auth import add_token, remove_tokens
from callcore.api.registry import Role as TokenRole
from callcore.features.calls.present import make_console, print_per_number
from callcore.features.callsout import tasks as callbacks
from callcore.features.reports.cli import print_report
from callcore.features.reports.files import report_with_files
from callcore.features.reports.model import Range, Report
from callcore.features.reports.service import ReportService
from callcore.features.workorders.model import Action, Actor, Role, WorkOrder
from callcore.features.workorders.service import WorkOrderService
from callcore.i18n import t
from callcore.instance import Instance
from callcore.sim.sipp import Behaviour, Call, alaw_tone, place_calls
from callcore.sim.site import SimSite
from callcore.store.db import make_engine
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


async def _recorded(site: SimSite, records: list) -> int:
    """How many of the calls have a stored recording (the worker stores them within seconds)."""
    from sqlalchemy import func, select

    from callcore.features.recordings.tables import Recording

    t = Recording.__table__
    ids = [r.linkedid for r in records]
    q = select(func.count(func.distinct(t.c.linkedid))).where(t.c.linkedid.in_(ids))
    await asyncio.sleep(3)

    def count() -> int:
        with site.engine_db().connect() as conn:
            return int(conn.execute(q).scalar_one())

    return await asyncio.to_thread(count)


def demo_token(inst: Instance, seat_id: str) -> str:
    """A seat token to sign in to the workstation with (the previous demo's is revoked)."""
    name = f"demo-{seat_id}"
    inst.secrets()  # the file exists with its other secrets
    remove_tokens(inst.secrets_file, name)
    return add_token(inst.secrets_file, TokenRole.SEAT, name, seat_id)


# 一次一评: after the seat hangs up, most patient citizens press a key (RFC 2833) during
# the prompt (after the longest talk of any seat), some press none and hear it out.
RATE_AFTER_MS = max(PROMPT.talk_ms, SLOW.talk_ms) + 1500
RATINGS = (("rate-1", "1"), ("rate-2", "2"), ("rate-1b", "1"), ("rate-4", "4"), ("no-key", ""))


def rating_groups(calls: list[Call]) -> list[tuple[str, tuple[tuple[int, str], ...], list[Call]]]:
    """The callers split by the key each will press (none for `no-key`), one sipp run each."""
    out = []
    for n, (name, key) in enumerate(RATINGS):
        group = calls[n :: len(RATINGS)]
        if group:
            out.append((name, ((RATE_AFTER_MS, key),) if key else (), group))
    return out


def rating_summary(inst: Instance, since: datetime, lang: str) -> str:
    """How many of the demo's answered calls were rated, and the 满意率 (from the store)."""
    from callcore.features.ratings.service import RatingService
    from callcore.store import db

    engine = db.make_engine(inst.db_url)
    try:
        service = RatingService(engine, lambda rec: None, lambda: inst.config)
        figures = service.figures(since, datetime.now(UTC), "all").get("")
    finally:
        engine.dispose()
    if figures is None:
        return f"{t('ratings', lang)}: —"

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v * 100:.1f}%"

    return (
        f"{t('ratings', lang)}: {t('rated', lang)} {figures.rated}/{figures.answered}, "
        f"{t('rated_share', lang)} {pct(figures.rated_share)}, "
        f"{t('satisfaction', lang)} {pct(figures.satisfaction)} "
        f"({t('unsatisfied', lang)} {figures.rated - figures.satisfied})"
    )


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
        web = f"http://{inst.config.pbx.bind}:{inst.config.pbx.api_port}/workstation/"
        say(f"   seat workstation: {web} (wallboard: {web}wallboard.html)")
        say(f"   {general[0].id} signs in with the token {demo_token(inst, general[0].id)}")
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
        voice = alaw_tone(site.workdir / "citizen.al", 400)  # citizens speak: calls are recorded
        results = await asyncio.gather(
            *(
                place_calls(
                    site.workdir,
                    site.sip_server,
                    group,
                    patience_ms=90000,
                    rate=rate * len(group) / len(calls),
                    bind=site.carrier_ip,
                    name=f"citizens-{name}",
                    timeout=seconds + 240,
                    dtmf=presses,
                    audio=voice,
                )
                for name, presses, group in rating_groups(patient)
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
                audio=voice,
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
        say(f"calls recorded: {await _recorded(site, records)} (`callcore recording list`)")
        say(await asyncio.to_thread(rating_summary, inst, started, lang))
        say(
            f"store: {inst.db_url.split('://')[0]} at {inst.db_url.split('///')[-1]} — "
            f"`callcore calls --since 10m` lists them"
        )
        say("[bold]6.[/] work orders: a few of the answered calls' orders dispatched, by unit:")
        answered = [r.linkedid for r in records if r.answered_at and inst.config.seat(r.seat)]
        for line in await asyncio.to_thread(dispatch_a_few, inst, answered[:4], lang):
            say(line)
        say("[bold]7.[/] the run's own report (报表), from the store:")
        rep, files = await asyncio.to_thread(run_report, site, started)
        print_report(rep, console, only=["zone"])
        say("report files: " + ", ".join(str(p) for p in files))
        return not missing
    finally:
        await site.shutdown(keep=keep)


DEMO_REQUESTS = [("咨询", "咨询社保卡补办需要哪些材料"), ("投诉", "小区噪音夜间扰民"),
                 ("求助", "独居老人家中停水"), ("建议", "建议增加公交班次")]  # fmt: skip


def dispatch_a_few(inst: Instance, linkedids: list[str], lang: str) -> list[str]:
    """Complete and dispatch the orders of these calls (to their hotline's unit), and the
    lines that show them by unit with their deadlines (run in a thread)."""
    engine = make_engine(inst.db_url)
    try:
        service = WorkOrderService(engine, lambda: inst.config)
        actor = Actor("演示班长", Role.SUPERVISOR)
        sent = [_dispatch(service, actor, lid, i) for i, lid in enumerate(linkedids)]
    finally:
        engine.dispose()
    tz = ZoneInfo(inst.config.site.timezone)
    lines = []
    for unit in sorted({o.lead_unit for o in sent if o}):
        name = inst.config.workorders.unit(unit)
        lines.append(f"   {name.name if name else unit}:")
        for o in (o for o in sent if o and o.lead_unit == unit):
            due = o.deadline_at.astimezone(tz).strftime("%m-%d %H:%M") if o.deadline_at else "-"
            word = "办理时限" if lang == "zh" else "due"
            kind = o.type.value if o.type else ""
            lines.append(f"     {o.id}  {kind}  {o.content}  {word} {due}")
    return lines or ["   (no orders)"]


def _dispatch(service: WorkOrderService, actor: Actor, linkedid: str, i: int) -> WorkOrder | None:
    for _ in range(50):  # the engine registers the order a moment after the answer
        try:
            order = service.get(linkedid, actor)
            break
        except ValueError:
            time.sleep(0.1)
    else:
        return None
    type_, content = DEMO_REQUESTS[i % len(DEMO_REQUESTS)]
    service.complete(order.id, actor, {"content": content, "type": type_})
    lead = service.form_defaults(order.hotline)["lead"] or "renshe"
    return service.act(order.id, actor, Action.DISPATCH, {"lead": lead})
def run_report(site: SimSite, started: datetime) -> tuple[Report, list[Path]]:
    """The demo's calls as a manager's report, its xlsx and charts in the instance folder
    (in a thread: the rendering is seconds of CPU)."""
    tz = ZoneInfo(site.inst.config.site.timezone)
    start, end = started - timedelta(seconds=1), datetime.now(UTC) + timedelta(seconds=1)
    rng = Range(start.astimezone(tz), end.astimezone(tz))
    svc = ReportService(site.engine_db(), lambda: site.inst.config)
    return report_with_files(svc, rng, site.inst.home, ("zone", "number"), name="demo-report")

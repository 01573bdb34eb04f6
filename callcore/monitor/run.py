"""Running the monitor for a site: one snapshot (`--once`, `--json`) or the full screen."""

from __future__ import annotations

import asyncio
import json
import sys

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from callcore.api.client import ApiClient, api_url
from callcore.features import live
from callcore.features.live.keys import Keys
from callcore.features.live.snapshot import Snapshot, read_snapshot
from callcore.features.live.state import make_client
from callcore.features.reports.current import CurrentNeed, IntervalNeed
from callcore.features.reports.service import ReportService
from callcore.i18n import pause_reason
from callcore.instance import Instance
from callcore.monitor import view
from callcore.store import db


class Source:
    """Reads snapshots of one site from its Redis (one client, reused)."""

    def __init__(self, inst: Instance):
        self.inst = inst
        self.keys = Keys(live.namespace(inst))
        self.redis = make_client(live.redis_url(inst), timeout=1.0)

    async def read(self) -> Snapshot:
        return await read_snapshot(self.redis, self.keys, self.inst.config)

    async def close(self) -> None:
        await self.redis.aclose()


def current_need(inst: Instance) -> CurrentNeed:
    """Seats needed per zone this interval, from the store (once per interval)."""
    return CurrentNeed(ReportService(db.make_engine(inst.db_url), lambda: inst.config))


def zone_names(inst: Instance) -> dict[str, str]:
    return {z.id: z.name for z in inst.config.zones}


def once(inst: Instance, lang: str, as_json: bool) -> int:
    """`monitor --once`: one snapshot, with this interval's staffing unless as JSON (the
    JSON is the snapshot itself, as the API gives it)."""

    async def both() -> tuple[Snapshot, IntervalNeed | None]:
        snap = await one_snapshot(inst)
        if as_json:
            return snap, None
        need = current_need(inst)
        need.get()
        return snap, await need.wait()

    snap, need = asyncio.run(both())
    return print_once(snap, lang, as_json, need=need, names=zone_names(inst))


async def one_snapshot(inst: Instance) -> Snapshot:
    src = Source(inst)
    try:
        return await src.read()
    finally:
        await src.close()


def print_once(
    snap: Snapshot,
    lang: str,
    as_json: bool,
    console: Console | None = None,
    need: IntervalNeed | None = None,
    names: dict[str, str] | None = None,
) -> int:
    """Print one snapshot; exit status 0 when live figures are available, else 3."""
    if as_json:
        sys.stdout.write(json.dumps(snap.model_dump(mode="json"), ensure_ascii=False, indent=1))
        sys.stdout.write("\n")
        return 0 if snap.available else 3
    console = console or Console(width=200)
    text, alarm = view.banner(snap, lang)
    console.print(Text(text, style="bold white on dark_red" if alarm else "bold"))
    if snap.available:
        console.print(Text(view.highlights(snap, lang)))
        for table in (
            view.totals(snap, lang),
            view.queues(snap, lang),
            view.numbers(snap, lang),
            view.waiting(snap, lang),
            view.seats(snap, lang),
            view.staffing(snap, need, lang, names),
        ):
            rt = RichTable(title=table.title)
            for c in table.columns:
                rt.add_column(c)
            for key, row in table.rows:
                style = "bold white on dark_red" if key in table.alert_rows else None
                rt.add_row(*[Text(c) for c in row], style=style)
            console.print(rt)
    return 0 if snap.available else 3


def run_full_screen(
    inst: Instance, lang: str, token: str | None, api: str | None, supervisor: str | None
) -> None:
    from callcore.monitor.app import MonitorApp

    cfg = inst.config
    src = Source(inst)
    client = ApiClient(api_url(inst, api), token) if token else None
    app = MonitorApp(
        src.read,
        lang,
        refresh=cfg.live.refresh_seconds,
        act=client.seat_action if client else None,
        zones=[(z.id, z.name) for z in cfg.zones],
        reasons=[(r.id, pause_reason(r.id, lang, r.name)) for r in cfg.pause_reasons],
        supervisor=supervisor or (cfg.supervisors[0].id if cfg.supervisors else None),
        on_exit=src.close,
        need=current_need(inst).get,
        zone_names=zone_names(inst),
    )
    app.run()

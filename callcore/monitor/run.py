"""Running the monitor for a site: one snapshot (`--once`, `--json`) or the full screen."""

from __future__ import annotations

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
from callcore.i18n import pause_reason
from callcore.instance import Instance
from callcore.monitor import view


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


async def one_snapshot(inst: Instance) -> Snapshot:
    src = Source(inst)
    try:
        return await src.read()
    finally:
        await src.close()


def print_once(snap: Snapshot, lang: str, as_json: bool, console: Console | None = None) -> int:
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
        if snap.ratings is not None:
            console.print(Text(view.ratings_line(snap, lang)))
        for table in (
            view.totals(snap, lang),
            view.queues(snap, lang),
            view.numbers(snap, lang),
            view.waiting(snap, lang),
            view.seats(snap, lang),
            view.ratings(snap, lang),
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
    )
    app.run()

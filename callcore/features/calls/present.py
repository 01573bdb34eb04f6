"""How calls and figures look to people: terminal tables and JSON, in the site's time zone."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from callcore.i18n import outcome, t
from callcore.records import PUBLIC_FIELDS, CallRecord
from config.schema import SiteConfig
from queues.stats import Figures, group


def make_console() -> Console:
    """A console that does not squeeze tables into 80 columns when output is piped."""
    return Console() if sys.stdout.isatty() else Console(width=140)


def call_json(rec: CallRecord, tz: str) -> dict:
    zone = ZoneInfo(tz)
    d = rec.to_dict()
    out = {}
    for k in PUBLIC_FIELDS:
        v = d[k]
        if isinstance(v, datetime):
            v = v.astimezone(zone).isoformat(timespec="milliseconds")
        out[k] = v
    return out


def _time(v: datetime | None, zone: ZoneInfo) -> str:
    return v.astimezone(zone).strftime("%m-%d %H:%M:%S") if v else ""


def _num(v: float | None, digits: int = 1) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v * 100:.1f}%"


def print_calls(
    records: list[CallRecord], cfg: SiteConfig, lang: str, console: Console | None = None
) -> None:
    console = console or make_console()
    if not records:
        console.print(t("no_calls", lang))
        return
    zone = ZoneInfo(cfg.site.timezone)
    table = Table(title=t("calls_title", lang))
    for key in (
        "time",
        "caller",
        "name",
        "dialed",
        "hotline",
        "route",
        "wait",
        "talk",
        "seat",
        "outcome",
        "fallback",
    ):
        table.add_column(t(key, lang))
    for r in records:
        # caller-supplied text is shown literally: no markup, no control characters
        table.add_row(
            _time(r.entered_at, zone),
            escape(r.caller_number),
            escape(r.caller_name),
            escape(r.dialed_number),
            escape(r.hotline_name or t("unknown_number", lang)),
            r.route,
            _num(r.wait_seconds),
            _num(r.talk_seconds),
            r.seat,
            outcome(r.outcome.value if r.outcome else None, lang),
            t("yes", lang) if r.fallback else "",
        )
    console.print(table)


def per_number(records: Iterable[CallRecord], cfg: SiteConfig) -> list[tuple[str, str, Figures]]:
    """Figures per directory number, in directory order, unknown numbers last."""
    by = group(records, lambda r: r.hotline or "", cfg.site.targets.answer_seconds)
    rows = [(h.number, h.name, by[h.number]) for h in cfg.hotlines if h.number in by]
    if "" in by:
        rows.append(("", "", by[""]))
    return rows


def print_per_number(
    records: list[CallRecord],
    cfg: SiteConfig,
    lang: str,
    title: str,
    console: Console | None = None,
) -> None:
    console = console or make_console()
    table = Table(title=title)
    for key in ("number", "hotline", "offered", "answered", "abandoned", "avg_wait", "sl15"):
        table.add_column(t(key, lang), justify="right" if key not in ("hotline",) else "left")
    total = Figures()
    for number, name, f in per_number(records, cfg):
        table.add_row(
            number or "—",
            name or t("unknown_number", lang),
            str(f.offered),
            str(f.answered),
            str(f.abandoned),
            _num(f.avg_wait),
            _pct(f.sl),
        )
    for r in records:
        total.add(r, cfg.site.targets.answer_seconds)
    table.add_section()
    table.add_row(
        "",
        t("total", lang),
        str(total.offered),
        str(total.answered),
        str(total.abandoned),
        _num(total.avg_wait),
        _pct(total.sl),
    )
    console.print(table)

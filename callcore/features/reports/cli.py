"""`callcore report`: figures for a day, week, month or any range, staffing and forecasts,
exports, and figures from queue_log alone.

The group finds the store and the site config in its click context: mounted under
`callcore`, `ctx.obj.inst` (the instance: `db_url`, `config`); standalone, `--db` and
`--config` (or CALLCORE_DB_URL / CALLCORE_CONFIG).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

import config as site_config
from callcore.store import db
from config.schema import SiteConfig

from . import charts, export, queuelog
from .model import Grouping, Range, Report, resolve_range
from .service import ReportService, Staffing

# The columns the terminal shows (every figure is in the exports and --json).
SHOWN = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "answer_rate",
    "sl15",
    "timely_rate",
    "avg_wait",
    "p90_wait",
    "avg_reach",
    "aht",
    "transfers",
    "occupancy",
)


@dataclass
class _Env:
    db_url: str
    config: SiteConfig


@click.group("report")
@click.option("--db", "db_url", envvar="CALLCORE_DB_URL", help="The store (default: instance's).")
@click.option("--config", "config_path", envvar="CALLCORE_CONFIG", type=click.Path())
@click.pass_context
def report(ctx: click.Context, db_url: str | None, config_path: str | None) -> None:
    """Reports from the store: figures, staffing, exports (报表)."""
    inst = getattr(ctx.obj, "inst", None)
    if db_url is None and inst is None:
        raise click.UsageError("no store: give --db (or run as `callcore report`)")
    cfg = site_config.load(config_path) if config_path or inst is None else inst.config
    ctx.obj = _Env(db_url or inst.db_url, cfg)


def _range(
    cfg: SiteConfig,
    day: str | None,
    week: str | None,
    month: str | None,
    start: str | None,
    end: str | None,
) -> Range:
    tz = cfg.site.timezone
    try:
        if day or week or month:
            kind = "day" if day else "week" if week else "month"
            return resolve_range(kind, tz, date.fromisoformat(day or week or month or ""))
        if start and end:
            return resolve_range("range", tz, start=_when(start), end=_when(end))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    raise click.UsageError("give --day, --week or --month DATE, or --from and --to")


def _when(text: str) -> date | datetime:
    return datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)


def _range_options(fn: Any) -> Any:
    for opt in reversed(
        [
            click.option("--day", help="A day, YYYY-MM-DD."),
            click.option("--week", help="The week (Monday to Sunday) holding this day."),
            click.option("--month", help="The month holding this day."),
            click.option("--from", "start", help="From a day (or an ISO time)."),
            click.option("--to", "end", help="To a day, inclusive (or an ISO time, exclusive)."),
        ]
    ):
        fn = opt(fn)
    return fn


def _service(env: _Env) -> ReportService:
    engine = db.make_engine(env.db_url)
    db.upgrade(engine)
    return ReportService(engine, lambda: env.config)


def _fmt(value: Any, fid: str) -> str:
    if value is None:
        return "—"
    if fid in ("answer_rate", "sl15", "timely_rate", "occupancy"):
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _console() -> Console:
    """The terminal's width; wide when piped (the tables have many columns)."""
    return Console() if sys.stdout.isatty() else Console(width=220)


def print_report(
    rep: Report, console: Console | None = None, only: Sequence[str] | None = None
) -> None:
    """The report in the terminal: a table per grouping (or those in `only`), the total,
    the worst 24 hours."""
    console = console or _console()
    headers = dict(rep.columns())
    zh = rep.lang == "zh"
    shown = [(g, rows) for g, rows in rep.groups.items() if only is None or g in only]
    for grouping, rows in [*shown, ("", [])]:
        title = (
            export.grouping_title(grouping, rep.lang) if grouping else ("总计" if zh else "total")
        )
        table = Table(title=f"{rep.range.label()} {title}", show_lines=False)
        table.add_column("项目" if zh else "group")
        for fid in SHOWN:
            table.add_column(headers[fid], justify="right")
        for r in [*rows, rep.total]:
            if grouping == "interval" and r.figures["offered"] == 0:
                continue
            table.add_row(r.label, *[_fmt(r.figures[f], f) for f in SHOWN])
        console.print(table)
    w = rep.worst24
    if w is not None:
        label = "最差连续24小时接通率" if zh else "worst continuous 24 h connection rate"
        console.print(
            f"{label}: {w.rate * 100:.2f}%  ({w.answered}/{w.offered})  "
            f"{w.start:%Y-%m-%d %H:%M:%S} ~ {w.end:%Y-%m-%d %H:%M:%S}"
        )
    if rep.absent:
        label = "暂无数据来源" if zh else "no source yet"
        console.print(f"{label}: " + ", ".join(headers[f] for f in rep.absent))


@report.command("show")
@_range_options
@click.option(
    "--by",
    default="interval,zone,number",
    show_default=True,
    help="Groupings: interval, day, week, number, unit, zone, seat.",
)
@click.option("--interval", type=click.Choice(["15", "30", "60"]), default="30", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]))
@click.option("--json", "as_json", is_flag=True, help="The whole report as JSON.")
@click.option("--xlsx", type=click.Path(dir_okay=False), help="Write the xlsx here.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), help="Write CSVs here.")
@click.option("--charts", "charts_dir", type=click.Path(file_okay=False), help="PNG charts here.")
@click.pass_obj
def show(
    env: _Env,
    day,
    week,
    month,
    start,
    end,
    by: str,
    interval: str,
    lang: str | None,
    as_json: bool,
    xlsx: str | None,
    csv_dir: str | None,
    charts_dir: str | None,
) -> None:
    """Figures of the calls that arrived in a range, in total and per grouping."""
    try:
        groupings = [Grouping(g.strip()) for g in by.split(",") if g.strip()]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--by") from None
    rng = _range(env.config, day, week, month, start, end)
    rep = _service(env).report(rng, groupings, int(interval), lang)
    written: list[Path] = []
    if xlsx:
        written.append(export.to_xlsx(rep, Path(xlsx)))
    if csv_dir:
        written += export.write_csv(rep, Path(csv_dir))
    if charts_dir:
        written += charts.write_charts(rep, Path(charts_dir))
    if as_json:
        click.echo(export.to_json(rep))
    else:
        print_report(rep)
    for path in written:
        click.echo(str(path), err=as_json)


def _print_staffing(s: Staffing, lang: str) -> None:
    zh = lang == "zh"
    kind = {"observed": ("实际话务", "observed"), "forecast": ("预测", "forecast")}[s.kind]
    table = Table(title=f"{s.day} {kind[0] if zh else kind[1]} (Erlang C / A)")
    heads = ("时段 专区", "呼入", "每小时", "处理时长", "耐心", "需 C", "需 A", "签入", "可接")
    eng = (
        "slot zone",
        "calls",
        "per hour",
        "AHT",
        "patience",
        "need C",
        "need A",
        "logged in",
        "staffed",
    )
    for h in heads if zh else eng:
        table.add_column(h, justify="right")
    for r in s.rows:
        if not (r.offered or r.logged_in):
            continue
        table.add_row(
            f"{r.slot} {r.zone}",
            f"{r.offered:.1f}",
            f"{r.per_hour:.0f}",
            _fmt(r.aht, ""),
            _fmt(r.patience, ""),
            str(r.needed_c),
            str(r.needed_a),
            f"{r.logged_in:.1f}",
            f"{r.staffed:.1f}",
        )
    _console().print(table)


@report.command("staffing")
@click.option("--day", required=True, help="The day, YYYY-MM-DD.")
@click.option("--forecast", is_flag=True, help="From the same weekday of the weeks before.")
@click.option("--weeks", default=4, show_default=True, help="Weeks of history for a forecast.")
@click.option("--interval", type=click.Choice(["15", "30", "60"]), default="30", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def staffing(env: _Env, day: str, forecast: bool, weeks: int, interval: str, as_json: bool) -> None:
    """Seats needed per interval and zone for the site's targets, beside those logged in."""
    try:
        when = date.fromisoformat(day)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--day") from None
    svc = _service(env)
    s = svc.forecast(when, weeks, int(interval)) if forecast else svc.staffing(when, int(interval))
    if as_json:
        click.echo(json.dumps(s.as_dict(), ensure_ascii=False, indent=1))
    else:
        _print_staffing(s, env.config.site.lang)


@report.command("rollups")
@click.option("--from", "start", help="First day, YYYY-MM-DD (default: five weeks ago).")
@click.option("--to", "end", help="Last day, inclusive (default: today).")
@click.pass_obj
def keep_rollups(env: _Env, start: str | None, end: str | None) -> None:
    """Build or refresh the kept days reports read (汇总); unchanged days are left alone."""
    try:
        first, last = (date.fromisoformat(x) if x else None for x in (start, end))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if first and last and first > last:
        raise click.BadParameter(f"--from {first} is after --to {last}")
    for day, what in _service(env).keep_rollups(first, last):
        click.echo(f"{day} {what}")


@report.command("queue-log")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@_range_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def queue_log(env: _Env, path: str, day, week, month, start, end, as_json: bool) -> None:
    """Figures per queue from Asterisk's queue_log alone (as queue tools read it)."""
    rng = _range(env.config, day, week, month, start, end)
    answer = env.config.site.targets.answer_seconds
    per = queuelog.read(Path(path), rng.start.timestamp(), rng.end.timestamp(), answer)
    data = {q: f.as_dict() for q, f in sorted(per.items())}
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=1))
        return
    for q, f in data.items():
        click.echo(
            f"{q}: offered {f['offered']}, answered {f['answered']}, abandoned "
            f"{f['abandoned']}, timeout {f['timeout']}, avg wait "
            f"{_fmt(f['avg_wait'], '')} s, SL15 {_fmt(f['sl15'], 'sl15')}"
        )

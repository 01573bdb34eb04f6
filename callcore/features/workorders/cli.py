"""`callcore request`: work orders (工单) for operators — list, show, act, export, figures.

Works on the instance's store directly (migrated first), as the supervisor named by
`--by` unless `--role`/`--unit`/`--seat` say otherwise, so the same lifecycle rules as the
API apply. Words are Chinese unless `--lang en`; reads of orders are audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from callcore.commands import Context, fail, nudge_engine, open_store, pass_ctx
from callcore.features.workorders import api as wo_api
from callcore.features.workorders import export, model
from callcore.features.workorders.model import Actor, WorkOrder, WorkOrderError
from callcore.features.workorders.service import WorkOrderService
from callcore.store import audit

LANG = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
AS_JSON = click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
_HEAD = {
    "zh": ("工单号", "状态", "类型", "紧急程度", "主办单位", "办理时限", "诉求内容"),
    "en": ("order", "state", "type", "urgency", "lead unit", "deadline", "content"),
}


@contextmanager
def _service(c: Context, lang: str) -> Iterator[WorkOrderService]:
    engine = open_store(c.inst)
    try:
        yield WorkOrderService(engine, lambda: c.inst.config)
    except WorkOrderError as exc:
        fail(exc.message(lang), 2)
    finally:
        engine.dispose()


def _local(value: datetime | None, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if value else "-"


def _row(o: WorkOrder, lang: str, tz: str) -> str:
    type_ = (model.TYPE_LABELS[o.type] if lang == "en" else o.type.value) if o.type else "-"
    urgency = model.URGENCY_LABELS[o.urgency] if lang == "en" else o.urgency.value
    cells = (o.id, model.label(o.state, lang), type_, urgency, o.lead_unit or "-",
             _local(o.deadline_at, tz), o.content[:30])  # fmt: skip
    return "  ".join(cells)


@click.group("request")
def request_group() -> None:
    """Work orders (工单): registered on each answered call; 受理→派单→办理→回访→办结."""


@request_group.command("list")
@click.option("--status", help="States, comma-separated (registered, dispatched, …).")
@click.option("--unit", help="Lead or assisting unit.")
@click.option("--type", "type_", help="诉求类型 (咨询, 求助, 投诉, 举报, 建议, 表扬, 其他).")
@click.option("--urgency", help="一般, 紧急, 特急.")
@click.option("--district")
@click.option("--hotline", help="The number dialed (12345, 12333, …).")
@click.option("--overdue/--not-overdue", default=None)
@click.option("--since", type=click.DateTime(), help="Registered at or after (local).")
@click.option("--limit", default=200, show_default=True)
@AS_JSON
@LANG
@pass_ctx
def request_list(c: Context, as_json: bool, lang: str, **kw: Any) -> None:
    """Work orders, newest first, with filters."""
    q = {k: v for k, v in kw.items() if v is not None}
    if "type_" in q:
        q["type"] = q.pop("type_")
    if "status" in q:
        q["states"] = [s.strip() for s in q.pop("status").split(",")]
    if "since" in q:
        q["since"] = _aware(q["since"], c)
    actor = Actor("cli", model.Role.SUPERVISOR)
    tz = c.inst.config.site.timezone
    with _service(c, lang) as s:
        orders = s.query(actor, q)
        audit.write(s.engine, "cli", "cli", "workorder_list", "", {"filters": q})
        if as_json:
            click.echo(json.dumps([s.describe(o, actor) for o in orders], ensure_ascii=False))
            return
    click.echo("  ".join(_HEAD[lang]))
    for o in orders:
        click.echo(_row(o, lang, tz))


def _aware(value: datetime, c: Context) -> datetime:
    return value.replace(tzinfo=ZoneInfo(c.inst.config.site.timezone))


@request_group.command("show")
@click.argument("request_id")
@AS_JSON
@LANG
@pass_ctx
def request_show(c: Context, request_id: str, as_json: bool, lang: str) -> None:
    """One work order with its history."""
    actor = Actor("cli", model.Role.SUPERVISOR)
    tz = c.inst.config.site.timezone
    with _service(c, lang) as s:
        order = s.get(request_id, actor)
        history = s.history(request_id, actor)
        audit.write(s.engine, "cli", "cli", "workorder_view", request_id, {})
        view = s.describe(order, actor)
    if as_json:
        events = [wo_api.event_out(e).model_dump(mode="json") for e in history]
        click.echo(json.dumps({"request": view, "history": events}, ensure_ascii=False))
        return
    click.echo(_row(order, lang, tz))
    for e in history:
        who = f"{e.actor}({e.unit})" if e.unit else e.actor
        click.echo(f"  {e.seq:>3} {_local(e.at, tz)}  {model.label(e.action, lang)}  {who}  "
                   f"{model.label(e.to_state, lang)}  {e.note[:40]}")  # fmt: skip


@request_group.command("act")
@click.argument("request_id")
@click.argument("action", type=click.Choice([a.value for a in model.ACTOR_ACTIONS]))
@click.option("--lead", help="派单/改派: the lead unit.")
@click.option("--assist", "assisting", multiple=True, help="派单/改派: an assisting unit.")
@click.option("--note")
@click.option("--reason", help="退单/延期: why.")
@click.option("--result", help="办结反馈/直接办结: the result.")
@click.option("--days", "working_days", type=int, help="延期: working days.")
@click.option("--hours", type=int, help="延期: hours.")
@click.option("--satisfaction", help="回访: 非常满意 … 非常不满意.")
@click.option("--master", help="并单: the order this one is merged into.")
@click.option("--by", default="cli", show_default=True, help="Who acts (kept in the history).")
@click.option("--role", type=click.Choice([r.value for r in model.Role]), default="supervisor",
              show_default=True)  # fmt: skip
@click.option("--unit", help="A department's unit (with --role department).")
@click.option("--seat", help="A seat's id (with --role seat).")
@LANG
@pass_ctx
def request_act(c: Context, request_id: str, action: str, by: str, role: str, unit: str | None,
                seat: str | None, lang: str, **params: Any) -> None:  # fmt: skip
    """Take a step of the lifecycle (the same rules as the API decide what is allowed)."""
    try:
        actor = Actor(by, model.Role(role), seat=seat, unit=unit)
    except ValueError as exc:
        fail(str(exc), 2)
    given = {k: v for k, v in params.items() if v not in (None, ())}
    if "assisting" in given:
        given["assisting"] = list(given["assisting"])
    with _service(c, lang) as s:
        order = s.act(request_id, actor, action, given)
        view = s.describe(order, actor)
    nudge_engine(c.inst)  # first-contact routing follows open orders
    click.echo(json.dumps(view, ensure_ascii=False))


@request_group.command("export")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), required=True, help="The local day.")
@click.option("--out", "folder", type=click.Path(file_okay=False, path_type=Path),
              help="Folder (default: <home>/exports/workorders).")  # fmt: skip
@LANG
@pass_ctx
def request_export(c: Context, day: datetime, folder: Path | None, lang: str) -> None:
    """Write the day's batch (JSON Lines and CSV) of work orders with their calls."""
    folder = folder or c.inst.home / "exports" / "workorders"
    with _service(c, lang) as s:
        batch = export.write_day(s.engine, day.date(), s.timezone(), folder, "cli")
    word = "条工单" if lang == "zh" else "orders"
    click.echo(f"{batch.day}: {batch.orders} {word}\n{batch.jsonl}\n{batch.csv}")


@request_group.command("figures")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First local day.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last local day (included).")
@AS_JSON
@LANG
@pass_ctx
def request_figures(
    c: Context, since: datetime | None, until: datetime | None, as_json: bool, lang: str
) -> None:
    """Figures per unit and per class: on-time, return, extension, satisfaction, open,
    overdue."""
    q = wo_api.FiguresQuery(since=_day(since), until=_day(until))
    with _service(c, lang) as s:
        got = wo_api.figures(s, Actor("cli", model.Role.SUPERVISOR), q)
    if as_json:
        click.echo(got.model_dump_json())
        return
    head = _FIG_HEAD[lang]
    for title, rows in ((head[0], got.units), (head[1], got.classes)):
        click.echo(f"{title} {got.since} – {got.until}")
        click.echo("  ".join(head[2:]))
        for f in rows:
            click.echo("  ".join(str(x) for x in (
                f.name, f.dispatched, _pct(f.on_time_rate), _pct(f.return_rate),
                _pct(f.extension_rate), _pct(f.satisfaction_rate), f.open, f.overdue,
            )))  # fmt: skip


_FIG_HEAD = {
    "zh": ("按单位", "按分类", "名称", "派单", "按时办结率", "退单率", "延期率", "满意率",
           "在办", "超期"),
    "en": ("by unit", "by class", "name", "dispatched", "on time", "returned", "extended",
           "satisfied", "open", "overdue"),
}  # fmt: skip


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"

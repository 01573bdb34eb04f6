"""Command-line commands of the seats side: seat status and history, transfers, requests
(诉求) and the enterprise register. Registered on `callcore` by `callcore.cli`.

Pause, resume, log off and move go through the supervisors' audited path
(`callcore supervise …`); log in / log out and status here act on Asterisk directly, so an
operator can bring seats up with the engine down.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
from rich.markup import escape
from rich.table import Table

from callcore import enterprises, requests
from callcore.instance import Instance
from seats.states import SeatState, state_label

T = TypeVar("T")
# The CLI's context object (callcore.cli._Ctx: `.inst`); not imported, as `python -m
# callcore.cli` runs that module as __main__ and it imports this one.
pass_ctx = click.pass_obj
_parse_since: Callable[[str | None, str], Any] = lambda text, tz: None  # noqa: E731


def _db(inst: Instance):  # type: ignore[no-untyped-def]
    from callcore.store import db

    engine = db.make_engine(inst.db_url)
    db.upgrade(engine)
    return engine


def _nudge_engine(inst: Instance) -> bool:
    """Tell a running engine to re-read the registers it keeps in memory (SIGHUP)."""
    try:
        pid = int((inst.run / "callcore.pid").read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return False
    return True


def _with_ami(inst: Instance, work: Callable[[Any], Awaitable[T]]) -> T:
    from callcore.app import one_shot_session

    async def go() -> T:
        ami = await one_shot_session(inst)
        try:
            return await work(ami)
        finally:
            await ami.close()

    return asyncio.run(go())


def _fail(msg: str, code: int = 1) -> None:
    click.echo(msg, err=True)
    raise SystemExit(code)


# -- seats ----------------------------------------------------------------------------------


@click.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Labels (default: the site's).")
@pass_ctx
def seat_status(c: Any, as_json: bool, lang: str | None) -> None:
    """Every seat's state now: from Asterisk (QueueStatus) and, for 'since', the store."""
    from seats.history import last_changes
    from seats.sessions import queue_members
    from seats.states import SeatBoard

    cfg = c.inst.config
    engine = _db(c.inst)
    try:
        last = last_changes(engine)
    finally:
        engine.dispose()
    members = _with_ami(c.inst, queue_members)
    board = SeatBoard(lambda: cfg, lambda _change: None, schedule=lambda *_: None)
    board.apply_snapshot(members, last)
    statuses = board.statuses()
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in statuses], ensure_ascii=False, indent=1))
        return
    lang = lang or cfg.site.lang
    zh = lang == "zh"
    table = Table(title="座席状态" if zh else "Seats")
    for head in (
        ("座席", "姓名", "专区", "状态", "原因", "开始")
        if zh
        else ("seat", "name", "zone", "state", "reason", "since")
    ):
        table.add_column(head)
    reasons = {r.id: r.name for r in cfg.pause_reasons}
    tz = ZoneInfo(cfg.site.timezone)
    for s in statuses:
        reason = reasons.get(s.reason, s.reason) if zh else s.reason
        since = s.since.astimezone(tz).strftime("%m-%d %H:%M:%S") if s.since else ""
        table.add_row(s.seat, escape(s.name), s.zone, state_label(s.state, lang), reason, since)
    from callcore.present import make_console

    make_console().print(table)


@click.command("history")
@click.argument("seat_id")
@click.option("--since", help="ISO time, 'today', or an age such as 30m, 2h, 7d.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def seat_history(c: Any, seat_id: str, since: str | None, as_json: bool) -> None:
    """A seat's changes of state, oldest first, from the store."""
    from seats.history import changes

    cfg = c.inst.config
    if cfg.seat(seat_id) is None:
        _fail(f"unknown seat {seat_id!r}")
    engine = _db(c.inst)
    try:
        rows = changes(engine, seat_id, _parse_since(since, cfg.site.timezone))
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=1))
        return
    tz = ZoneInfo(cfg.site.timezone)
    for r in rows:
        label = state_label(SeatState(r.state), cfg.site.lang)
        click.echo(
            f"{r.at.astimezone(tz).isoformat(timespec='seconds')}  {label} {r.reason}"
            f"  ({r.source}{', ' + r.linkedid if r.linkedid else ''})"
        )


# -- transfers --------------------------------------------------------------------------------


@click.group("transfer", invoke_without_command=True)
@click.argument("seat_id", required=False)
@click.argument("target", required=False)
@click.option(
    "--attended",
    is_flag=True,
    help="Consult the target first (complete with "
    "`callcore transfer complete SEAT`, or by hanging up).",
)
@click.pass_context
def transfer_group(
    ctx: click.Context, seat_id: str | None, target: str | None, attended: bool
) -> None:
    """Transfer a seat's caller to a hotline number or a zone's transfer code."""
    if ctx.invoked_subcommand is not None:
        return
    if not seat_id or not target:
        _fail("usage: callcore transfer SEAT TARGET [--attended] | transfer complete SEAT")
    from seats.sessions import SeatError
    from seats.transfers import transfer

    c: Any = ctx.obj
    cfg = c.inst.config
    seat = cfg.seat(seat_id or "")
    if seat is None:
        _fail(f"unknown seat {seat_id!r}")
    try:
        chan = _with_ami(
            c.inst,
            lambda ami: transfer(
                ami, cfg, seat.extension, target or "", attended=attended, via="cli"
            ),
        )
    except SeatError as exc:
        _fail(f"{exc.code}: {exc}", 2)
    click.echo(f"{seat.id}: {'attended' if attended else 'blind'} transfer to {target} ({chan})")


@transfer_group.command("complete")
@click.argument("seat_id")
@pass_ctx
def transfer_complete(c: Any, seat_id: str) -> None:
    """Complete a seat's attended transfer (its own leg hangs up)."""
    from seats.sessions import SeatError
    from seats.transfers import complete_attended

    seat = c.inst.config.seat(seat_id)
    if seat is None:
        _fail(f"unknown seat {seat_id!r}")
    try:
        chan = _with_ami(c.inst, lambda ami: complete_attended(ami, seat.extension))
    except SeatError as exc:
        _fail(f"{exc.code}: {exc}", 2)
    click.echo(f"{seat_id}: transfer completed ({chan})")


# -- requests ---------------------------------------------------------------------------------


@click.group("request")
def request_group() -> None:
    """Requests (诉求): one per answered call; move them along 受理→派单→办理→回访→办结."""


@request_group.command("list")
@click.option("--caller")
@click.option("--seat")
@click.option("--open", "open_only", is_flag=True, help="Only requests still open.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def request_list(
    c: Any, caller: str | None, seat: str | None, open_only: bool, as_json: bool
) -> None:
    engine = _db(c.inst)
    try:
        rows = requests.query(engine, caller=caller, seat=seat, open_only=open_only)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=1))
        return
    for r in rows:
        label = requests.LABELS[requests.Status(r.status)][0]
        click.echo(f"{r.id}  {r.caller_number}  {r.seat}  {label}  {r.note}")


@request_group.command("set")
@click.argument("request_id")
@click.argument("status", type=click.Choice([s.value for s in requests.Status]))
@click.option("--note", default="", help="What was done (kept with the request).")
@click.option("--by", default="cli", show_default=True, help="Who changes it.")
@pass_ctx
def request_set(c: Any, request_id: str, status: str, note: str, by: str) -> None:
    """Change a request's status (the lifecycle decides which changes are allowed)."""
    engine = _db(c.inst)
    try:
        rec = requests.set_status(engine, request_id, status, by, note)
    except requests.RequestError as exc:
        _fail(f"{exc.code}: {exc}", 2)
    finally:
        engine.dispose()
    _nudge_engine(c.inst)  # the first-contact index follows open requests
    click.echo(json.dumps(rec.to_dict(), ensure_ascii=False))


# -- the enterprise register --------------------------------------------------------------------


@click.group("enterprise")
def enterprise_group() -> None:
    """The enterprise register (一企来) in the store, besides the config's `enterprises:`."""


@enterprise_group.command("add")
@click.argument("number")
@click.argument("name")
@pass_ctx
def enterprise_add(c: Any, number: str, name: str) -> None:
    _enterprise_put(c, number, name, True)


@enterprise_group.command("remove")
@click.argument("number")
@pass_ctx
def enterprise_remove(c: Any, number: str) -> None:
    _enterprise_put(c, number, "", False)


def _enterprise_put(c: Any, number: str, name: str, active: bool) -> None:
    engine = _db(c.inst)
    try:
        rec = enterprises.put(engine, number, name, active)
    except enterprises.EnterpriseError as exc:
        _fail(str(exc), 2)
    finally:
        engine.dispose()
    nudged = _nudge_engine(c.inst)
    state = "registered" if active else "withdrawn"
    click.echo(
        f"{rec.number} {escape(rec.name)} {state}" + ("" if nudged else " (engine not running)")
    )


@enterprise_group.command("list")
@pass_ctx
def enterprise_list(c: Any) -> None:
    engine = _db(c.inst)
    try:
        rows = enterprises.listing(engine)
    finally:
        engine.dispose()
    for e in c.inst.config.enterprises:
        click.echo(f"{e.number}  {e.name}  (config)")
    for r in rows:
        click.echo(f"{r.number}  {r.name}  {'active' if r.active else 'withdrawn'}")


def register(
    main: click.Group, seat: click.Group, parse_since: Callable[[str | None, str], Any]
) -> None:
    global _parse_since
    _parse_since = parse_since
    seat.add_command(seat_status)
    seat.add_command(seat_history)
    main.add_command(transfer_group)
    main.add_command(request_group)
    main.add_command(enterprise_group)

"""`callcore seat`: log seats in and out of their zone queues, their state and history.

Log in / log out and status act on Asterisk directly, so an operator can bring seats up
with the engine down; pause, resume, log off and move go through the supervisors' audited
path (`callcore supervise …`).
"""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import click
from rich.markup import escape
from rich.table import Table

from callcore.ami import AmiSession
from callcore.commands import Context, fail, open_store, parse_since, pass_ctx, with_ami
from seats.states import SeatState, state_label


@click.group("seat")
def seat() -> None:
    """Log seats in and out of their zone queues."""


def _seats(c: Context, ids: tuple[str, ...], all_seats: bool):
    cfg = c.inst.config
    if all_seats:
        return list(cfg.seats)
    known = {s.id: s for s in cfg.seats}
    missing = [i for i in ids if i not in known]
    if missing or not ids:
        fail(f"unknown seat(s): {', '.join(missing)}" if missing else "name seats or --all")
    return [known[i] for i in ids]


def _for_seats(c: Context, ids: tuple[str, ...], all_seats: bool, action: str) -> None:
    """Run SeatSessions.<action> for each named seat over one AMI session."""
    from seats.sessions import SeatSessions

    async def go(ami: AmiSession) -> None:
        sessions = SeatSessions(ami, lambda: c.inst.config)
        for s in _seats(c, ids, all_seats):
            queues = await getattr(sessions, action)(s.id, source="cli")
            click.echo(f"{s.id} {s.name} {action}: {', '.join(queues) or '-'}")

    with_ami(c.inst, go)


@seat.command("login")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_seats", is_flag=True)
@pass_ctx
def seat_login(c: Context, ids: tuple[str, ...], all_seats: bool) -> None:
    """Add seats to their zone queues (penalties from role and skills)."""
    _for_seats(c, ids, all_seats, "login")


@seat.command("logout")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_seats", is_flag=True)
@pass_ctx
def seat_logout(c: Context, ids: tuple[str, ...], all_seats: bool) -> None:
    """Remove seats from their zone queues."""
    _for_seats(c, ids, all_seats, "logout")


@seat.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Labels (default: the site's).")
@pass_ctx
def seat_status(c: Context, as_json: bool, lang: str | None) -> None:
    """Every seat's state now: from Asterisk (QueueStatus) and, for 'since', the store."""
    from seats.history import last_changes
    from seats.sessions import queue_members
    from seats.states import SeatBoard

    cfg = c.inst.config
    engine = open_store(c.inst)
    try:
        last = last_changes(engine)
    finally:
        engine.dispose()
    members = with_ami(c.inst, queue_members)
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
    from callcore.features.calls.present import make_console

    make_console().print(table)


@seat.command("history")
@click.argument("seat_id")
@click.option("--since", help="ISO time, 'today', or an age such as 30m, 2h, 7d.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def seat_history(c: Context, seat_id: str, since: str | None, as_json: bool) -> None:
    """A seat's changes of state, oldest first, from the store."""
    from seats.history import changes

    cfg = c.inst.config
    if cfg.seat(seat_id) is None:
        fail(f"unknown seat {seat_id!r}")
    engine = open_store(c.inst)
    try:
        rows = changes(engine, seat_id, parse_since(since, cfg.site.timezone))
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

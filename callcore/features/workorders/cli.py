"""`callcore request`: the requests (诉求) answered calls register, and their lifecycle."""

from __future__ import annotations

import json

import click

from callcore.commands import Context, fail, nudge_engine, open_store, pass_ctx
from callcore.features.workorders import registration as requests


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
    c: Context, caller: str | None, seat: str | None, open_only: bool, as_json: bool
) -> None:
    engine = open_store(c.inst)
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
def request_set(c: Context, request_id: str, status: str, note: str, by: str) -> None:
    """Change a request's status (the lifecycle decides which changes are allowed)."""
    engine = open_store(c.inst)
    try:
        rec = requests.set_status(engine, request_id, status, by, note)
    except requests.RequestError as exc:
        fail(f"{exc.code}: {exc}", 2)
    finally:
        engine.dispose()
    nudge_engine(c.inst)  # the first-contact index follows open requests
    click.echo(json.dumps(rec.to_dict(), ensure_ascii=False))

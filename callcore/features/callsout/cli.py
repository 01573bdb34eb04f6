"""`callcore callbacks`: the callback list and its figures (from the store), and calls out
through the engine's API (a seat token, or a supervisor's naming the seat); `callcore
handoff`: a seat's caller to 110 & co."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import click

from callcore.commands import Context, fail, open_store, pass_ctx

_token_opt = click.option(
    "--token", envvar="CALLCORE_TOKEN", help="API token (seat or supervisor)."
)
_api_opt = click.option("--api", help="The engine's API URL (default: pbx.bind:api_port).")


def _call_api(c: Context, token: str | None, api: str | None, path: str, body: dict) -> Any:
    from callcore.api.client import ApiClient, ApiFailure, api_url

    if not token:
        fail("an API token is needed: --token or CALLCORE_TOKEN (callcore token add)")
    try:
        return asyncio.run(ApiClient(api_url(c.inst, api), token).request("POST", path, body))
    except ApiFailure as exc:
        fail(f"{exc.code}: {exc.message}", 2)


@click.group("callbacks")
def callbacks() -> None:
    """Missed-call callbacks (漏话回拨) and follow-ups (回访): the list, figures, calls."""


@callbacks.command("list")
@click.option("--status", type=click.Choice(["open", "dialing", "closed"]))
@click.option("--zone")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def callbacks_list(c: Context, status: str | None, zone: str | None, as_json: bool) -> None:
    """Tasks in offer order: registered enterprises first, then the oldest miss."""
    from callcore.features.callsout import tasks
    from callcore.features.callsout.model import mask

    db = open_store(c.inst)
    try:
        rows = tasks.listing(db, status, zone)
    finally:
        db.dispose()
    for r in rows:
        r["caller"] = mask(r["caller"])
    if as_json:
        click.echo(json.dumps(rows, default=str, ensure_ascii=False))
        return
    for r in rows:
        click.echo(
            f"{r['id']}  {r['status']:<7} {r['zone']:<10} {r['caller']:<13} "
            f"misses {r['misses']}  attempts {r['attempts']}  first {r['first_missed']:%m-%d %H:%M}"
            f"{'  企业' if r['enterprise'] else ''}  {r['closed_reason']}"
        )


@callbacks.command("figures")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def callbacks_figures(c: Context, as_json: bool) -> None:
    """Open tasks, the oldest, the share called back within 1 h and 24 h."""
    from callcore.features.callsout import tasks

    db = open_store(c.inst)
    try:
        figs = tasks.figures(db, datetime.now(UTC))
    finally:
        db.dispose()
    if as_json:
        click.echo(json.dumps(figs, default=str))
        return

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.0%}"

    click.echo(
        f"open {figs['open']}  oldest {figs['oldest'] or '-'}  "
        f"within 1 h {pct(figs['within_1h'])}  within 24 h {pct(figs['within_24h'])}"
    )


@callbacks.command("call")
@click.argument("task_id")
@click.option("--seat", "seat_id", required=True, help="The seat whose softphone rings first.")
@_token_opt
@_api_opt
@pass_ctx
def callbacks_call(c: Context, task_id: str, seat_id: str, token: str | None, api: str | None):
    """Take a task and call it back (the seat's softphone rings first)."""
    reply = _call_api(c, token, api, f"/api/v1/seats/{seat_id}/callbacks/{task_id}/call", {})
    click.echo(json.dumps(reply, ensure_ascii=False))


@callbacks.command("dial")
@click.argument("seat_id")
@click.argument("number")
@click.option("--request", "request_id", default="", help="The request the call is about.")
@_token_opt
@_api_opt
@pass_ctx
def callbacks_dial(c: Context, seat_id: str, number: str, request_id: str, token: str | None,
                   api: str | None) -> None:  # fmt: skip
    """Click-to-call: ring the seat, then the citizen's number."""
    body = {"number": number, "reason": "click", "request_id": request_id}
    click.echo(json.dumps(_call_api(c, token, api, f"/api/v1/seats/{seat_id}/calls-out", body)))


@click.command("handoff")
@click.argument("seat_id")
@click.argument("target")
@click.option("--conference", is_flag=True, help="A three-party call the seat can leave.")
@_token_opt
@_api_opt
@pass_ctx
def handoff(c: Context, seat_id: str, target: str, conference: bool, token: str | None,
            api: str | None) -> None:  # fmt: skip
    """Hand a seat's caller to 110, 119, 120, 122 or a utility line."""
    body = {"target": target, "mode": "conference" if conference else "blind"}
    click.echo(json.dumps(_call_api(c, token, api, f"/api/v1/seats/{seat_id}/handoff", body)))

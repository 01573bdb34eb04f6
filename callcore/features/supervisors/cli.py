"""`callcore supervise`: supervisor actions on a seat, through the engine's API (audited)."""

from __future__ import annotations

import json

import click

from callcore.commands import Context, fail, pass_ctx


@click.group("supervise")
def supervise() -> None:
    """Supervisor actions on a seat, through the engine's API (audited).

    Needs a supervisor token: --token or CALLCORE_TOKEN.
    """


def _supervise(c: Context, token: str | None, api: str | None, seat_id: str, action: str, **body):
    import asyncio

    from callcore.api.client import ApiClient, ApiFailure, api_url

    if not token:
        fail("a supervisor token is needed: --token or CALLCORE_TOKEN (callcore token add)")
    client = ApiClient(api_url(c.inst, api), token)
    try:
        reply = asyncio.run(client.seat_action(seat_id, action, **body))
    except ApiFailure as exc:
        fail(f"{action} {seat_id}: {exc.code}: {exc.message}", 2)
    click.echo(json.dumps(reply, ensure_ascii=False))


_token_opt = click.option("--token", envvar="CALLCORE_TOKEN", help="Supervisor API token.")
_api_opt = click.option("--api", help="The engine's API URL (default: pbx.bind:api_port).")


@supervise.command("pause")
@click.argument("seat_id")
@click.option(
    "--reason", default="break", show_default=True, help="A pause reason id of the site config."
)
@_token_opt
@_api_opt
@pass_ctx
def supervise_pause(c: Context, seat_id: str, reason: str, token: str | None, api: str | None):
    """Pause a seat in all its queues."""
    _supervise(c, token, api, seat_id, "pause", reason=reason)


@supervise.command("resume")
@click.argument("seat_id")
@_token_opt
@_api_opt
@pass_ctx
def supervise_resume(c: Context, seat_id: str, token: str | None, api: str | None):
    """Resume a paused seat."""
    _supervise(c, token, api, seat_id, "resume")


@supervise.command("logoff")
@click.argument("seat_id")
@_token_opt
@_api_opt
@pass_ctx
def supervise_logoff(c: Context, seat_id: str, token: str | None, api: str | None):
    """Log a seat off every queue it is in."""
    _supervise(c, token, api, seat_id, "logoff")


@supervise.command("move")
@click.argument("seat_id")
@click.argument("zone")
@_token_opt
@_api_opt
@pass_ctx
def supervise_move(c: Context, seat_id: str, zone: str, token: str | None, api: str | None):
    """Move a seat to another zone."""
    _supervise(c, token, api, seat_id, "move", zone=zone)


def _spy_command(mode: str, help_text: str):
    @supervise.command(mode, help=help_text)
    @click.argument("seat_id")
    @click.option("--supervisor", "sup", required=True, help="Your supervisor id (softphone).")
    @_token_opt
    @_api_opt
    @pass_ctx
    def command(c: Context, seat_id: str, sup: str, token: str | None, api: str | None):
        _supervise(c, token, api, seat_id, mode, supervisor=sup)

    return command


_spy_command("listen", "Listen to a seat's call from your softphone.")
_spy_command("whisper", "Speak to the seat only, during its call, from your softphone.")
_spy_command("barge", "Join a seat's call (both hear you) from your softphone.")

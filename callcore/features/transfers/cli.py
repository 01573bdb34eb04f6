"""`callcore transfer`: move a seat's caller to a zone, a hotline number or 12366."""

from __future__ import annotations

import click

from callcore.commands import Context, fail, pass_ctx, with_ami


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
        fail("usage: callcore transfer SEAT TARGET [--attended] | transfer complete SEAT")
    from callcore.features.transfers.service import transfer
    from seats.sessions import SeatError

    c: Context = ctx.obj
    cfg = c.inst.config
    seat = cfg.seat(seat_id or "")
    if seat is None:
        fail(f"unknown seat {seat_id!r}")
    try:
        chan = with_ami(
            c.inst,
            lambda ami: transfer(
                ami, cfg, seat.extension, target or "", attended=attended, via="cli"
            ),
        )
    except SeatError as exc:
        fail(f"{exc.code}: {exc}", 2)
    click.echo(f"{seat.id}: {'attended' if attended else 'blind'} transfer to {target} ({chan})")


@transfer_group.command("complete")
@click.argument("seat_id")
@pass_ctx
def transfer_complete(c: Context, seat_id: str) -> None:
    """Complete a seat's attended transfer (its own leg hangs up)."""
    from callcore.features.transfers.service import complete_attended
    from seats.sessions import SeatError

    seat = c.inst.config.seat(seat_id)
    if seat is None:
        fail(f"unknown seat {seat_id!r}")
    try:
        chan = with_ami(c.inst, lambda ami: complete_attended(ami, seat.extension))
    except SeatError as exc:
        fail(f"{exc.code}: {exc}", 2)
    click.echo(f"{seat_id}: transfer completed ({chan})")

"""`callcore enterprise`: the enterprise register (一企来) kept in the store."""

from __future__ import annotations

import click
from rich.markup import escape

from callcore.commands import Context, fail, nudge_engine, open_store, pass_ctx
from callcore.features.enterprises import register as enterprises


@click.group("enterprise")
def enterprise_group() -> None:
    """The enterprise register (一企来) in the store, besides the config's `enterprises:`."""


@enterprise_group.command("add")
@click.argument("number")
@click.argument("name")
@pass_ctx
def enterprise_add(c: Context, number: str, name: str) -> None:
    _enterprise_put(c, number, name, True)


@enterprise_group.command("remove")
@click.argument("number")
@pass_ctx
def enterprise_remove(c: Context, number: str) -> None:
    _enterprise_put(c, number, "", False)


def _enterprise_put(c: Context, number: str, name: str, active: bool) -> None:
    engine = open_store(c.inst)
    try:
        rec = enterprises.put(engine, number, name, active)
    except enterprises.EnterpriseError as exc:
        fail(str(exc), 2)
    finally:
        engine.dispose()
    nudged = nudge_engine(c.inst)
    state = "registered" if active else "withdrawn"
    click.echo(
        f"{rec.number} {escape(rec.name)} {state}" + ("" if nudged else " (engine not running)")
    )


@enterprise_group.command("list")
@pass_ctx
def enterprise_list(c: Context) -> None:
    engine = open_store(c.inst)
    try:
        rows = enterprises.listing(engine)
    finally:
        engine.dispose()
    for e in c.inst.config.enterprises:
        click.echo(f"{e.number}  {e.name}  (config)")
    for r in rows:
        click.echo(f"{r.number}  {r.name}  {'active' if r.active else 'withdrawn'}")

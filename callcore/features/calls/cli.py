"""`callcore calls`: the stored calls, as a table or JSON."""

from __future__ import annotations

import json

import click

from callcore.commands import Context, open_store, parse_since, pass_ctx


@click.command("calls")
@click.option("--since", help="ISO time, 'today', or an age such as 30m, 2h, 7d.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of call objects.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Labels (default: the site's).")
@pass_ctx
def calls(c: Context, since: str | None, as_json: bool, lang: str | None) -> None:
    """The stored calls, oldest first."""
    from callcore.features.calls import present
    from callcore.store import db

    cfg = c.inst.config
    engine = open_store(c.inst)
    try:
        records = db.query_calls(engine, since=parse_since(since, cfg.site.timezone))
    finally:
        engine.dispose()
    if as_json:
        click.echo(
            json.dumps(
                [present.call_json(r, cfg.site.timezone) for r in records],
                ensure_ascii=False,
                indent=1,
            )
        )
    else:
        present.print_calls(records, cfg, lang or cfg.site.lang)

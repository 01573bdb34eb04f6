"""`callcore ban list|remove`: the guard's bans, from the ban file the engine follows."""

from __future__ import annotations

import asyncio
from datetime import datetime

import click

from callcore.commands import Context, fail, one_shot_session, pass_ctx
from callcore.features.guard.model import BanFile
from callcore.i18n import t


def ban_file(c: Context) -> BanFile:
    return BanFile(c.inst.lib / "bans.json")


@click.group("ban")
def ban_group() -> None:
    """Addresses banned for guessing SIP passwords (the engine lifts them when they expire)."""


@ban_group.command("list")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None)
@pass_ctx
def ban_list(c: Context, lang: str | None) -> None:
    """Every banned address, with when it was banned and until when."""
    lang = lang or c.inst.config.site.lang
    bans = sorted(ban_file(c).read().values(), key=lambda b: b.since)
    if not bans:
        click.echo(t("guard.none", lang))
        return
    click.echo(t("guard.header", lang))
    for b in bans:
        since = datetime.fromtimestamp(b.since).strftime("%m-%d %H:%M:%S")
        until = datetime.fromtimestamp(b.until).strftime("%m-%d %H:%M:%S")
        click.echo(f"{b.address:<40} {since} → {until}  {b.failures:>4}  {b.by}")


@ban_group.command("remove")
@click.argument("address")
@pass_ctx
def ban_remove(c: Context, address: str) -> None:
    """Lift a ban now: the engine hears of it within a second (and audits it); Asterisk's
    ACL is reloaded at once if Asterisk is up."""
    gone = ban_file(c).remove([address])
    if not gone:
        fail(f"{address} is not banned")
    click.echo(f"lifted the ban of {address}")

    async def reload() -> None:
        from callcore.features.guard.model import acl_conf

        (c.inst.etc / "pjsip_bans.conf").write_text(
            acl_conf(ban_file(c).read().values()), encoding="utf-8"
        )
        ami = await one_shot_session(c.inst)
        try:
            await ami.action({"Action": "Reload", "Module": "res_pjsip.so"}, timeout=15)
        finally:
            await ami.close()

    try:
        asyncio.run(reload())
    except Exception as exc:  # Asterisk down: it reads the file when it starts
        click.echo(f"(Asterisk not reloaded: {exc})", err=True)

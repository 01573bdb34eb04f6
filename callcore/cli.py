"""`callcore`: the command line of the engine (operators, supervisors, tests and the demo)."""

from __future__ import annotations

import json
import logging
import sys

import click

from callcore.instance import Instance
from config.loader import ConfigError


class _Ctx:
    def __init__(self, home: str | None, config_path: str | None):
        self.inst = Instance(home, config_path)


pass_ctx = click.make_pass_decorator(_Ctx)


def _fail(msg: str, code: int = 1) -> None:
    click.echo(msg, err=True)
    sys.exit(code)


@click.group()
@click.option("--home", envvar="CALLCORE_HOME", help="Instance folder (default ./var).")
@click.option("--config", "config_path", envvar="CALLCORE_CONFIG", type=click.Path(),
              help="Site config YAML (default: the city's directory in config/site.yaml).")
@click.option("-v", "--verbose", count=True)
@click.pass_context
def main(ctx: click.Context, home: str | None, config_path: str | None, verbose: int) -> None:
    """callcore: the call-handling engine of the 12345 hotline."""
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = _Ctx(home, config_path)


@main.group("config")
def config_group() -> None:
    """Check the site configuration."""


@config_group.command("check")
@pass_ctx
def config_check(c: _Ctx) -> None:
    """Validate the site config; exit 1 with every problem named if it is invalid."""
    try:
        cfg = c.inst.config
    except ConfigError as exc:
        _fail(f"invalid site config:\n{exc}")
    click.echo(f"{c.inst.config_path}: ok ({len(cfg.hotlines)} numbers, {len(cfg.zones)} zones, "
               f"{len(cfg.seats)} seats)")


def _runtime(build: bool = True):
    from callcore.asterisk import runtime

    try:
        return runtime.find_runtime(build=build)
    except runtime.AsteriskError as exc:
        _fail(str(exc))


def _render(c: _Ctx, rt) -> list[str]:
    from callcore.asterisk import render, sounds

    try:
        return render.render_all(c.inst, rt)
    except ConfigError as exc:
        _fail(f"invalid site config, nothing rendered:\n{exc}")
    except sounds.SoundError as exc:
        _fail(f"cannot make the notice audio, nothing rendered: {exc}")


@main.command()
@pass_ctx
def render(c: _Ctx) -> None:
    """Write the Asterisk configuration of this instance from the site config."""
    rt = _runtime()
    changed = _render(c, rt)
    click.echo(f"rendered into {c.inst.etc}: {', '.join(changed) or 'nothing changed'}")


@main.command()
@pass_ctx
def apply(c: _Ctx) -> None:
    """Render, then reload what changed in the running Asterisk (calls in progress stay up)."""
    import asyncio

    from callcore.asterisk import render as r
    from callcore.reload import reload_modules

    rt = _runtime()
    changed = _render(c, rt)
    mods = r.modules_to_reload(changed)
    if not mods:
        click.echo("nothing changed")
        return
    try:
        asyncio.run(reload_modules(c.inst, mods))
    except Exception as exc:  # noqa: BLE001 - reported to the operator
        _fail(f"rendered, but the reload failed: {exc}")
    click.echo(f"applied: {', '.join(changed)} (reloaded {', '.join(mods)})")


@main.group()
def asterisk() -> None:
    """Provision and run this instance's Asterisk."""


@asterisk.command("up")
@pass_ctx
def asterisk_up(c: _Ctx) -> None:
    """Render the config and start Asterisk (building its root filesystem if needed)."""
    from callcore.asterisk import runtime

    rt = _runtime()
    _render(c, rt)
    try:
        pid = runtime.start(rt, c.inst)
    except runtime.AsteriskError as exc:
        _fail(str(exc))
    click.echo(f"Asterisk {rt.version} up (pid {pid}), SIP {c.inst.config.pbx.bind}:"
               f"{c.inst.config.pbx.sip_port}, AMI :{c.inst.config.pbx.ami_port}")


@asterisk.command("down")
@pass_ctx
def asterisk_down(c: _Ctx) -> None:
    """Stop this instance's Asterisk."""
    from callcore.asterisk import runtime

    rt = _runtime(build=False)
    click.echo("stopped" if runtime.stop(rt, c.inst) else "not running")


@asterisk.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def asterisk_status(c: _Ctx, as_json: bool) -> None:
    """Is this instance's Asterisk running, and what is it doing."""
    from callcore.asterisk import runtime

    rt = _runtime(build=False)
    info = runtime.status(rt, c.inst)
    if as_json:
        click.echo(json.dumps(info, ensure_ascii=False))
    else:
        for k, v in info.items():
            click.echo(f"{k}: {v}")
    sys.exit(0 if info["running"] else 3)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="callcore")

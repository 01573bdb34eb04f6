"""`callcore`: the command line of the engine (operators, supervisors, tests and the demo)."""

from __future__ import annotations

import json
import logging
import sys

import click

from callcore import privacy
from callcore.commands import Context, fail, pass_ctx
from callcore.features.backup import cli as backup_cli
from callcore.features.calls import cli as calls_cli
from callcore.features.callsout import cli as callsout_cli
from callcore.features.enterprises import cli as enterprises_cli
from callcore.features.guard import cli as guard_cli
from callcore.features.knowledge import cli as knowledge_cli
from callcore.features.quality import cli as quality_cli
from callcore.features.ratings import cli as ratings_cli
from callcore.features.recordings import cli as recordings_cli
from callcore.features.reports import cli as reports_cli
from callcore.features.supervisors import cli as supervisors_cli
from callcore.features.systemd import cli as systemd_cli
from callcore.features.transfers import cli as transfers_cli
from callcore.features.workorders import cli as workorders_cli
from config.loader import ConfigError
from seats import cli as seats_cli


@click.group()
@click.option("--home", envvar="CALLCORE_HOME", help="Instance folder (default ./var).")
@click.option(
    "--config",
    "config_path",
    envvar="CALLCORE_CONFIG",
    type=click.Path(),
    help="Site config YAML (default: the city's directory in config/site.yaml).",
)
@click.option("-v", "--verbose", count=True)
@click.pass_context
def main(ctx: click.Context, home: str | None, config_path: str | None, verbose: int) -> None:
    """callcore: the call-handling engine of the 12345 hotline."""
    privacy.configure(
        logging.WARNING - 10 * min(verbose, 2), "%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = Context(home, config_path)


@main.group("config")
def config_group() -> None:
    """Check the site configuration."""


@config_group.command("check")
@pass_ctx
def config_check(c: Context) -> None:
    """Validate the site config; exit 1 with every problem named if it is invalid."""
    try:
        cfg = c.inst.config
    except ConfigError as exc:
        fail(f"invalid site config:\n{exc}")
    click.echo(
        f"{c.inst.config_path}: ok ({len(cfg.hotlines)} numbers, {len(cfg.zones)} zones, "
        f"{len(cfg.seats)} seats)"
    )


def _runtime(build: bool = True):
    from callcore.asterisk import runtime

    try:
        return runtime.find_runtime(build=build)
    except runtime.AsteriskError as exc:
        fail(str(exc))


def _render(c: Context, rt) -> list[str]:
    from callcore.asterisk import render, sounds

    try:
        return render.render_all(c.inst, rt)
    except ConfigError as exc:
        fail(f"invalid site config, nothing rendered:\n{exc}")
    except sounds.SoundError as exc:
        fail(f"cannot make the notice audio, nothing rendered: {exc}")


@main.command()
@pass_ctx
def render(c: Context) -> None:
    """Write the Asterisk configuration of this instance from the site config."""
    rt = _runtime()
    changed = _render(c, rt)
    click.echo(f"rendered into {c.inst.etc}: {', '.join(changed) or 'nothing changed'}")


@main.command()
@pass_ctx
def apply(c: Context) -> None:
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
    except Exception as exc:
        fail(f"rendered, but the reload failed: {exc}")
    click.echo(f"applied: {', '.join(changed)} (reloaded {', '.join(mods)})")


@main.group()
def asterisk() -> None:
    """Provision and run this instance's Asterisk."""


@asterisk.command("up")
@pass_ctx
def asterisk_up(c: Context) -> None:
    """Render the config and start Asterisk (building its root filesystem if needed)."""
    from callcore.asterisk import runtime

    rt = _runtime()
    _render(c, rt)
    try:
        pid = runtime.start(rt, c.inst)
    except runtime.AsteriskError as exc:
        fail(str(exc))
    click.echo(
        f"{rt.version} up (pid {pid}), SIP {c.inst.config.pbx.bind}:"
        f"{c.inst.config.pbx.sip_port}, AMI :{c.inst.config.pbx.ami_port}"
    )


@asterisk.command("provision")
def asterisk_provision() -> None:
    """Find or build the Asterisk this machine runs (once; `make` does it before the tests)."""
    rt = _runtime()
    click.echo(f"{rt.version} ({rt.root or 'installed'})")


@asterisk.command("down")
@pass_ctx
def asterisk_down(c: Context) -> None:
    """Stop this instance's Asterisk."""
    from callcore.asterisk import runtime

    rt = _runtime(build=False)
    click.echo("stopped" if runtime.stop(rt, c.inst) else "not running")


@asterisk.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def asterisk_status(c: Context, as_json: bool) -> None:
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


@main.command()
@click.option(
    "--no-agi", is_flag=True, help="Run without the FastAGI server (calls route statically)."
)
@pass_ctx
def run(c: Context, no_agi: bool) -> None:
    """Run the engine: FastAGI routing, AMI call tracking, the request store."""
    import asyncio

    from callcore.wiring.engine import Engine

    try:
        engine = Engine(c.inst, agi=not no_agi)
    except ConfigError as exc:
        fail(f"invalid site config:\n{exc}")
    # The store writer thread builds SQL while the loop routes calls: with the default
    # 5 ms GIL switch interval a routing request could wait that long for the GIL.
    sys.setswitchinterval(0.001)
    asyncio.run(engine.run())


@main.command()
@click.option("--seconds", default=60, show_default=True, help="How long callers keep calling.")
@click.option("--keep", is_flag=True, help="Leave Asterisk and the engine running afterwards.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Labels (default: the site's).")
@pass_ctx
def demo(c: Context, seconds: int, keep: bool, lang: str | None) -> None:
    """Boot Asterisk and the engine, run simulated seats and citizens, print what happened."""
    import asyncio

    from callcore import demo as d

    try:
        cfg = c.inst.config
    except ConfigError as exc:
        fail(f"invalid site config:\n{exc}")
    ok = asyncio.run(d.run(c.inst, seconds=seconds, keep=keep, lang=lang or cfg.site.lang))
    sys.exit(0 if ok else 1)


@main.command()
@click.option("--rate", default=4.0, show_default=True, help="New calls per second.")
@click.option("--seconds", default=30.0, show_default=True, help="How long calls keep coming.")
@click.option("--seats", default=80, show_default=True, help="Simulated seats.")
@click.option("--talk", "talk_ms", default=10000, show_default=True, help="Mean talk time, ms.")
@click.option("--fixed-talk", is_flag=True,
              help="Every caller talks exactly --talk ms (holds a plateau of concurrent calls).")
@click.option("--mode", type=click.Choice(["both", "callcore", "bare"]), default="both")
@click.option("--numbers", type=click.Choice(["mix", "general"]), default="mix",
              help="Every number class, or 12345 only (step mode always uses 12345).")
@click.option("--step", "steps", help="Comma-separated rates: find the highest clean rate.")
@click.option("--bound", "bound_ms", default=3000.0, show_default=True,
              help="Step mode: a run is clean with no failed call, every call stored once "
                   "and set-up p99 under this many ms.")
@click.option("--base-port", default=15000, show_default=True)
@click.option("--workdir", type=click.Path(), default="var/bench", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench(rate: float, seconds: float, seats: int, talk_ms: int, fixed_talk: bool, mode: str,
          numbers: str,
          steps: str | None, bound_ms: float, base_port: int, workdir: str,
          as_json: bool) -> None:
    """Load callcore and bare Asterisk alike and report what callcore costs."""
    import asyncio
    from dataclasses import asdict
    from pathlib import Path

    from callcore import bench as b

    load = b.Load(rate=rate, seconds=seconds, seats=seats, talk_mean_ms=talk_ms,
                  numbers=numbers, fixed_talk=fixed_talk)
    work = Path(workdir)
    if steps:
        rates = [float(x) for x in steps.split(",")]
        best = asyncio.run(b.step(load, work, rates, setup_bound_ms=bound_ms, base=base_port))
        click.echo(json.dumps({"highest_clean_rate": best}))
        return
    modes = ["bare", "callcore"] if mode == "both" else [mode]

    async def go() -> list:
        return [await b.run(m, load, work, base_port) for m in modes]

    reports = asyncio.run(go())
    if as_json:
        click.echo(json.dumps([asdict(r) for r in reports], ensure_ascii=False, indent=1))
    else:
        b.print_reports(reports)


# -- supervisors: the monitor, supervisor actions, API tokens ------------------------------


@main.command()
@click.option("--once", is_flag=True, help="Print one snapshot and exit (3: live unavailable).")
@click.option("--json", "as_json", is_flag=True, help="With --once: the snapshot as JSON.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Labels (default: the site's).")
@click.option("--token", envvar="CALLCORE_TOKEN", help="Your API token (enables action keys).")
@click.option("--api", help="The engine's API URL (default: pbx.bind:api_port).")
@click.option("--supervisor", help="Your supervisor id: listen/whisper/barge ring your phone.")
@pass_ctx
def monitor(
    c: Context,
    once: bool,
    as_json: bool,
    lang: str | None,
    token: str | None,
    api: str | None,
    supervisor: str | None,
) -> None:
    """Live queues, waiting callers, seats and figures (full screen; keys act on seats)."""
    from callcore.monitor import run as mon

    try:
        cfg = c.inst.config
    except ConfigError as exc:
        fail(f"invalid site config:\n{exc}")
    lang = lang or cfg.site.lang
    if once or as_json:
        sys.exit(mon.once(c.inst, lang, as_json))
    mon.run_full_screen(c.inst, lang, token, api, supervisor)


@main.command("api")
@click.option("--host", help="Address to listen on (default: pbx.bind).")
@click.option("--port", type=int, help="Port (default: pbx.api_port).")
@pass_ctx
def api_only(c: Context, host: str | None, port: int | None) -> None:
    """Serve the HTTP API without an engine (another node): live state from Redis, calls
    and the audit from the store; actions need the engine's own API."""
    import asyncio

    from callcore.wiring.api_node import serve_api_only

    try:
        pbx = c.inst.config.pbx
    except ConfigError as exc:
        fail(f"invalid site config:\n{exc}")
    asyncio.run(serve_api_only(c.inst, host or pbx.bind, port or pbx.api_port))


@main.group()
def token() -> None:
    """API tokens (roles: seat, supervisor, admin, qa, department, subcentre), kept in
    <home>/secrets.yaml."""


@token.command("add")
@click.option(
    "--role",
    type=click.Choice(["seat", "supervisor", "admin", "qa", "department", "subcentre"]),
    required=True,
)
@click.option("--name", required=True, help="Who holds it (shown in the audit).")
@click.option("--seat", "seat_id", help="For a seat token: the seat id it belongs to.")
@click.option("--unit", "unit_id", help="For a department token: the unit it acts for.")
@click.option(
    "--wallboard", is_flag=True,
    help="With --role seat and no --seat: a read-only token for a wall screen (figures only).",
)
@pass_ctx
def token_add(
    c: Context, role: str, name: str, seat_id: str | None, unit_id: str | None, wallboard: bool
) -> None:
    """Create a token and print it (once; it is kept only in the secrets file)."""
    from callcore.api.auth import Role, add_token

    if seat_id and seat_id not in {s.id for s in c.inst.config.seats}:
        fail(f"unknown seat {seat_id!r}")
    if unit_id and c.inst.config.workorders.unit(unit_id) is None:
        fail(f"unknown unit {unit_id!r}")
    c.inst.secrets()  # make sure the file exists with its other secrets
    try:
        click.echo(
            add_token(c.inst.secrets_file, Role(role), name, seat_id, unit_id, wallboard)
        )
    except ValueError as exc:
        fail(str(exc))


@token.command("list")
@pass_ctx
def token_list(c: Context) -> None:
    """Names, roles and seats of the tokens (never the tokens)."""
    from callcore.api.auth import list_tokens

    for t in list_tokens(c.inst.secrets_file):
        where = t["seat"] or t["unit"]
        click.echo(f"{t['id']}  {t['role']:<10} {t['name']}  {where}".rstrip())


@token.command("remove")
@click.argument("name")
@pass_ctx
def token_remove(c: Context, name: str) -> None:
    """Revoke every token with this name."""
    from callcore.api.auth import remove_tokens

    n = remove_tokens(c.inst.secrets_file, name)
    if not n:
        fail(f"no token named {name!r}")
    click.echo(f"revoked {n} token(s) named {name}")


# Every feature's commands, listed once.
for command in (
    calls_cli.calls,
    seats_cli.seat,
    transfers_cli.transfer_group,
    workorders_cli.request_group,
    enterprises_cli.enterprise_group,
    supervisors_cli.supervise,
    knowledge_cli.kb,
    backup_cli.backup_cmd,
    backup_cli.restore_cmd,
    systemd_cli.service_group,
    guard_cli.ban_group,
    reports_cli.report,
    callsout_cli.callbacks,
    callsout_cli.handoff,
    quality_cli.qa,
    recordings_cli.recording_group,
    ratings_cli.ratings_group,
):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="callcore")

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
    click.echo(
        f"{c.inst.config_path}: ok ({len(cfg.hotlines)} numbers, {len(cfg.zones)} zones, "
        f"{len(cfg.seats)} seats)"
    )


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
    except Exception as exc:
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


@main.command()
@click.option(
    "--no-agi", is_flag=True, help="Run without the FastAGI server (calls route statically)."
)
@pass_ctx
def run(c: _Ctx, no_agi: bool) -> None:
    """Run the engine: FastAGI routing, AMI call tracking, the request store."""
    import asyncio

    from callcore.app import Engine

    try:
        engine = Engine(c.inst, agi=not no_agi)
    except ConfigError as exc:
        _fail(f"invalid site config:\n{exc}")
    # The store writer thread builds SQL while the loop routes calls: with the default
    # 5 ms GIL switch interval a routing request could wait that long for the GIL.
    sys.setswitchinterval(0.001)
    asyncio.run(engine.run())


def _parse_since(text: str | None, tz: str):
    """ISO time, `today`, or an age such as 30m, 2h, 7d."""
    import re
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    if not text:
        return None
    zone = ZoneInfo(tz)
    now = datetime.now(zone)
    if text == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    m = re.fullmatch(r"(\d+)([smhd])", text)
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return now - timedelta(**{unit: int(m.group(1))})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: use an ISO time, 'today' or an age like 30m") from None
    return when if when.tzinfo else when.replace(tzinfo=zone)


@main.command()
@click.option("--since", help="ISO time, 'today', or an age such as 30m, 2h, 7d.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of call objects.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Labels (default: the site's).")
@pass_ctx
def calls(c: _Ctx, since: str | None, as_json: bool, lang: str | None) -> None:
    """The stored calls, oldest first."""
    from callcore import present
    from callcore.store import db

    cfg = c.inst.config
    engine = db.make_engine(c.inst.db_url)
    try:
        db.upgrade(engine)
        records = db.query_calls(engine, since=_parse_since(since, cfg.site.timezone))
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


@main.group()
def seat() -> None:
    """Log seats in and out of their zone queues."""


def _seats(c: _Ctx, ids: tuple[str, ...], all_seats: bool):
    cfg = c.inst.config
    if all_seats:
        return list(cfg.seats)
    known = {s.id: s for s in cfg.seats}
    missing = [i for i in ids if i not in known]
    if missing or not ids:
        _fail(f"unknown seat(s): {', '.join(missing)}" if missing else "name seats or --all")
    return [known[i] for i in ids]


def _for_seats(c: _Ctx, ids: tuple[str, ...], all_seats: bool, action: str) -> None:
    """Run SeatSessions.<action> for each named seat over one AMI session."""
    import asyncio

    from callcore.app import one_shot_session
    from seats.sessions import SeatSessions

    async def go() -> None:
        ami = await one_shot_session(c.inst)
        try:
            sessions = SeatSessions(ami, lambda: c.inst.config)
            for s in _seats(c, ids, all_seats):
                queues = await getattr(sessions, action)(s.id, source="cli")
                click.echo(f"{s.id} {s.name} {action}: {', '.join(queues) or '-'}")
        finally:
            await ami.close()

    asyncio.run(go())


@seat.command("login")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_seats", is_flag=True)
@pass_ctx
def seat_login(c: _Ctx, ids: tuple[str, ...], all_seats: bool) -> None:
    """Add seats to their zone queues (penalties from role and skills)."""
    _for_seats(c, ids, all_seats, "login")


@seat.command("logout")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_seats", is_flag=True)
@pass_ctx
def seat_logout(c: _Ctx, ids: tuple[str, ...], all_seats: bool) -> None:
    """Remove seats from their zone queues."""
    _for_seats(c, ids, all_seats, "logout")


@main.command()
@click.option("--seconds", default=60, show_default=True, help="How long callers keep calling.")
@click.option("--keep", is_flag=True, help="Leave Asterisk and the engine running afterwards.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Labels (default: the site's).")
@pass_ctx
def demo(c: _Ctx, seconds: int, keep: bool, lang: str | None) -> None:
    """Boot Asterisk and the engine, run simulated seats and citizens, print what happened."""
    import asyncio

    from callcore import demo as d

    try:
        cfg = c.inst.config
    except ConfigError as exc:
        _fail(f"invalid site config:\n{exc}")
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
    c: _Ctx,
    once: bool,
    as_json: bool,
    lang: str | None,
    token: str | None,
    api: str | None,
    supervisor: str | None,
) -> None:
    """Live queues, waiting callers, seats and figures (full screen; keys act on seats)."""
    import asyncio

    from callcore.monitor import run as mon

    try:
        cfg = c.inst.config
    except ConfigError as exc:
        _fail(f"invalid site config:\n{exc}")
    lang = lang or cfg.site.lang
    if once or as_json:
        sys.exit(mon.print_once(asyncio.run(mon.one_snapshot(c.inst)), lang, as_json))
    mon.run_full_screen(c.inst, lang, token, api, supervisor)


@main.command("api")
@click.option("--host", help="Address to listen on (default: pbx.bind).")
@click.option("--port", type=int, help="Port (default: pbx.api_port).")
@pass_ctx
def api_only(c: _Ctx, host: str | None, port: int | None) -> None:
    """Serve the HTTP API without an engine (another node): live state from Redis, calls
    and the audit from the store; actions need the engine's own API."""
    import asyncio

    from callcore.supervision import serve_api_only

    try:
        pbx = c.inst.config.pbx
    except ConfigError as exc:
        _fail(f"invalid site config:\n{exc}")
    asyncio.run(serve_api_only(c.inst, host or pbx.bind, port or pbx.api_port))


@main.group()
def supervise() -> None:
    """Supervisor actions on a seat, through the engine's API (audited).

    Needs a supervisor token: --token or CALLCORE_TOKEN.
    """


def _supervise(c: _Ctx, token: str | None, api: str | None, seat_id: str, action: str, **body):
    import asyncio

    from callcore.api.client import ApiClient, ApiFailure, api_url

    if not token:
        _fail("a supervisor token is needed: --token or CALLCORE_TOKEN (callcore token add)")
    client = ApiClient(api_url(c.inst, api), token)
    try:
        reply = asyncio.run(client.seat_action(seat_id, action, **body))
    except ApiFailure as exc:
        _fail(f"{action} {seat_id}: {exc.code}: {exc.message}", 2)
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
def supervise_pause(c: _Ctx, seat_id: str, reason: str, token: str | None, api: str | None):
    """Pause a seat in all its queues."""
    _supervise(c, token, api, seat_id, "pause", reason=reason)


@supervise.command("resume")
@click.argument("seat_id")
@_token_opt
@_api_opt
@pass_ctx
def supervise_resume(c: _Ctx, seat_id: str, token: str | None, api: str | None):
    """Resume a paused seat."""
    _supervise(c, token, api, seat_id, "resume")


@supervise.command("logoff")
@click.argument("seat_id")
@_token_opt
@_api_opt
@pass_ctx
def supervise_logoff(c: _Ctx, seat_id: str, token: str | None, api: str | None):
    """Log a seat off every queue it is in."""
    _supervise(c, token, api, seat_id, "logoff")


@supervise.command("move")
@click.argument("seat_id")
@click.argument("zone")
@_token_opt
@_api_opt
@pass_ctx
def supervise_move(c: _Ctx, seat_id: str, zone: str, token: str | None, api: str | None):
    """Move a seat to another zone."""
    _supervise(c, token, api, seat_id, "move", zone=zone)


def _spy_command(mode: str, help_text: str):
    @supervise.command(mode, help=help_text)
    @click.argument("seat_id")
    @click.option("--supervisor", "sup", required=True, help="Your supervisor id (softphone).")
    @_token_opt
    @_api_opt
    @pass_ctx
    def command(c: _Ctx, seat_id: str, sup: str, token: str | None, api: str | None):
        _supervise(c, token, api, seat_id, mode, supervisor=sup)

    return command


_spy_command("listen", "Listen to a seat's call from your softphone.")
_spy_command("whisper", "Speak to the seat only, during its call, from your softphone.")
_spy_command("barge", "Join a seat's call (both hear you) from your softphone.")


@main.group()
def token() -> None:
    """API tokens (roles: seat, supervisor, admin), kept in <home>/secrets.yaml."""


@token.command("add")
@click.option(
    "--role", type=click.Choice(["seat", "supervisor", "admin", "subcentre"]), required=True
)
@click.option("--name", required=True, help="Who holds it (shown in the audit).")
@click.option("--seat", "seat_id", help="For a seat token: the seat id it belongs to.")
@pass_ctx
def token_add(c: _Ctx, role: str, name: str, seat_id: str | None) -> None:
    """Create a token and print it (once; it is kept only in the secrets file)."""
    from callcore.api.auth import Role, add_token

    if seat_id and seat_id not in {s.id for s in c.inst.config.seats}:
        _fail(f"unknown seat {seat_id!r}")
    c.inst.secrets()  # make sure the file exists with its other secrets
    try:
        click.echo(add_token(c.inst.secrets_file, Role(role), name, seat_id))
    except ValueError as exc:
        _fail(str(exc))


@token.command("list")
@pass_ctx
def token_list(c: _Ctx) -> None:
    """Names, roles and seats of the tokens (never the tokens)."""
    from callcore.api.auth import list_tokens

    for t in list_tokens(c.inst.secrets_file):
        click.echo(f"{t['prefix']}…  {t['role']:<10} {t['name']}  {t['seat']}".rstrip())


@token.command("remove")
@click.argument("name")
@pass_ctx
def token_remove(c: _Ctx, name: str) -> None:
    """Revoke every token with this name."""
    from callcore.api.auth import remove_tokens

    n = remove_tokens(c.inst.secrets_file, name)
    if not n:
        _fail(f"no token named {name!r}")
    click.echo(f"revoked {n} token(s) named {name}")


# seat status / history, transfers, requests, the enterprise register (seats/commands.py)
from seats.commands import register as _register_seat_commands  # noqa: E402

_register_seat_commands(main, seat, _parse_since)

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="callcore")

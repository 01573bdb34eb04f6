"""`callcore service install|uninstall|show`: this instance as systemd services."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from callcore.commands import Context, fail, pass_ctx
from callcore.features.systemd.units import Install, files

SYSTEM_UNITS = Path("/etc/systemd/system")
LOGROTATE = Path("/etc/logrotate.d")


def _install(c: Context, user: str) -> Install:
    exe = Path(sys.argv[0]).absolute() if Path(sys.argv[0]).name == "callcore" else None
    exe = exe or Path(shutil.which("callcore") or Path(sys.executable).with_name("callcore"))
    return Install(
        exe=exe,
        home=c.inst.home,
        config=c.inst.config_path.absolute(),
        db_url=os.environ.get("CALLCORE_DB_URL"),
        redis_url=os.environ.get("CALLCORE_REDIS_URL") or c.inst.config.live.redis_url,
        user=user,
    )


def _systemctl(*args: str) -> None:
    if shutil.which("systemctl") is None:
        click.echo(f"(no systemctl here: run 'systemctl {' '.join(args)}' yourself)")
        return
    res = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        click.echo(f"systemctl {' '.join(args)}: {res.stderr.strip()}", err=True)


@click.group("service")
def service_group() -> None:
    """Run this instance as systemd services (started at boot, restarted on failure)."""


@service_group.command("install")
@click.option("--unit-dir", type=click.Path(path_type=Path), default=SYSTEM_UNITS,
              show_default=True)
@click.option("--logrotate-dir", type=click.Path(path_type=Path), default=LOGROTATE,
              show_default=True)
@click.option("--user", default="root", show_default=True,
              help="Who runs them (Asterisk drops to its own user inside).")
@click.option("--enable/--no-enable", default=True, show_default=True,
              help="Reload systemd and enable both units at boot (system folder only).")
@pass_ctx
def install(c: Context, unit_dir: Path, logrotate_dir: Path, user: str, enable: bool) -> None:
    """Write the units, the logrotate rule and the engine's environment file."""
    i = _install(c, user)
    if not i.exe.exists():
        fail(f"cannot find the callcore executable ({i.exe})")
    for path, (text, mode) in files(i, unit_dir, logrotate_dir).items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            path.chmod(mode)
        except OSError as exc:
            fail(f"cannot write {path}: {exc.strerror} (run as root, or pick --unit-dir)")
        click.echo(f"wrote {path}")
    if enable and unit_dir == SYSTEM_UNITS:
        _systemctl("daemon-reload")
        _systemctl("enable", i.unit("asterisk"), i.unit("engine"))
        click.echo(f"enabled; start now with: systemctl start {i.unit('engine')}")


@service_group.command("uninstall")
@click.option("--unit-dir", type=click.Path(path_type=Path), default=SYSTEM_UNITS)
@click.option("--logrotate-dir", type=click.Path(path_type=Path), default=LOGROTATE)
@pass_ctx
def uninstall(c: Context, unit_dir: Path, logrotate_dir: Path) -> None:
    """Disable and remove the units and the logrotate rule (the instance stays)."""
    i = _install(c, "root")
    if unit_dir == SYSTEM_UNITS:
        _systemctl("disable", "--now", i.unit("engine"), i.unit("asterisk"))
    for path in list(files(i, unit_dir, logrotate_dir))[:3]:
        if path.exists():
            path.unlink()
            click.echo(f"removed {path}")


@service_group.command("show")
@click.option("--user", default="root", show_default=True)
@pass_ctx
def show(c: Context, user: str) -> None:
    """Print what install would write (the environment file's secrets masked)."""
    i = _install(c, user)
    for path, (text, _) in files(i, SYSTEM_UNITS, LOGROTATE).items():
        if path == i.env_file and i.db_url:
            text = text.replace(i.db_url, "<CALLCORE_DB_URL>")
        click.echo(f"# {path}\n{text}")

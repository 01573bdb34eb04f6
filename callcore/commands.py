"""What every `callcore` command shares: the instance, the store, an AMI session, a time
argument, and failing with a clear message and exit code.

Features keep their own commands (`<feature>/cli.py`, a click group or command); they
build on this module so that opening the store or AMI is written once. `callcore.cli`
imports each feature's commands explicitly.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import click

from callcore.ami import AmiError, AmiSession
from callcore.instance import Instance

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")


class Context:
    """The object every command receives: the instance named by --home and --config."""

    def __init__(self, home: str | None, config_path: str | None):
        self.inst = Instance(home, config_path)


pass_ctx = click.make_pass_decorator(Context)


def fail(msg: str, code: int = 1) -> NoReturn:
    click.echo(msg, err=True)
    raise SystemExit(code)


def parse_since(text: str | None, tz: str) -> datetime | None:
    """ISO time, `today`, or an age such as 30m, 2h, 7d."""
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


def open_store(inst: Instance) -> Engine:
    """The instance's store, migrated to the current schema; the caller disposes of it."""
    from callcore.store import db

    engine = db.make_engine(inst.db_url)
    db.upgrade(engine)
    return engine


def nudge_engine(inst: Instance) -> bool:
    """Tell a running engine to re-read the registers it keeps in memory (SIGHUP)."""
    try:
        pid = int((inst.run / "callcore.pid").read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return False
    return True


async def one_shot_session(inst: Instance) -> AmiSession:
    """A short AMI session for commands (apply, seat login); the caller closes it."""
    cfg = inst.config
    ami = AmiSession(cfg.pbx.bind, cfg.pbx.ami_port, cfg.pbx.ami_user, inst.secrets().ami_secret)
    if not await ami.start(wait=10):
        await ami.close()
        raise AmiError(f"cannot log in to AMI at {cfg.pbx.bind}:{cfg.pbx.ami_port}")
    return ami


def with_ami(inst: Instance, work: Callable[[AmiSession], Awaitable[T]]) -> T:
    """Run `work` with a one-shot AMI session, from a synchronous command."""

    async def go() -> T:
        ami = await one_shot_session(inst)
        try:
            return await work(ami)
        finally:
            await ami.close()

    return asyncio.run(go())

"""Apply a re-rendered configuration to a running Asterisk through AMI.

Module reloads never touch live channels: callers in queues and calls in progress stay
up. A running engine is told too (SIGHUP), so routing follows the new directory at once.
"""

from __future__ import annotations

import contextlib
import os
import signal

from callcore.commands import one_shot_session
from callcore.instance import Instance


async def reload_modules(inst: Instance, modules: list[str]) -> None:
    ami = await one_shot_session(inst)
    try:
        for module in modules:
            await ami.action({"Action": "Reload", "Module": module}, timeout=15)
    finally:
        await ami.close()
    notify_engine(inst)


def notify_engine(inst: Instance) -> bool:
    try:
        pid = int((inst.run / "callcore.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGHUP)
        return True
    return False

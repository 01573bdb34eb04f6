"""A real softphone as a seat: baresip (Debian's `baresip-core`), headless.

baresip runs with its own config folder (`baresip -f <dir>`): one account for the seat's
extension (it registers itself, auto-answers), no sound card (ALSA's null device for
both ways), and `ctrl_tcp` so a test drives it like a seat at its keyboard
(`command("transfer", "99999")`) and reads what it reports (`CALL_ESTABLISHED`,
`CALL_CLOSED`, ...). Used by tests/e2e to check that what one real softphone does after a
transfer loses no caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcore.sim.sipp import terminate

MODULES = Path("/usr/lib/baresip/modules")


def available() -> str | None:
    """None when baresip can run here; otherwise why not."""
    if shutil.which("baresip") is None:
        return "baresip is not installed (scripts/install-deps.sh installs baresip-core)"
    if not (MODULES / "ctrl_tcp.so").exists():
        return f"baresip has no ctrl_tcp module in {MODULES}"
    return None


def write_config(
    folder: Path, *, user: str, password: str, server: str, sip_port: int, ctrl_port: int,
    rtp_ports: tuple[int, int],
) -> None:  # fmt: skip
    """baresip's `config` and `accounts` for one seat that answers every call itself."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = {
        "poll_method": "epoll",
        "sip_listen": f"127.0.0.1:{sip_port}",
        "net_interface": "127.0.0.1",
        "rtp_ports": f"{rtp_ports[0]}-{rtp_ports[1]}",
        "audio_player": "alsa,null",
        "audio_alert": "alsa,null",
        "audio_source": "alsa,null",
        "module_path": str(MODULES),
        "ctrl_tcp_listen": f"127.0.0.1:{ctrl_port}",
    }
    modules = ["g711.so", "alsa.so"]
    apps = ["account.so", "menu.so", "ctrl_tcp.so"]
    text = [f"{k}\t\t{v}" for k, v in lines.items()]
    text += [f"module\t\t{m}" for m in modules] + [f"module_app\t\t{m}" for m in apps]
    (folder / "config").write_text("\n".join(text) + "\n", encoding="utf-8")
    (folder / "accounts").write_text(
        f"<sip:{user}@{server};transport=udp>;auth_user={user};auth_pass={password};"
        "answermode=auto;regint=600\n",
        encoding="utf-8",
    )


def netstring(data: dict[str, Any]) -> bytes:
    raw = json.dumps(data).encode()
    return str(len(raw)).encode() + b":" + raw + b","


@dataclass
class Baresip:
    """One running baresip and its control connection."""

    folder: Path
    ctrl_port: int
    process: asyncio.subprocess.Process | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    replies: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _writer: asyncio.StreamWriter | None = None
    _reader_task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 10.0) -> None:
        log = (self.folder / "baresip.log").open("wb")
        self.process = await asyncio.create_subprocess_exec(
            "baresip", "-f", str(self.folder), stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                break
            except OSError:
                if loop.time() > deadline or self.process.returncode is not None:
                    raise RuntimeError(f"baresip did not start: {self.log()[-2000:]}") from None
                await asyncio.sleep(0.2)
        self._reader_task = asyncio.create_task(self._read(reader))

    def log(self) -> str:
        path = self.folder / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            size = await reader.readuntil(b":")
            body = await reader.readexactly(int(size[:-1]) + 1)
            msg = json.loads(body[:-1])
            if msg.get("event"):
                self.events.append(msg)
            else:
                await self.replies.put(msg)

    async def command(self, name: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """A menu command (`accept`, `transfer`, `hangup`, ...) and baresip's reply."""
        assert self._writer is not None
        self._writer.write(netstring({"command": name, "params": params, "token": name}))
        await self._writer.drain()
        return await asyncio.wait_for(self.replies.get(), timeout)

    def registered(self) -> bool:
        """Its REGISTER was taken (it may be done before the control connection is up)."""
        return self.saw("REGISTER_OK") or "200 OK" in self.log()

    def saw(self, kind: str) -> bool:
        return any(e.get("type") == kind for e in self.events)

    async def stop(self) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
        if self._writer is not None:
            self._writer.close()
        if self.process is not None:
            await terminate(self.process)

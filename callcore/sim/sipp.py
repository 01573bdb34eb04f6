"""Simulated seats, citizens and the 12366 sub-centre, as real SIP traffic from sipp.

Seats register with their digest credentials (one sipp run for all of them), then each
behaviour (ring time, talk time, never answers) is one sipp UAS whose port the seats of
that behaviour register as their contact. Citizens are sipp UAC runs fed with a CSV of
calls. Every scenario logs one line per milestone with sipp's clock, which is how the
harness knows what each caller and seat experienced.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

SCENARIOS = Path(__file__).with_name("scenarios")
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(SCENARIOS), undefined=jinja2.StrictUndefined, autoescape=False
)
_media_ports = itertools.count(40000, 10)
_sip_ports = itertools.count(27000)


def use_port_base(sip: int, media: int) -> None:
    """Keep the local ports of this process's sipp runs apart from another harness's."""
    global _media_ports, _sip_ports
    _sip_ports = itertools.count(sip)
    _media_ports = itertools.count(media, 10)


class SippError(RuntimeError):
    pass


def sipp_binary() -> str:
    exe = shutil.which("sipp")
    if exe is None:
        raise SippError("sipp is missing: apt-get install sip-tester")
    return exe


def alaw_tone(path: Path, hz: int, seconds: int = 10) -> str:
    """A raw A-law file holding a steady tone (sox), for a caller's or seat's `audio`:
    sipp streams it as RTP payload 8, looped, and each side's tone tells them apart."""
    import subprocess

    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-e", "a-law", "-t", "al", str(path),
         "synth", str(seconds), "sine", str(hz), "vol", "0.5"],
        check=True,
    )  # fmt: skip
    return str(path)


def render_scenario(template: str, out: Path, **values) -> Path:
    out.write_text(_env.get_template(template).render(**values), encoding="utf-8")
    return out


def _csv_field(value: str) -> str:
    # sipp's -inf uses ';' between fields and has no quoting
    return value.replace(";", ",").replace("\n", " ").replace("\r", " ")


def write_inf(path: Path, rows: list[list[str]]) -> Path:
    lines = ["SEQUENTIAL"] + [";".join(_csv_field(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def terminate(proc: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    """End a simulator's process: SIGTERM, and SIGKILL if it lingers past `grace`."""
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        proc.kill()
        await proc.wait()


class SippProcess:
    """One sipp run; stdout/stderr go to files, milestones to the log file."""

    def __init__(self, workdir: Path, name: str, args: list[str]):
        self.workdir = workdir = workdir.absolute()  # sipp runs in it; paths must not be relative
        self.name = name
        self.log = workdir / f"{name}.log"
        self.err = workdir / f"{name}.err"
        self.args = [
            sipp_binary(),
            *args,
            "-trace_logs",
            "-log_file",
            str(self.log),
            "-trace_err",
            "-error_file",
            str(self.err),
            "-mp",
            str(next(_media_ports)),
        ]
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        out = open(self.workdir / f"{self.name}.out", "wb")
        self.proc = await asyncio.create_subprocess_exec(
            *self.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.workdir,
        )
        out.close()

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.stop()
            raise SippError(f"sipp {self.name} did not finish within {timeout:.0f} s") from None

    async def stop(self) -> None:
        if self.proc is not None:
            await terminate(self.proc)

    def lines(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [ln.strip().split(";") for ln in text.splitlines() if ";" in ln]


@dataclass(frozen=True)
class Behaviour:
    """How a group of simulated seats handles an offered call."""

    name: str
    ring_ms: int = 1500
    talk_ms: int = 4000
    answer: bool = True
    audio: str = ""  # a raw A-law file the seat plays once it answers (none: silent)


@dataclass
class SeatFarm:
    """Registered simulated seats, grouped by behaviour."""

    workdir: Path
    server: str  # host:port of Asterisk's SIP transport
    credentials: dict[str, str]  # extension -> password
    behaviour_of: dict[str, Behaviour]  # extension -> behaviour
    bind: str = "127.0.0.1"
    base_port: int = 26000
    expires: int = 3600
    _uas: dict[str, SippProcess] = field(default_factory=dict)
    _ports: dict[str, int] = field(default_factory=dict)

    async def start(self) -> dict[str, bool]:
        """Start the behaviours, register every seat; returns extension -> registered."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        for i, b in enumerate(
            sorted({b for b in self.behaviour_of.values()}, key=lambda b: b.name)
        ):
            port = self.base_port + i
            scen = render_scenario(
                "seat_uas.xml.j2",
                self.workdir / f"seat-{b.name}.xml",
                name=f"seat {b.name}",
                ring_ms=b.ring_ms,
                talk_ms=b.talk_ms,
                answer=b.answer,
                audio=b.audio,
            )
            self._uas[b.name] = await start_uas(self.workdir, f"seat-{b.name}", scen, port,
                                                self.bind, settle=0)
            self._ports[b.name] = port
        await asyncio.sleep(0.3)
        result = await self.register(self.credentials)
        for attempt in range(2):  # a softphone retries too: a REGISTER lost under load
            missing = {ext: self.credentials[ext] for ext, ok in result.items() if not ok}
            if not missing:
                break
            result.update(await self.register(missing, tag=f"register-retry{attempt}"))
        return result

    async def register(self, credentials: dict[str, str], tag: str = "register") -> dict[str, bool]:
        contacts = {ext: (pw, self._ports[self.behaviour_of[ext].name])
                    for ext, pw in credentials.items()}
        return await register_contacts(self.workdir, self.server, contacts, tag=tag,
                                       bind=self.bind, expires=self.expires)

    async def stop(self) -> None:
        for p in self._uas.values():
            await p.stop()


@dataclass(frozen=True)
class Call:
    caller: str
    name: str
    dialed: str


@dataclass
class CallResult:
    caller: str
    dialed: str
    outcome: str = "failed"  # answered | abandoned | rejected | failed
    invite_tick: int | None = None
    answer_tick: int | None = None
    end_tick: int | None = None
    call_id: str = ""

    @property
    def setup_ms(self) -> int | None:
        if self.invite_tick is None or self.answer_tick is None:
            return None
        return self.answer_tick - self.invite_tick


async def place_calls(
    workdir: Path,
    server: str,
    calls: list[Call],
    *,
    patience_ms: int = 60000,
    talk_ms: int = 600000,
    rate: float = 5.0,
    bind: str = "127.0.0.2",
    name: str = "callers",
    timeout: float = 300.0,
    talk_mean_ms: int = 0,
    audio: str = "",
) -> list[CallResult]:
    """Run the calls (one sipp UAC) until all ended; what each caller experienced.

    `talk_mean_ms` > 0: callers hang up after an exponentially distributed talk time
    (load runs, where seats never hang up); otherwise they talk until the seat hangs up
    or `talk_ms` passes. `audio`: a raw A-law file each caller plays once answered.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    scen = render_scenario(
        "caller.xml.j2",
        workdir / f"{name}.xml",
        name=name,
        patience_ms=patience_ms,
        talk_ms=talk_ms,
        talk_mean_ms=talk_mean_ms,
        audio=audio,
    )
    p = await run_client(workdir, name, scen, [[c.caller, c.name, c.dialed] for c in calls],
                         server, bind=bind, rate=rate, limit=max(len(calls), 1), timeout=timeout,
                         extra=("-rp", "1000"))
    return parse_caller_log(p.lines(), calls)


async def run_client(
    workdir: Path,
    name: str,
    scenario: Path,
    rows: list[list[str]],
    server: str,
    *,
    bind: str,
    rate: float,
    limit: int,
    timeout: float,
    extra: tuple[str, ...] = (),
) -> SippProcess:
    """One sipp client playing `scenario` once per CSV row, run to its end (callers,
    feature codes, registrations)."""
    inf = write_inf(workdir / f"{name}.csv", rows)
    p = SippProcess(
        workdir,
        name,
        ["-sf", str(scenario), "-inf", str(inf), "-i", bind, "-p", str(next(_sip_ports)),
         "-m", str(len(rows)), "-r", f"{rate:g}", *extra, "-l", str(limit), server],
    )
    p.log.unlink(missing_ok=True)
    await p.start()
    await p.wait(timeout)
    return p


async def start_uas(
    workdir: Path, name: str, scenario: Path, port: int, bind: str, settle: float = 0.2
) -> SippProcess:
    """A sipp UAS on `port`: seats registered with it as their contact answer as it does."""
    p = SippProcess(workdir, name, ["-sf", str(scenario), "-i", bind, "-p", str(port)])
    p.log.unlink(missing_ok=True)
    await p.start()
    await asyncio.sleep(settle)
    return p


async def register_contacts(
    workdir: Path, server: str, contacts: dict[str, tuple[str, int]], **kw: Any
) -> dict[str, bool]:
    """Register each extension (password, contact port) with its digest credentials;
    returns extension -> accepted (`register_outcomes` takes the same options)."""
    out = await register_outcomes(workdir, server, contacts, **kw)
    return {ext: o == "REGISTERED" for ext, o in out.items()}


async def register_outcomes(
    workdir: Path,
    server: str,
    contacts: dict[str, tuple[str, int]],
    *,
    tag: str = "register",
    bind: str = "127.0.0.1",
    expires: int = 3600,
    silent_ms: int | None = None,
) -> dict[str, str]:
    """Like `register_contacts`, with what each REGISTER met: REGISTERED, REJECTED (a 401
    to the credentials), FORBIDDEN (a 403 before any challenge: an ACL refuses this
    address), with `silent_ms` SILENT (no answer at all that long), or FAILED."""
    workdir.mkdir(parents=True, exist_ok=True)
    rows = [[ext, f"[authentication username={ext} password={pw}]", bind, str(port),
             str(expires)] for ext, (pw, port) in contacts.items()]
    scen = render_scenario("seat_register.xml.j2", workdir / f"{tag}.xml", silent_ms=silent_ms)
    p = await run_client(workdir, tag, scen, rows, server, bind=bind, rate=50, limit=50,
                         timeout=60)
    done = {row[1]: row[0] for row in p.lines() if len(row) >= 2}
    return {ext: done.get(ext, "FAILED") for ext in contacts}


def parse_caller_log(lines: list[list[str]], calls: list[Call]) -> list[CallResult]:
    results = {c.caller: CallResult(c.caller, c.dialed) for c in calls}
    for row in lines:
        if len(row) < 4 or row[1] not in results:
            continue
        r = results[row[1]]
        kind, tick = row[0], _int(row[3])
        if kind == "INVITE":
            r.invite_tick = tick
            r.call_id = row[4] if len(row) > 4 else ""
        elif kind == "ANSWERED":
            r.answer_tick, r.outcome = tick, "answered"
        elif kind in ("HUNGUP", "BYE"):
            r.end_tick = tick
        elif kind == "ABANDONED":
            r.end_tick, r.outcome = tick, "abandoned"
        elif kind == "REJECTED":
            r.end_tick, r.outcome = tick, "rejected"
    return [results[c.caller] for c in calls]


def _int(text: str) -> int | None:
    with contextlib.suppress(ValueError):
        return int(text)
    return None

"""What simulated seats do besides answering: dial feature codes, transfer callers with
their softphone's transfer button, register with given credentials.

Like `callcore.sim.sipp`, every action is real SIP from sipp, authenticated with the
seat's digest credentials, and every milestone is a log line the tests read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from callcore.sim import sipp
from callcore.sim.sipp import Behaviour, SippProcess, render_scenario, write_inf


@dataclass(frozen=True)
class Dialed:
    extension: str
    code: str
    outcome: str  # DONE (answered, confirmation heard) | REFUSED | failed


async def dial_codes(
    workdir: Path,
    server: str,
    rows: list[tuple[str, str, str]],
    *,
    name: str = "features",
    bind: str = "127.0.0.1",
    rate: float = 10.0,
    timeout: float = 60.0,
) -> list[Dialed]:
    """Each (extension, code, password) dials its code once, all concurrently."""
    workdir.mkdir(parents=True, exist_ok=True)
    scen = render_scenario("seat_feature.xml.j2", workdir / f"{name}.xml")
    inf = write_inf(
        workdir / f"{name}.csv",
        [[ext, code, f"[authentication username={ext} password={pw}]"] for ext, code, pw in rows],
    )
    p = SippProcess(
        workdir,
        name,
        [
            "-sf",
            str(scen),
            "-inf",
            str(inf),
            "-i",
            bind,
            "-p",
            str(next(sipp._sip_ports)),
            "-m",
            str(len(rows)),
            "-r",
            f"{rate:g}",
            "-l",
            str(len(rows)),
            server,
        ],
    )
    p.log.unlink(missing_ok=True)
    await p.start()
    await p.wait(timeout)
    outcome: dict[tuple[str, str], str] = {}
    for row in p.lines():
        if len(row) >= 3 and row[0] in ("DONE", "REFUSED"):
            outcome[(row[1], row[2])] = row[0]
    return [Dialed(ext, code, outcome.get((ext, code), "failed")) for ext, code, _ in rows]


async def register(
    workdir: Path,
    server: str,
    contacts: dict[str, tuple[str, int]],
    *,
    tag: str = "reregister",
    bind: str = "127.0.0.1",
    expires: int = 3600,
) -> dict[str, bool]:
    """Register each extension (password, contact port); returns extension -> accepted."""
    workdir.mkdir(parents=True, exist_ok=True)
    rows = [
        [ext, f"[authentication username={ext} password={pw}]", bind, str(port), str(expires)]
        for ext, (pw, port) in contacts.items()
    ]
    inf = write_inf(workdir / f"{tag}.csv", rows)
    scen = render_scenario("seat_register.xml.j2", workdir / "seat_register.xml")
    p = SippProcess(
        workdir,
        tag,
        [
            "-sf",
            str(scen),
            "-inf",
            str(inf),
            "-i",
            bind,
            "-p",
            str(next(sipp._sip_ports)),
            "-m",
            str(len(rows)),
            "-r",
            "50",
            "-l",
            "50",
            server,
        ],
    )
    p.log.unlink(missing_ok=True)
    await p.start()
    await p.wait(60)
    done = {row[1]: row[0] == "REGISTERED" for row in p.lines() if len(row) >= 2}
    return {ext: done.get(ext, False) for ext in contacts}


async def start_transferring_seat(
    workdir: Path,
    name: str,
    port: int,
    *,
    server: str,
    target: str,
    attended: bool = False,
    user: str = "",
    password: str = "",
    ring_ms: int = 500,
    talk_ms: int = 1500,
    consult_ms: int = 1500,
    bind: str = "127.0.0.1",
) -> SippProcess:
    """A sipp UAS behaving as a seat that transfers every call it answers to `target`.

    Register the seat's extension with this port as its contact to make it that seat.
    An attended transfer authenticates its consultation call as `user`/`password`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    scen = render_scenario(
        "seat_transfer.xml.j2",
        workdir / f"{name}.xml",
        name=name,
        server=server,
        server_host=server.rsplit(":", 1)[0],
        target=target,
        attended=attended,
        user=user,
        password=password,
        ring_ms=ring_ms,
        talk_ms=talk_ms,
        consult_ms=consult_ms,
    )
    p = SippProcess(workdir, name, ["-sf", str(scen), "-i", bind, "-p", str(port)])
    p.log.unlink(missing_ok=True)
    await p.start()
    await asyncio.sleep(0.2)
    return p


async def start_seat_behaviour(
    workdir: Path, name: str, port: int, behaviour: Behaviour, bind: str = "127.0.0.1"
) -> SippProcess:
    """A sipp UAS answering like `behaviour`; register a seat here to give it that behaviour."""
    workdir.mkdir(parents=True, exist_ok=True)
    scen = render_scenario(
        "seat_uas.xml.j2",
        workdir / f"{name}.xml",
        name=name,
        ring_ms=behaviour.ring_ms,
        talk_ms=behaviour.talk_ms,
        answer=behaviour.answer,
    )
    p = SippProcess(workdir, name, ["-sf", str(scen), "-i", bind, "-p", str(port)])
    p.log.unlink(missing_ok=True)
    await p.start()
    await asyncio.sleep(0.2)
    return p

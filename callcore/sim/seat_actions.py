"""What simulated seats do besides answering: dial feature codes, transfer callers with
their softphone's transfer button, register with given credentials.

Like `callcore.sim.sipp`, every action is real SIP from sipp, authenticated with the
seat's digest credentials, and every milestone is a log line the tests read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from callcore.sim import sipp
from callcore.sim.sipp import Behaviour, SippProcess, render_scenario


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
    rows_csv = [[ext, code, f"[authentication username={ext} password={pw}]"]
                for ext, code, pw in rows]
    p = await sipp.run_client(workdir, name, scen, rows_csv, server, bind=bind, rate=rate,
                              limit=len(rows), timeout=timeout)
    outcome: dict[tuple[str, str], str] = {}
    for row in p.lines():
        if len(row) >= 3 and row[0] in ("DONE", "REFUSED"):
            outcome[(row[1], row[2])] = row[0]
    return [Dialed(ext, code, outcome.get((ext, code), "failed")) for ext, code, _ in rows]


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
    hang_up_after_refer: bool = False,
) -> SippProcess:
    """A sipp UAS behaving as a seat that transfers every call it answers to `target`.

    Register the seat's extension with this port as its contact to make it that seat.
    An attended transfer authenticates its consultation call as `user`/`password`.
    `hang_up_after_refer`: like baresip, it hangs up once the REFER is answered and its
    NOTIFYs are done, even when the transfer failed (a plain sipp seat keeps the caller).
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
        hang_up_after_refer=hang_up_after_refer,
    )
    return await sipp.start_uas(workdir, name, scen, port, bind)


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
        audio=behaviour.audio,
    )
    return await sipp.start_uas(workdir, name, scen, port, bind)

"""A whole simulated site: Asterisk, the engine as its own process, sipp seats and the
12366 sub-centre. The demo, the end-to-end tests and the benchmarks all run on this."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

from callcore.asterisk import render, runtime
from callcore.commands import one_shot_session
from callcore.instance import Instance
from callcore.records import CallRecord
from callcore.sim.sipp import Behaviour, SeatFarm, SippProcess, render_scenario
from callcore.store import db
from seats import agent


class SimSite:
    def __init__(self, inst: Instance, workdir: Path | None = None):
        self.inst = inst
        self.cfg = inst.config
        self.workdir = (workdir or inst.home / "sim").absolute()
        self.rt: runtime.Runtime | None = None
        self.engine_proc: asyncio.subprocess.Process | None = None
        self.farm: SeatFarm | None = None
        self.subcentre: SippProcess | None = None
        self.far_side: SippProcess | None = None
        self._db = None

    @property
    def sip_server(self) -> str:
        return f"{self.cfg.pbx.bind}:{self.cfg.pbx.sip_port}"

    @property
    def carrier_ip(self) -> str:
        return self.cfg.trunk(self.cfg.carrier_trunk).host

    # -- Asterisk --------------------------------------------------------------------
    async def boot_asterisk(self, bare: bool = False) -> None:
        self.rt = await asyncio.to_thread(runtime.find_runtime)
        await asyncio.to_thread(render.render_all, self.inst, self.rt, bare)
        if runtime.read_pid(self.inst) is not None:
            await asyncio.to_thread(runtime.stop, self.rt, self.inst)
        await asyncio.to_thread(runtime.start, self.rt, self.inst)

    async def rx(self, command: str) -> str:
        assert self.rt is not None
        return await asyncio.to_thread(runtime.rx, self.rt, self.inst, command)

    async def stop_asterisk(self) -> None:
        if self.rt is not None:
            await asyncio.to_thread(runtime.stop, self.rt, self.inst)

    async def kill_asterisk(self) -> None:
        """Crash Asterisk (SIGKILL to its process group): no hangups, no events, no goodbye."""
        pid = runtime.read_pid(self.inst)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for _ in range(200):  # gone within 10 s: SIGKILL cannot be refused
            if runtime.read_pid(self.inst) is None:
                return
            await asyncio.sleep(0.05)

    async def start_asterisk(self) -> None:
        """Start Asterisk again with the config already rendered (e.g. after a crash)."""
        assert self.rt is not None
        await asyncio.to_thread(runtime.start, self.rt, self.inst)

    # -- the engine ------------------------------------------------------------------
    async def start_engine(
        self,
        *,
        agi: bool = True,
        timeout: float = 30.0,
        config_path: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """`callcore run` as its own process; `config_path`/`env` vary it (fault tests)."""
        ready = self.inst.run / "callcore.ready"
        ready.unlink(missing_ok=True)
        args = [
            sys.executable,
            "-m",
            "callcore.cli",
            "-v",
            "--home",
            str(self.inst.home),
            "--config",
            str(config_path or self.inst.config_path),
            "run",
        ]
        if not agi:
            args.append("--no-agi")
        log = open(self.inst.log / "callcore.log", "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.engine_proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.engine_proc.returncode is not None:
                raise RuntimeError(
                    f"callcore run exited ({self.engine_proc.returncode}); see "
                    f"{self.inst.log / 'callcore.log'}"
                )
            if ready.exists() and json.loads(ready.read_text()).get("ami"):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"callcore run not ready within {timeout:.0f} s")

    async def stop_engine(self, sig: int | None = None) -> int | None:
        p, self.engine_proc = self.engine_proc, None
        if p is None or p.returncode is not None:
            return p.returncode if p else None
        if sig is None:
            p.terminate()
        else:
            p.send_signal(sig)
        try:
            return await asyncio.wait_for(p.wait(), 40)
        except TimeoutError:
            p.kill()
            return await p.wait()

    # -- seats and the sub-centre ------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        pw = self.inst.secrets().seat_passwords
        return {s.extension: pw[s.id] for s in self.cfg.seats}

    async def start_seats(
        self, behaviour_of: dict[str, Behaviour], base_port: int = 26000, login: bool = True
    ) -> dict[str, bool]:
        creds = {ext: pw for ext, pw in self.credentials().items() if ext in behaviour_of}
        self.farm = SeatFarm(
            self.workdir, self.sip_server, creds, behaviour_of, base_port=base_port
        )
        registered = await self.farm.start()
        if login:
            await self.login_seats([s.id for s in self.cfg.seats if s.extension in behaviour_of])
        return registered

    async def login_seats(self, ids: list[str]) -> None:
        ami = await one_shot_session(self.inst)
        try:
            for s in self.cfg.seats:
                if s.id in ids:
                    await agent.login(ami, self.cfg, s)
        finally:
            await ami.close()

    async def start_subcentre(self, behaviour: Behaviour, trunk_id: str = "tax12366") -> None:
        trunk = self.cfg.trunk(trunk_id)
        self.workdir.mkdir(parents=True, exist_ok=True)
        scen = render_scenario(
            "seat_uas.xml.j2",
            self.workdir / "subcentre.xml",
            name="12366 sub-centre",
            ring_ms=behaviour.ring_ms,
            talk_ms=behaviour.talk_ms,
            answer=behaviour.answer,
            audio=behaviour.audio,
        )
        self.subcentre = SippProcess(
            self.workdir, "subcentre", ["-sf", str(scen), "-i", trunk.host, "-p", str(trunk.port)]
        )
        await self.subcentre.start()

    async def start_far_side(self, ring_ms: int = 1000, talk_ms: int = 60000) -> SippProcess:
        """The carrier's far side of calls out: citizens' phones and 110 & co., each number
        behaving by its last digit (scenarios/carrier_far.xml.j2)."""
        trunk = self.cfg.trunk(self.cfg.carrier_trunk)
        self.workdir.mkdir(parents=True, exist_ok=True)
        scen = render_scenario(
            "carrier_far.xml.j2", self.workdir / "far-side.xml", ring_ms=ring_ms, talk_ms=talk_ms
        )
        self.far_side = SippProcess(
            self.workdir, "far-side", ["-sf", str(scen), "-i", trunk.host, "-p", str(trunk.port)]
        )
        await self.far_side.start()
        return self.far_side

    async def stop_subcentre(self) -> None:
        if self.subcentre is not None:
            await self.subcentre.stop()
            self.subcentre = None

    async def trunk_reachable(self, trunk_id: str) -> bool:
        out = await self.rx(f"pjsip show contacts like {trunk_id}")
        return "Avail" in out and "Unavail" not in out

    async def wait_trunk(self, trunk_id: str, reachable: bool, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.trunk_reachable(trunk_id) == reachable:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(
            f"trunk {trunk_id} did not become {'reachable' if reachable else 'unreachable'}"
        )

    # -- the store ---------------------------------------------------------------------
    def engine_db(self):
        if self._db is None:
            self._db = db.make_engine(self.inst.db_url)
        return self._db

    async def records(self, since: datetime | None = None) -> list[CallRecord]:
        return await asyncio.to_thread(db.query_calls, self.engine_db(), since)

    async def wait_records(
        self, callers: list[str], timeout: float = 30.0, since: datetime | None = None
    ) -> dict[str, list[CallRecord]]:
        """Stored rows per caller number, once each of them has a finished record."""
        deadline = time.monotonic() + timeout
        while True:
            by: dict[str, list[CallRecord]] = {c: [] for c in callers}
            for r in await self.records(since):
                if r.caller_number in by:
                    by[r.caller_number].append(r)
            if all(rows and all(x.ended_at is not None for x in rows) for rows in by.values()):
                return by
            if time.monotonic() > deadline:
                return by
            await asyncio.sleep(0.3)

    async def shutdown(self, keep: bool = False) -> None:
        if self.farm is not None:
            await self.farm.stop()
        await self.stop_subcentre()
        if self.far_side is not None:
            await self.far_side.stop()
        if not keep:
            await self.stop_engine()
            await self.stop_asterisk()
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.dispose()

"""Load harness: what callcore costs on top of bare Asterisk, measured in one run.

The same site (queues, seats, static routing) is loaded twice: once with callcore routing,
tracking and storing every call, once as bare Asterisk (the dialplan's static routing, no
FastAGI leg, no events, no engine). Simulated seats answer after a short ring and never hang
up; simulated citizens call at a given rate across the number classes, talk for an
exponentially distributed time and hang up, or give up when their patience runs out.
Every figure comes out for both, so each is also a ratio. Figures are reported, never
asserted: these machines are noisy.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import yaml

from callcore.asterisk import runtime
from callcore.instance import Instance
from callcore.records import Outcome
from callcore.sim import sipp
from callcore.sim.sipp import Behaviour, Call, CallResult, place_calls
from callcore.sim.site import SimSite
from callcore.wiring.telemetry import percentiles, proc_usage
from config.loader import DEFAULT_PATH

# Called numbers and their weights: mostly 12345, the kept numbers, some cancelled numbers
# (their notice is early media, so their set-up time is reported apart), 12366, unknown.
MIX = [("12345", 70), ("12333", 4), ("12393", 4), ("12315", 4), ("12329", 3), ("12349", 4),
       ("81610000", 3), ("12366", 4), ("99999", 4)]
# Capacity (step mode) is measured on calls a general seat answers at once: a kept number's
# caller waits for its zone's two experts before overflowing, which is staffing, not load.
GENERAL_MIX = [("12345", 1)]
NOTICE_NUMBERS = frozenset({"12349", "81610000"})
TRUNK_NUMBERS = frozenset({"12366"})


@dataclass
class Load:
    rate: float = 4.0  # new calls per second
    seconds: float = 30.0
    seats: int = 80
    talk_mean_ms: int = 10000
    ring_ms: int = 300
    impatient_share: float = 0.1
    impatient_ms: int = 3000
    patient_ms: int = 120000
    numbers: str = "mix"  # "mix": every number class (MIX); "general": 12345 only
    fixed_talk: bool = False  # every caller talks exactly talk_mean_ms (a plateau of calls)


@dataclass
class Report:
    mode: str
    load: dict
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    failed: int = 0
    peak_calls: int = 0  # most calls up at once, as the callers saw them
    setup_ms: dict = field(default_factory=dict)  # direct calls: INVITE to the seat's answer
    setup_notice_ms: dict = field(default_factory=dict)  # cancelled numbers, notice included
    routing_agi_ms: dict | None = None  # at the FastAGI server
    routing_asterisk_ms: dict | None = None  # routing leg created → decision written
    ami_lag_ms: dict | None = None
    asterisk_cpu_s: float = 0.0
    callcore_cpu_s: float | None = None
    callcore_peak_rss_mb: float | None = None
    stored: int | None = None
    stored_once: bool | None = None
    stored_answered: int | None = None  # what the store says, to compare with the callers
    stored_abandoned: int | None = None
    seconds: float = 0.0

    def clean(self, setup_bound_ms: float) -> bool:
        """No failed call, every call stored once, and set-up p99 under the bound."""
        p99 = self.setup_ms.get("p99")
        return (self.failed == 0 and self.stored_once is not False
                and p99 is not None and p99 <= setup_bound_ms)


def bench_config(path: Path, base: int, seats: int) -> Path:
    """The city's directory with ports from `base` and `seats` generated seats."""
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    # RTP: two ports (RTP, RTCP) per channel, two channels per call; 1,000 ports made the
    # first step runs fail at 60 calls/s for want of ports, not CPU (res_rtp_asterisk)
    rtp_ports = max(1000, seats * 8)
    data["pbx"].update({"sip_port": base + 60, "ami_port": base + 38, "agi_port": base + 73,
                        "api_port": base + 45, "rtp_start": base - 1001 - rtp_ports,
                        "rtp_end": base - 1001})
    for t in data["trunks"]:
        if t["id"] == "tax12366":
            t["port"] = base + 70
    zones = [z["id"] for z in data["zones"] if z["kind"] != "general"]
    generated = []
    ext = itertools.count(6000)
    for z in zones:  # two seats per zone of its own
        role = {"tax": "tax", "enterprise": "enterprise"}.get(z, "expert")
        for i in range(2):
            generated.append({"id": f"B-{z}{i}", "name": f"专席{z}{i}", "extension": str(next(ext)),
                              "role": role, "zone": z})
    experts = [z for z in zones if z not in ("tax", "enterprise")]
    for i in range(max(seats - len(generated), 1)):
        generated.append({"id": f"B-g{i:04d}", "name": f"综合座席{i:04d}",
                          "extension": str(next(ext)), "role": "general", "zone": "general",
                          "skills": {experts[i % len(experts)]: 2}})
    data["seats"] = generated
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def traffic(load: Load, rng: random.Random) -> list[Call]:
    mix = GENERAL_MIX if load.numbers == "general" else MIX
    numbers = [n for n, w in mix for _ in range(w)]
    count = max(1, round(load.rate * load.seconds))
    return [Call(f"1870{i:07d}", "压测用户", rng.choice(numbers)) for i in range(count)]


def summarize(results: list[CallResult]) -> dict:
    direct = [r.setup_ms for r in results if r.setup_ms is not None
              and r.dialed not in NOTICE_NUMBERS | TRUNK_NUMBERS]
    notice = [r.setup_ms for r in results if r.setup_ms is not None
              and r.dialed in NOTICE_NUMBERS]
    return {
        "offered": len(results),
        "answered": sum(r.outcome == "answered" for r in results),
        "abandoned": sum(r.outcome == "abandoned" for r in results),
        "failed": sum(r.outcome in ("failed", "rejected") for r in results),
        "setup_ms": percentiles(direct, 0.5, 0.95, 0.99),
        "setup_notice_ms": percentiles(notice, 0.5, 0.99),
        "peak_calls": peak_concurrency(results),
    }


def peak_concurrency(results: list[CallResult]) -> int:
    """Most calls between INVITE and end at one moment (the caller processes start
    together, so their clocks agree to a few ms)."""
    edges = sorted(e for r in results if r.invite_tick is not None and r.end_tick is not None
                   for e in ((r.invite_tick, 1), (r.end_tick, -1)))
    peak = up = 0
    for _, step in edges:
        up += step
        peak = max(peak, up)
    return peak


async def run(mode: str, load: Load, workdir: Path, base: int = 15000,
              seed: int = 12345) -> Report:
    """One load run against `mode` ("callcore" or "bare") on a fresh instance."""
    assert mode in ("callcore", "bare")
    workdir = workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    sipp.use_port_base(base + 200, base + 1000)
    inst = Instance(workdir / f"{mode}-home", bench_config(workdir / f"{mode}.yaml", base,
                                                           load.seats))
    site = SimSite(inst, workdir / f"{mode}-sim")
    report = Report(mode, asdict(load))
    try:
        await site.boot_asterisk(bare=mode == "bare")
        if mode == "callcore":
            await site.start_engine()
        seat = Behaviour("bench", ring_ms=load.ring_ms, talk_ms=3_600_000)
        registered = await site.start_seats({s.extension: seat for s in inst.config.seats},
                                            base_port=base + 100)
        if not all(registered.values()):
            raise RuntimeError(f"{sum(not v for v in registered.values())} seats did not register")
        await site.start_subcentre(Behaviour("subcentre", ring_ms=load.ring_ms,
                                             talk_ms=3_600_000))
        await site.wait_trunk("tax12366", True)

        calls = traffic(load, random.Random(seed))
        split = int(len(calls) * load.impatient_share)
        impatient, patient = calls[:split], calls[split:]
        ast_pid = runtime.read_pid(inst)
        eng_pid = site.engine_proc.pid if site.engine_proc else None
        cpu0 = proc_usage(ast_pid)["cpu_s"] if ast_pid else 0.0
        eng0 = proc_usage(eng_pid)["cpu_s"] if eng_pid else 0.0
        started, t0 = datetime.now(UTC), time.monotonic()
        groups = [(patient, load.patient_ms, "patient"),
                  (impatient, load.impatient_ms, "impatient")]
        runs = [place_calls(site.workdir, site.sip_server, group, patience_ms=patience,
                            rate=load.rate * len(group) / len(calls), bind=site.carrier_ip,
                            name=f"load-{name}", timeout=load.seconds + 600,
                            talk_mean_ms=0 if load.fixed_talk else load.talk_mean_ms,
                            **({"talk_ms": load.talk_mean_ms} if load.fixed_talk else {}))
                for group, patience, name in groups if group]
        results = [r for rs in await asyncio.gather(*runs) for r in rs]
        report.seconds = time.monotonic() - t0
        for k, v in summarize(results).items():
            setattr(report, k, v)
        if ast_pid:
            report.asterisk_cpu_s = proc_usage(ast_pid)["cpu_s"] - cpu0
        if eng_pid:
            usage = proc_usage(eng_pid)
            report.callcore_cpu_s = usage["cpu_s"] - eng0
            report.callcore_peak_rss_mb = usage["peak_rss_mb"]
            rows = await site.wait_records([c.caller for c in calls], timeout=60, since=started)
            stored = [r for v in rows.values() for r in v]
            report.stored = len(stored)
            report.stored_once = all(len(v) == 1 for v in rows.values())
            report.stored_answered = sum(r.answered_at is not None for r in stored)
            report.stored_abandoned = sum(r.outcome is Outcome.ABANDONED for r in stored)
            await site.stop_engine()  # writes its final engine-stats.json
            stats = json.loads((inst.run / "engine-stats.json").read_text())
            agi = stats.get("agi") or {}
            report.routing_agi_ms = {"p50": agi.get("p50"), "p99": agi.get("p99")}
            ra = stats.get("route_in_asterisk") or {}
            report.routing_asterisk_ms = {"p50": ra.get("p50_ms"), "p99": ra.get("p99_ms")}
            lag = stats.get("ami_lag") or {}
            report.ami_lag_ms = {"p50": lag.get("p50_ms"), "p99": lag.get("p99_ms")}
        return report
    finally:
        with contextlib.suppress(Exception):
            await site.shutdown()


async def compare(load: Load, workdir: Path, base: int = 15000) -> list[Report]:
    """The same load against bare Asterisk, then callcore."""
    return [await run("bare", load, workdir, base), await run("callcore", load, workdir, base)]


async def step(load: Load, workdir: Path, rates: list[float], setup_bound_ms: float = 3000,
               base: int = 15000) -> dict[str, float | None]:
    """Raise the call rate until a run is not clean; the highest clean rate of each mode.

    Each rate runs bare then callcore back to back, so both see the same machine weather.
    """
    best: dict[str, float | None] = {"bare": None, "callcore": None}
    going = {"bare": True, "callcore": True}
    for rate in rates:
        for mode in [m for m, on in going.items() if on]:
            seats = max(load.seats, int(rate * load.talk_mean_ms / 1000 * 2) + 30)
            r = await run(mode, Load(**{**asdict(load), "rate": rate, "seats": seats,
                                        "impatient_share": 0.0, "numbers": "general"}),
                          workdir, base)
            print(f"{mode} {rate:g}/s ({seats} seats): failed {r.failed}, set-up p50/p99 "
                  f"{r.setup_ms.get('p50')}/{r.setup_ms.get('p99')} ms, Asterisk CPU "
                  f"{r.asterisk_cpu_s:.1f} s, callcore CPU {r.callcore_cpu_s} s, routing p99 "
                  f"{(r.routing_agi_ms or {}).get('p99')} ms, stored once {r.stored_once}",
                  flush=True)
            if r.clean(setup_bound_ms):
                best[mode] = rate
            else:
                going[mode] = False
        if not any(going.values()):
            break
    return best


def _fmt(v) -> str:
    if v is None:
        return "—"
    return f"{v:.1f}" if isinstance(v, float) else str(v)


ROWS = [
    ("calls offered", lambda r: r.offered),
    ("answered", lambda r: r.answered),
    ("abandoned", lambda r: r.abandoned),
    ("failed", lambda r: r.failed),
    ("peak concurrent calls", lambda r: r.peak_calls),
    ("set-up p50 ms (INVITE→seat answer)", lambda r: r.setup_ms.get("p50")),
    ("set-up p95 ms", lambda r: r.setup_ms.get("p95")),
    ("set-up p99 ms", lambda r: r.setup_ms.get("p99")),
    ("set-up p50 ms with merge notice", lambda r: r.setup_notice_ms.get("p50")),
    ("routing p50 ms at FastAGI", lambda r: (r.routing_agi_ms or {}).get("p50")),
    ("routing p99 ms at FastAGI", lambda r: (r.routing_agi_ms or {}).get("p99")),
    ("routing p50 ms in Asterisk (AGIExecEnd)", lambda r: (r.routing_asterisk_ms or {}).get("p50")),
    ("routing p99 ms in Asterisk", lambda r: (r.routing_asterisk_ms or {}).get("p99")),
    ("AMI event lag p50 ms", lambda r: (r.ami_lag_ms or {}).get("p50")),
    ("AMI event lag p99 ms", lambda r: (r.ami_lag_ms or {}).get("p99")),
    ("Asterisk CPU s", lambda r: r.asterisk_cpu_s),
    ("callcore CPU s", lambda r: r.callcore_cpu_s),
    ("callcore peak RSS MB", lambda r: r.callcore_peak_rss_mb),
    ("calls stored", lambda r: r.stored),
    ("stored as answered", lambda r: r.stored_answered),
    ("stored as abandoned", lambda r: r.stored_abandoned),
    ("every call stored once", lambda r: r.stored_once),
]


def print_reports(reports: list[Report]) -> None:
    from rich.table import Table

    from callcore.features.calls.present import make_console

    table = Table(title="callcore load run (figures, not assertions)")
    table.add_column("figure")
    for r in reports:
        table.add_column(r.mode, justify="right")
    if len(reports) == 2:
        table.add_column("callcore / bare", justify="right")
    for label, get in ROWS:
        values = [get(r) for r in reports]
        row = [label, *(_fmt(v) for v in values)]
        if len(reports) == 2:
            a, b = values
            ok = isinstance(a, int | float) and isinstance(b, int | float) and a and b is not None
            row.append(f"{b / a:.2f}" if ok and not isinstance(a, bool) else "")
        table.add_row(*row)
    make_console().print(table)

"""Benchmark of recordings: Asterisk's CPU per recorded minute, the compression's, and
the disk 1,000 calls of 150 s take, against bare Asterisk (recording off) in the same run.

Both runs boot a real Asterisk on the same site (the city's directory, `--calls` general
seats) and hold `--calls` concurrent calls for `--talk` seconds, citizen and seat both
sending G.711 (sipp RTP streams). "bare" renders the dialplan without callcore (nothing
recorded); "recorded" is callcore's dialplan with recording on and no engine running
(routing falls back to the static dialplan, as when callcore is down), so its extra
Asterisk CPU is MixMonitor's. The recorded run's spool is then compressed here by the
recordings worker's own code (opusenc in subprocesses), timed by the children's CPU.

    .venv/bin/python benchmarks/recordings.py [--calls 10] [--talk 60] [--base 16000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcore.asterisk import runtime
from callcore.bench import bench_config
from callcore.features.recordings.model import BYTES_PER_SECOND
from callcore.features.recordings.service import RecordingService
from callcore.instance import Instance
from callcore.sim import sipp
from callcore.sim.sipp import Behaviour, Call, alaw_tone, place_calls
from callcore.sim.site import SimSite
from callcore.wiring.telemetry import proc_usage

CALL_SECONDS = 150  # the disk figure is for calls this long


async def one_run(mode: str, calls: int, talk: int, work: Path, base: int) -> dict:
    """Boot, hold the calls, measure Asterisk's CPU over them; the home is kept."""
    sipp.use_port_base(base + 200, base + 1000)
    cfg = bench_config(work / f"{mode}.yaml", base, calls + 40)  # 2 per zone, then general
    inst = Instance(work / f"{mode}-home", cfg)
    site = SimSite(inst, work / f"{mode}-sim")
    try:
        await site.boot_asterisk(bare=mode == "bare")
        voice = alaw_tone(work / "s.al", 1200)
        seat = Behaviour("talker", ring_ms=200, talk_ms=talk * 1000, audio=voice)
        general = {s.extension: seat for s in inst.config.seats if s.zone == "general"}
        assert all((await site.start_seats(general, base_port=base + 100)).values())
        pid = runtime.read_pid(inst)
        assert pid is not None
        await asyncio.sleep(2)
        cpu0, t0 = proc_usage(pid)["cpu_s"], time.monotonic()
        results = await place_calls(
            site.workdir, site.sip_server,
            [Call(f"1870{i:07d}", "压测", "12345") for i in range(calls)],
            rate=50, bind=site.carrier_ip, name="rec-bench", timeout=talk + 120,
            audio=alaw_tone(work / "c.al", 400), talk_ms=(talk + 30) * 1000,
        )  # fmt: skip
        cpu = proc_usage(pid)["cpu_s"] - cpu0
        answered = sum(r.outcome == "answered" for r in results)
        return {"mode": mode, "answered": answered, "asterisk_cpu_s": round(cpu, 2),
                "wall_s": round(time.monotonic() - t0, 1), "home": str(inst.home)}  # fmt: skip
    finally:
        await site.shutdown()  # the home (and its spool) stays


def compress(home: Path) -> dict:
    """Store the recorded run's spool as the engine's worker does; the encoders' CPU."""
    inst = Instance(home, home.parent / "recorded.yaml")
    rows: list = []
    svc = RecordingService(lambda: inst.config, home, rows.append, lambda: None)  # type: ignore[arg-type,return-value]
    raw = sum(p.stat().st_size for p in svc.finished_files())
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    svc.collect()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    seconds = sum(r.duration for r in rows)
    stored = sum(r.size for r in rows)
    return {"recordings": len(rows), "recorded_s": round(seconds, 1), "raw_bytes": raw,
            "stored_bytes": stored, "compress_cpu_s": round(cpu, 2),
            "compress_wall_s": round(time.monotonic() - t0, 2)}  # fmt: skip


async def main(calls: int, talk: int, base: int, work: Path) -> dict:
    bare = await one_run("bare", calls, talk, work, base)
    recorded = await one_run("recorded", calls, talk, work, base)
    comp = await asyncio.to_thread(compress, Path(recorded["home"]))
    minutes = comp["recorded_s"] / 60 or 1
    per_second = comp["stored_bytes"] / (comp["recorded_s"] or 1)
    return {
        "bare": bare,
        "recorded": recorded,
        "compression": comp,
        "asterisk_cpu_ms_per_recorded_min": round(
            (recorded["asterisk_cpu_s"] - bare["asterisk_cpu_s"]) * 1000 / minutes, 1
        ),
        "compress_cpu_ms_per_recorded_min": round(comp["compress_cpu_s"] * 1000 / minutes, 1),
        "disk_mb_per_1000_calls_150s": round(per_second * CALL_SECONDS * 1000 / 1e6, 1),
        "raw_mb_per_1000_calls_150s": round(BYTES_PER_SECOND * CALL_SECONDS * 1000 / 1e6, 1),
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--talk", type=int, default=60)
    ap.add_argument("--base", type=int, default=16000)
    ap.add_argument("--workdir", type=Path, default=Path("var/bench-recordings"))
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    out = asyncio.run(main(a.calls, a.talk, a.base, a.workdir))
    print(json.dumps(out, indent=2, ensure_ascii=False))
    print(yaml.safe_dump({k: v for k, v in out.items() if not isinstance(v, dict)}))

"""The core call path on a real Asterisk: every number class reaches a human and is stored."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import yaml

from callcore.records import CallRecord, Outcome
from callcore.sim.sipp import Call, place_calls
from callcore.sim.site import SimSite
from config.schema import Mode
from seats.membership import memberships
from tests.e2e.conftest import OUTSIDE, caller_number

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

NAMES = ["张三丰", "李小龙", "王语嫣", "欧阳锋", "黄蓉", "郭靖", "段誉", "乔峰", "虚竹", "周芷若"]


async def cli(
    site: SimSite, *args: str, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """The callcore command line against the test site, off the event loop."""
    argv = [
        sys.executable,
        "-m",
        "callcore.cli",
        "--home",
        str(site.inst.home),
        "--config",
        str(site.inst.config_path),
        *args,
    ]
    res = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, env=env)
    if check:
        assert res.returncode == 0, res.stderr
    return res


async def call(
    site: SimSite, numbers: list[str], *, patience_ms: int = 60000, name: str = "callers"
) -> tuple[list, dict[str, CallRecord], dict[str, str]]:
    """Place one call per number concurrently; what callers saw, and each call's one row."""
    since = datetime.now(UTC)
    calls = [Call(caller_number(), NAMES[i % len(NAMES)], n) for i, n in enumerate(numbers)]
    results = await place_calls(
        site.workdir,
        site.sip_server,
        calls,
        patience_ms=patience_ms,
        rate=20,
        bind=site.carrier_ip,
        name=name,
        timeout=120,
    )
    rows = await site.wait_records([c.caller for c in calls], timeout=30, since=since)
    for c in calls:
        assert len(rows[c.caller]) == 1, f"{c.dialed}: {len(rows[c.caller])} rows for one call"
    by_dialed = {c.dialed: rows[c.caller][0] for c in calls}
    names = {c.dialed: c.name for c in calls}
    return results, by_dialed, names


def seat_queues(site: SimSite, seat_id: str) -> set[str]:
    seat = next(s for s in site.cfg.seats if s.id == seat_id)
    return {m.queue for m in memberships(site.cfg, seat)}


def assert_answered(site: SimSite, rec: CallRecord, queue: str, name: str) -> None:
    assert rec.outcome is Outcome.ANSWERED, rec
    assert rec.route == queue
    assert queue in seat_queues(site, rec.seat), (rec.seat, queue)
    assert rec.entered_at <= rec.queued_at <= rec.answered_at <= rec.ended_at
    assert rec.wait_seconds is not None and 0 <= rec.wait_seconds < 30
    assert rec.talk_seconds is not None and 1.5 < rec.talk_seconds < 10
    assert rec.caller_name == name  # Chinese survives SIP, AMI and the store intact
    assert rec.hangup_cause is not None


async def test_every_number_class_reaches_a_seat(site: SimSite):
    kept = [h for h in site.cfg.hotlines if h.mode is Mode.RETAINED]
    numbers = [
        "12345",
        "051512345",
        *[h.number for h in kept],
        "12349",
        "81610000",
        "883486661",
        OUTSIDE,
        "99999",
    ]
    results, rows, names = await call(site, numbers, name="classes")
    assert [r.outcome for r in results] == ["answered"] * len(numbers), results

    for dialed in ("12345", "051512345"):
        rec = rows[dialed]
        assert_answered(site, rec, "q-general", names[dialed])
        assert (rec.hotline, rec.hotline_name, rec.dialed_number) == (
            "12345",
            "12345政务服务便民热线",
            dialed,
        )
        assert rec.flags == [] and not rec.fallback and "FastAGI" in rec.reason

    for h in kept:
        rec = rows[h.number]
        assert_answered(site, rec, f"q-{h.zone}", names[h.number])
        assert rec.hotline_name == h.name

    for dialed, number in (
        ("12349", "12349"),
        ("81610000", "81610000"),
        ("883486661", "88348666-1"),
    ):
        rec = rows[dialed]
        assert_answered(site, rec, "q-general", names[dialed])
        assert rec.hotline == number and rec.flags == ["cancelled"]
        # the merge notice played before the caller was queued
        assert (rec.queued_at - rec.entered_at).total_seconds() > 4

    rec = rows[OUTSIDE]
    assert_answered(site, rec, "q-general", names[OUTSIDE])
    assert rec.flags == ["cancelled", "outside_transition"]
    assert (rec.queued_at - rec.entered_at).total_seconds() < 2  # no notice

    rec = rows["99999"]
    assert_answered(site, rec, "q-general", names["99999"])
    assert rec.hotline == "" and rec.flags == ["unknown_number"]


async def test_12366_goes_to_the_subcentre_and_to_the_tax_zone_when_it_is_down(site: SimSite):
    results, rows, _ = await call(site, ["12366"], name="tax-up")
    assert results[0].outcome == "answered"
    rec = rows["12366"]
    assert rec.route == "trunk:tax12366" and rec.outcome is Outcome.TRANSFERRED
    assert rec.transfer_target == "tax12366" and rec.seat == "tax12366"
    assert rec.answered_at is not None and rec.talk_seconds and rec.talk_seconds > 1.5

    await site.stop_subcentre()
    try:
        await site.wait_trunk("tax12366", False)
        results, rows, names = await call(site, ["12366"], name="tax-down")
        assert results[0].outcome == "answered"
        rec = rows["12366"]
        assert_answered(site, rec, "q-tax", names["12366"])
        assert any(f.startswith("subcentre_failed") for f in rec.flags)
        assert rec.priority == 10
    finally:
        from tests.e2e.conftest import SUBCENTRE

        await site.start_subcentre(SUBCENTRE)
        await site.wait_trunk("tax12366", True)


async def test_abandoned_call_is_stored_with_its_wait(site: SimSite):
    # the hrss expert takes 6 s to pick up; this caller gives up after about 2 s of ringing
    results, rows, _ = await call(site, ["12333"], patience_ms=2000, name="impatient")
    assert results[0].outcome == "abandoned"
    rec = rows["12333"]
    assert rec.outcome is Outcome.ABANDONED and rec.answered_at is None and rec.seat == ""
    assert rec.wait_seconds is not None and 1.0 < rec.wait_seconds < 5.0
    assert rec.route == "q-hrss" and rec.ended_at is not None


async def test_static_fallback_when_fastagi_is_down(site: SimSite):
    await site.stop_engine()
    await site.start_engine(agi=False)
    try:
        results, rows, names = await call(
            site, ["12345", "12393", "12349", OUTSIDE, "99999"], name="fallback"
        )
        assert [r.outcome for r in results] == ["answered"] * 5
        for rec in rows.values():
            assert rec.fallback and "static dialplan" in rec.reason
        assert_answered(site, rows["12345"], "q-general", names["12345"])
        assert_answered(site, rows["12393"], "q-medins", names["12393"])
        assert rows["12349"].flags == ["cancelled"]
        assert rows[OUTSIDE].flags == ["cancelled", "outside_transition"]
        assert rows["99999"].flags == ["unknown_number"]
    finally:
        await site.stop_engine()
        await site.start_engine()


async def test_calls_cli_prints_json_with_the_record_fields(site: SimSite):
    _, rows, names = await call(site, ["12345"], name="cli")
    res = await cli(site, "calls", "--since", "1h", "--json")
    out = json.loads(res.stdout)
    mine = [c for c in out if c["linkedid"] == rows["12345"].linkedid]
    assert len(mine) == 1
    c = mine[0]
    for key in (
        "linkedid",
        "caller_number",
        "caller_name",
        "dialed_number",
        "hotline_name",
        "route",
        "entered_at",
        "answered_at",
        "ended_at",
        "wait_seconds",
        "talk_seconds",
        "seat",
        "outcome",
        "transfer_target",
        "hangup_cause",
        "fallback",
    ):
        assert key in c, key
    assert c["caller_name"] == names["12345"] and c["outcome"] == "answered"
    assert c["entered_at"].endswith("+08:00")
    table = await cli(site, "calls", "--since", "1h", env={"COLUMNS": "200", "PATH": "/usr/bin"})
    assert "主叫号码" in table.stdout and names["12345"] in table.stdout


async def _apply(site: SimSite) -> str:
    return (await cli(site, "apply")).stdout


async def test_applying_a_changed_config_drops_no_call(site: SimSite):
    path = site.inst.config_path
    original = path.read_text(encoding="utf-8")
    data = yaml.safe_load(original)
    next(z for z in data["zones"] if z["id"] == "general")["wrapup_seconds"] = 3
    next(h for h in data["hotlines"] if h["number"] == "12320")["transition"]["end"] = "2027-12-31"
    changed = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    # calls in every stage while the change is applied: hearing the notice, ringing the
    # slow hrss expert, talking to a seat
    calls = asyncio.create_task(
        call(site, ["12349", "12333", "12345", "81610000"], name="during-apply")
    )
    await asyncio.sleep(2.0)
    path.write_text(changed, encoding="utf-8")
    try:
        out = await _apply(site)
        assert "extensions.conf" in out and "queues.conf" in out
        results, rows, _ = await calls
        assert [r.outcome for r in results] == ["answered"] * 4
        assert all(r.outcome is Outcome.ANSWERED for r in rows.values())
        dialplan = await site.rx("dialplan show 12320@cc-static")
        assert "20211120-20271231" in dialplan
    finally:
        path.write_text(original, encoding="utf-8")
        await _apply(site)


class _BadAgi:
    """A FastAGI peer on the engine's port that stalls or errs instead of deciding."""

    def __init__(self, mode: str):
        self.mode = mode
        self.connections = 0
        self._held: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode == "stall":  # reads the request, then never answers
            self._held.append(writer)
            return
        while (await reader.readline()).strip():
            pass
        writer.write(b"SET VARIABLE SHARED(CC_ROUTE,garbage) \x00\xff broken\n")
        await writer.drain()
        writer.close()


@pytest.mark.parametrize("mode", ["stall", "error"])
async def test_static_fallback_when_fastagi_stalls_or_errs(site: SimSite, mode: str):
    await site.stop_engine()
    await site.start_engine(agi=False)
    bad = _BadAgi(mode)
    server = await asyncio.start_server(bad.handle, site.cfg.pbx.bind, site.cfg.pbx.agi_port)
    try:
        results, rows, names = await call(site, ["12345", "12328", "96119"], name=f"agi-{mode}")
        assert [r.outcome for r in results] == ["answered"] * 3
        assert bad.connections >= 3  # Asterisk did ask the bad server
        for rec in rows.values():
            assert rec.fallback and "static dialplan" in rec.reason
        # the bound (pbx.agi_bound_ms) is what a stalled server costs a caller, no more
        bound = site.cfg.pbx.agi_bound_ms / 1000
        rec = rows["12345"]
        assert (rec.queued_at - rec.entered_at).total_seconds() < bound + 1.0
        assert_answered(site, rows["12328"], "q-transport", names["12328"])
        assert rows["96119"].flags == ["cancelled"]
    finally:
        server.close()
        for w in bad._held:
            w.close()
        await site.stop_engine()
        await site.start_engine()

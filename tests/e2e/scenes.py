"""Helpers of the seats and transfers end-to-end tests (tests/e2e/test_seats*.py,
test_transfers.py): which seats may take calls, giving a seat another behaviour (a
softphone that transfers), calls with their stored records and legs, the route decision
probed straight from the engine's FastAGI server.

Everything they change on the shared session site is put back on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select

from callcore.ami import AmiError, AmiSession
from callcore.commands import one_shot_session
from callcore.records import CallRecord
from callcore.sim import seat_actions, sipp
from callcore.sim.sipp import Call, CallResult, SippProcess, place_calls
from callcore.sim.site import SimSite
from callcore.store.models import CallLeg
from seats.history import changes
from seats.membership import interface
from seats.sessions import queue_members
from seats.states import SeatChange
from tests.e2e.conftest import BASE, caller_number

T = TypeVar("T")

SPECIAL_PORTS = iter(range(BASE + 150, BASE + 200))  # our own seat behaviours
NAMES = ["张三丰", "李小龙", "王语嫣", "欧阳锋", "黄蓉", "郭靖", "段誉", "乔峰", "虚竹", "周芷若"]


async def wait_for(
    probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], what: str, timeout: float = 30.0
) -> T:
    """Poll `probe` until `ok(value)`; fail the test naming `what` (and the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: last {value!r}"[:2000])
        await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def ami(site: SimSite) -> AsyncIterator[AmiSession]:
    session = await one_shot_session(site.inst)
    try:
        yield session
    finally:
        await session.close()


def seat(site: SimSite, seat_id: str):  # type: ignore[no-untyped-def]
    s = site.cfg.seat(seat_id)
    assert s is not None, seat_id
    return s


def password(site: SimSite, seat_id: str) -> str:
    return site.inst.secrets().seat_passwords[seat_id]


async def members(site: SimSite, seat_id: str) -> list[dict]:
    async with ami(site) as a:
        return await queue_members(a, interface(seat(site, seat_id)))


async def _pause(a: AmiSession, queue: str | None, iface: str, paused: bool) -> None:
    fields = {"Action": "QueuePause", "Interface": iface, "Paused": "true" if paused else "false"}
    if queue:
        fields["Queue"] = queue
    if paused:
        fields["Reason"] = "test"
    with contextlib.suppress(AmiError):  # not a member there
        await a.action(fields)


@contextlib.asynccontextmanager
async def only(
    site: SimSite, queues: Iterable[str], seat_ids: Iterable[str]
) -> AsyncIterator[None]:
    """In these queues, only these seats take calls (the others are paused there)."""
    queues, keep = list(queues), set(seat_ids)
    others = [s for s in site.cfg.seats if s.id not in keep]
    async with ami(site) as a:
        for s in site.cfg.seats:
            if s.id in keep:
                await _pause(a, None, interface(s), False)  # and no auto-pause left over
        for q in queues:
            for s in others:
                await _pause(a, q, interface(s), True)
    try:
        yield
    finally:
        async with ami(site) as a:
            for q in queues:
                for s in others:
                    await _pause(a, q, interface(s), False)


async def pause_in(site: SimSite, queue: str | None, seat_ids: Iterable[str], paused: bool) -> None:
    async with ami(site) as a:
        for sid in seat_ids:
            await _pause(a, queue, interface(seat(site, sid)), paused)


def farm_port(site: SimSite, seat_id: str) -> int:
    """The port of the session farm's sipp process that plays this seat."""
    farm = site.farm
    assert farm is not None
    return farm._ports[farm.behaviour_of[seat(site, seat_id).extension].name]


@contextlib.asynccontextmanager
async def acting(
    site: SimSite, seat_id: str, start: Callable[[int], Awaitable[SippProcess]]
) -> AsyncIterator[SippProcess]:
    """The seat's softphone is, for a while, the sipp process `start(port)` starts."""
    port = next(SPECIAL_PORTS)
    proc = await start(port)
    ext = seat(site, seat_id).extension
    pw = password(site, seat_id)
    try:
        ok = await sipp.register_contacts(site.workdir, site.sip_server, {ext: (pw, port)})
        assert ok == {ext: True}
        yield proc
    finally:
        await sipp.register_contacts(
            site.workdir, site.sip_server, {ext: (pw, farm_port(site, seat_id))}
        )
        await proc.stop()


def transferring(site: SimSite, seat_id: str, target: str, attended: bool = False, **kw: Any):
    """A `start` for `acting`: a softphone that transfers every call it answers."""
    name = f"xfer-{seat_id}-{target}-{'att' if attended else 'blind'}"

    def start(port: int) -> Awaitable[SippProcess]:
        return seat_actions.start_transferring_seat(
            site.workdir,
            name,
            port,
            server=site.sip_server,
            target=target,
            attended=attended,
            user=seat(site, seat_id).extension,
            password=password(site, seat_id),
            **kw,
        )

    return start


@dataclass
class Placed:
    call: Call
    result: CallResult
    record: CallRecord


async def place(
    site: SimSite,
    dialed: list[str],
    *,
    callers: list[str] | None = None,
    bind: str | None = None,
    patience_ms: int = 60000,
    talk_ms: int = 600000,
    name: str = "callers",
    rate: float = 20.0,
    timeout: float = 120.0,
    audio: str = "",
) -> list[Placed]:
    """Place the calls concurrently; what each caller saw, and each call's one stored row."""
    since = datetime.now(UTC)
    numbers = callers or [caller_number() for _ in dialed]
    calls = [
        Call(n, NAMES[i % len(NAMES)], d)
        for i, (n, d) in enumerate(zip(numbers, dialed, strict=True))
    ]
    results = await place_calls(
        site.workdir,
        site.sip_server,
        calls,
        patience_ms=patience_ms,
        talk_ms=talk_ms,
        rate=rate,
        bind=bind or site.carrier_ip,
        name=name,
        timeout=timeout,
        audio=audio,
    )
    rows = await site.wait_records([c.caller for c in calls], timeout=30, since=since)
    out = []
    for c, r in zip(calls, results, strict=True):
        assert len(rows[c.caller]) == 1, f"{c.dialed}: {len(rows[c.caller])} rows for one call"
        out.append(Placed(c, r, rows[c.caller][0]))
    return out


async def legs(site: SimSite, linkedid: str) -> list[dict]:
    t = CallLeg.__table__

    def read() -> list[dict]:
        with site.engine_db().connect() as conn:
            q = select(t).where(t.c.linkedid == linkedid).order_by(t.c.seq)
            return [dict(r) for r in conn.execute(q).mappings()]

    return await asyncio.to_thread(read)


async def finished_legs(site: SimSite, linkedid: str, n: int) -> list[dict]:
    """The call's legs once there are `n` and the last one has ended."""
    return await wait_for(
        lambda: legs(site, linkedid),
        lambda ls: len(ls) >= n and ls[-1]["ended_at"] is not None,
        f"{n} finished legs of {linkedid}",
    )


async def seat_changes(
    site: SimSite, seat_id: str, since: datetime | None = None
) -> list[SeatChange]:
    return await asyncio.to_thread(changes, site.engine_db(), seat_id, since)


async def probe_route(site: SimSite, dialed: str, caller: str) -> dict[str, str]:
    """The engine's routing decision for a call that is not made: the `route` request as
    Asterisk sends it, to the engine's FastAGI port; what it would set on the channel."""
    from callcore.contract import ROUTE_FIELDS, ROUTE_SEPARATOR

    channel = "PJSIP/probe-00000001"
    reader, writer = await asyncio.open_connection(site.cfg.pbx.bind, site.cfg.pbx.agi_port)
    try:
        env = {
            "agi_network": "yes",
            "agi_network_script": "route",
            "agi_request": f"agi://{site.cfg.pbx.bind}/route",
            "agi_channel": "Local/route@cc-route-00000001;2",
            "agi_arg_1": dialed,
            "agi_arg_2": channel,
            "agi_arg_3": caller,
        }
        writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
        await writer.drain()
        line = (await asyncio.wait_for(reader.readline(), 5)).decode()
        writer.write(b"200 result=1\n")
        await writer.drain()
    finally:
        writer.close()
    value = line.rstrip("\n").split(" ", 3)[3].strip('"')
    fields = (f.variable for f in ROUTE_FIELDS)
    return dict(zip(fields, value.split(ROUTE_SEPARATOR), strict=True))

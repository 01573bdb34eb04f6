"""A seat's softphone transfers the caller to a number that is no transfer target, on a real
Asterisk: the caller hears the short notice, comes back to the 12345 queue ahead of the
others and is answered by a human again; the chain records the failed transfer leg. Both
with a softphone that keeps the caller when a transfer fails (a plain sipp seat) and with
one that hangs up after the REFER whatever its NOTIFY says (as baresip does)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from callcore.contract import Flag
from callcore.sim import baresip, sipp
from callcore.sim.site import SimSite
from tests.e2e import scenes
from tests.e2e.conftest import BASE

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

SEAT = "G03"  # the general seat that transfers
NEXT = "G05"  # the general seat that takes the caller back


def chain_of(legs: list[dict]) -> list[tuple]:
    return [(x["kind"], x["target"], x["from_seat"], x["via"], x["seat"], x["outcome"])
            for x in legs]  # fmt: skip


@pytest.mark.parametrize(
    ("target", "hang_up"), [("99999", False), ("abc", True)], ids=["sipp", "like-baresip"]
)
async def test_a_transfer_to_a_wrong_number_brings_the_caller_back_to_a_human(
    site: SimSite, target: str, hang_up: bool
):
    start = scenes.transferring(site, SEAT, target, hang_up_after_refer=hang_up)
    try:
        async with (
            scenes.only(site, ["q-general"], [SEAT]),
            scenes.acting(site, SEAT, start) as phone,
        ):
            call = asyncio.create_task(
                scenes.place(site, ["12345"], talk_ms=60000, name=f"wrong-{target}")
            )

            async def referred() -> list[list[str]]:
                return phone.lines()

            await scenes.wait_for(
                referred, lambda ls: any(x[0] in ("REFERRED", "REFUSED") for x in ls),
                f"{SEAT} sending its REFER to {target}",
            )  # fmt: skip
            # the transferring seat is done with this caller; the next human is another seat
            await scenes.pause_in(site, "q-general", [SEAT], True)
            await scenes.pause_in(site, "q-general", [NEXT], False)
            [p] = await call
    finally:
        await scenes.pause_in(site, "q-general", [SEAT], False)
    lines = [x[0] for x in phone.lines()]
    assert "REFERRED" in lines and "FREED" in lines  # 202, then the softphone hung up
    rec = p.record
    assert p.result.outcome == "answered"
    assert rec.seat == SEAT and Flag.TRANSFER_RETURNED in rec.flags  # 首接: the first keeps it
    assert f"transfer to {target} failed (no such target)" in rec.reason
    legs = await scenes.finished_legs(site, rec.linkedid, 3)
    assert chain_of(legs) == [
        ("queue", "q-general", "", "", SEAT, "transferred"),
        ("blind", target, SEAT, "softphone", "", "failed"),
        ("returned", "q-general", SEAT, "", NEXT, "answered"),
    ]
    assert legs[1]["started_at"] == legs[1]["ended_at"] >= legs[0]["answered_at"]
    assert legs[2]["answered_at"] is not None and rec.ended_at is not None
    assert abs((legs[2]["ended_at"] - rec.ended_at).total_seconds()) < 1


async def until(ok: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    async def probe() -> bool:
        return ok()

    await scenes.wait_for(probe, bool, what, timeout)


@pytest.mark.skipif(baresip.available() is not None, reason=str(baresip.available()))
async def test_a_baresip_seat_transferring_to_a_wrong_number_loses_nobody(site: SimSite):
    """baresip itself as the seat: it answers, is told to transfer to 99999 (its `t` key),
    and ends its own call after the REFER; the caller is answered by the next seat."""
    sip_port, _tls, ctrl_port = (next(scenes.SPECIAL_PORTS) for _ in range(3))
    ext, pw = scenes.seat(site, SEAT).extension, scenes.password(site, SEAT)
    folder = site.workdir / f"baresip-{SEAT}"
    baresip.write_config(folder, user=ext, password=pw, server=site.sip_server,
                         sip_port=sip_port, ctrl_port=ctrl_port,
                         rtp_ports=(BASE + 2900, BASE + 2949))  # fmt: skip
    phone = baresip.Baresip(folder, ctrl_port)
    try:
        async with scenes.only(site, ["q-general"], [SEAT]):
            await phone.start()
            await until(lambda: phone.registered(), "baresip registering as the seat")
            call = asyncio.create_task(
                scenes.place(site, ["12345"], talk_ms=60000, name="wrong-baresip")
            )
            await until(lambda: phone.saw("CALL_ESTABLISHED"), "baresip answering")
            reply = await phone.command("transfer", "99999")
            assert reply.get("ok"), (reply, phone.events)
            try:
                await until(lambda: phone.saw("CALL_CLOSED"), "baresip ending its own call")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{phone.log()[-3000:]}") from None
            await scenes.pause_in(site, "q-general", [SEAT], True)
            await scenes.pause_in(site, "q-general", [NEXT], False)
            [p] = await call
    finally:
        await phone.stop()
        await sipp.register_contacts(site.workdir, site.sip_server,
                                     {ext: (pw, scenes.farm_port(site, SEAT))})  # fmt: skip
        await scenes.pause_in(site, "q-general", [SEAT], False)
    rec = p.record
    said = phone.log()  # what baresip itself says it did, should this fail
    assert "transferring call to sip:99999@" in said, said[-3000:]
    assert p.result.outcome == "answered" and Flag.TRANSFER_RETURNED in rec.flags, said[-3000:]
    legs = await scenes.finished_legs(site, rec.linkedid, 3)
    assert chain_of(legs) == [
        ("queue", "q-general", "", "", SEAT, "transferred"),
        ("blind", "99999", SEAT, "softphone", "", "failed"),
        ("returned", "q-general", SEAT, "", NEXT, "answered"),
    ]

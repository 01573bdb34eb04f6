"""What a screen pop carries: the zone of the queue, the enterprise and first-contact
flags from the call's record, and the caller's open requests beside the previous calls
(a slow or failing look-up leaves its part empty, the pop still goes out)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from callcore.api.events import EventHub
from callcore.contract import Flag
from callcore.features.live.model import LiveModel
from callcore.records import CallRecord
from config.loader import load

CFG = load()


def offered(events: list[dict], linkedid: str) -> dict:
    pops = [e for e in events if e["type"] == "seat.offered"]
    return next(e for e in pops if e["data"]["linkedid"] == linkedid)


def test_a_pop_names_the_zone_and_the_flags_of_the_call():
    events: list[dict] = []
    model = LiveModel(lambda: CFG, events.append)
    at = datetime(2026, 12, 1, 2, tzinfo=UTC)
    model.on_record(
        CallRecord("L-ent", caller_number="13900000001", dialed_number="12345", hotline="12345",
                   route="q-enterprise", entered_at=at, flags=[Flag.ENTERPRISE.value])
    )  # fmt: skip
    model.on_record(
        CallRecord("L-aff", caller_number="13900000002", dialed_number="12333", hotline="12333",
                   route="q-hrss", entered_at=at, affinity=True)
    )  # fmt: skip
    for linked, queue in (("L-ent", "q-enterprise"), ("L-aff", "q-hrss"), ("L-new", "q-general")):
        model.handle(
            {"Event": "AgentCalled", "MemberName": "G01", "Linkedid": linked, "Queue": queue,
             "CallerIDNum": "13900000009", "Timestamp": "1000"}
        )  # fmt: skip
    ent, aff, new = (offered(events, x)["data"] for x in ("L-ent", "L-aff", "L-new"))
    assert (ent["zone"], ent["enterprise"], ent["affinity"]) == ("enterprise", True, False)
    assert (aff["zone"], aff["enterprise"], aff["affinity"]) == ("hrss", False, True)
    assert (new["zone"], new["enterprise"], new["affinity"]) == ("general", False, False)


async def test_the_pop_carries_open_requests_and_survives_a_failing_look_up():
    async def history(caller: str, exclude: str) -> list[dict[str, Any]]:
        return [{"linkedid": "old"}]

    async def requests(caller: str, exclude: str) -> list[dict[str, Any]]:
        assert exclude == "L1"
        return [{"id": "R1", "status": "registered"}]

    async def broken(caller: str, exclude: str) -> list[dict[str, Any]]:
        raise RuntimeError("store down")

    pop = {"type": "seat.offered", "at": 1.0, "data": {"seat": "G01", "linkedid": "L1",
                                                       "caller": "13900000001"}}  # fmt: skip
    for source, expected in ((requests, [{"id": "R1", "status": "registered"}]), (broken, [])):
        hub = EventHub(history=history, open_requests=source)
        sub = hub.subscribe(None)
        hub.publish(pop)
        got = await asyncio.wait_for(sub.items.get(), 3)
        assert got["data"]["previous_calls"] == [{"linkedid": "old"}]
        assert got["data"]["open_requests"] == expected

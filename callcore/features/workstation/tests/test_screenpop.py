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


AT = datetime(2026, 12, 1, 2, tzinfo=UTC)


def routed(linkedid: str, caller: str, dialed: str, queue: str, **kw: Any) -> CallRecord:
    """A call's record once routed (what the live model hears before any ring)."""
    return CallRecord(linkedid, caller_number=caller, dialed_number=dialed, hotline=dialed,
                      route=queue, entered_at=AT, **kw)  # fmt: skip


def offered(events: list[dict], linkedid: str) -> dict:
    pops = [e for e in events if e["type"] == "seat.offered"]
    return next(e for e in pops if e["data"]["linkedid"] == linkedid)


def test_a_pop_names_the_zone_and_the_flags_of_the_call():
    events: list[dict] = []
    model = LiveModel(lambda: CFG, events.append)
    enterprise = [Flag.ENTERPRISE.value]
    model.on_record(routed("L-ent", "13900000001", "12345", "q-enterprise", flags=enterprise))
    model.on_record(routed("L-aff", "13900000002", "12333", "q-hrss", affinity=True))
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


def test_the_first_contact_ring_of_the_seat_itself_pops_up():
    """首接: the dialplan dials the seat before any queue; that Dial is the seat's pop."""
    events: list[dict] = []
    model = LiveModel(lambda: CFG, events.append)
    model.on_record(routed("L-1", "13900000003", "12345", "q-general", affinity=True))
    ext = CFG.seat("G02").extension  # type: ignore[union-attr]
    ring = {"Event": "DialBegin", "Linkedid": "L-1", "Uniqueid": "L-1",
            "CallerIDNum": "13900000003", "DestChannel": f"PJSIP/{ext}-0000002a",
            "Timestamp": "1000"}  # fmt: skip
    model.handle({**ring, "Uniqueid": "L-1.5"})  # another channel of the call dialing
    assert [e for e in events if e["type"] == "seat.offered"] == []
    model.handle(ring)
    [pop] = [e["data"] for e in events if e["type"] == "seat.offered"]
    assert (pop["seat"], pop["zone"], pop["affinity"], pop["caller"]) == (
        "G02", "general", True, "13900000003"
    )
    model.handle({"Event": "QueueCallerJoin", "Linkedid": "L-1", "Uniqueid": "L-1",
                  "Queue": "q-general", "Position": "1", "Timestamp": "1010"})  # fmt: skip
    model.handle(ring)  # a queue's own dial of a member: AgentCalled tells of that one
    assert len([e for e in events if e["type"] == "seat.offered"]) == 1

"""The seats' API endpoints (seat sessions, transfers, requests, enterprises, the 12366
sub-centre's records): roles, errors and what reaches Asterisk and the store. A real
SQLite store and writer; a fake Asterisk that keeps queue members and channels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from aiohttp.test_utils import TestClient, TestServer

import config
from callcore.api.app import make_app
from callcore.api.auth import TokenBook
from callcore.api.events import EventHub
from callcore.features.enterprises.service import EnterpriseService
from callcore.features.firstcontact.service import FirstContactService
from callcore.features.subcentre.records import query as subcentre_calls
from callcore.features.transfers.legs import LegRecord
from callcore.features.transfers.service import TransferService
from callcore.features.workorders.intake import WorkOrderIntake
from callcore.features.workorders.service import WorkOrderService
from callcore.records import from_epoch
from callcore.store import db
from callcore.store.writer import StoreWriter
from callcore.wiring.endpoints import APIS
from callcore.wiring.services import ApiServices
from seats.service import SeatService
from seats.states import SeatChange
from tests.unit.test_seats_sessions import FakeAmi

pytestmark = pytest.mark.timeout(30)
CFG = config.load()
T0 = 1_790_000_000.0
TOKENS = {
    "g01": {"role": "seat", "name": "G01", "seat": "G01"},
    "g02": {"role": "seat", "name": "G02", "seat": "G02"},
    "sup": {"role": "supervisor", "name": "钱主管"},
    "tax": {"role": "subcentre", "name": "tax12366"},
    "rogue": {"role": "subcentre", "name": "elsewhere"},
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class FakeAsterisk(FakeAmi):
    """Also channels: a seat's call to transfer, and the transfer actions it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.channels: list[dict] = []

    async def action(self, fields: dict[str, str], *, timeout: float | None = None) -> dict:
        name = fields["Action"]
        if name in ("Setvar", "BlindTransfer", "Atxfer", "Hangup"):
            self.actions.append(dict(fields))
            return {"Response": "Success"}
        if name == "Getvar":
            self.actions.append(dict(fields))
            return {"Response": "Success", "Value": "PJSIP/carrier-00000001"}
        return await super().action(fields, timeout=timeout)

    async def action_list(self, fields, *, complete_event, timeout=None):  # type: ignore[no-untyped-def]
        if fields["Action"] == "CoreShowChannels":
            return {"Response": "Success"}, list(self.channels)
        return await super().action_list(fields, complete_event=complete_event, timeout=timeout)


@dataclass
class Env:
    client: TestClient
    ami: FakeAsterisk
    writer: StoreWriter
    enterprises: EnterpriseService
    read: object
    workorders: WorkOrderService


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    url = f"sqlite:///{tmp_path}/store.db"
    db.upgrade(url)
    read = db.make_engine(url)
    writer = StoreWriter(url, tmp_path / "journal")
    writer.start()
    ami = FakeAsterisk()
    seats = SeatService(lambda: CFG, ami, writer.submit, lambda: read)
    enterprises = EnterpriseService(lambda: CFG, lambda: read, writer.submit)
    first_contact = FirstContactService(lambda: CFG, lambda: read, seats.board.state)
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(yaml.safe_dump({"api_tokens": TOKENS}, allow_unicode=True))
    workorders = WorkOrderService(read, lambda: CFG)
    services = ApiServices(
        config=lambda: CFG, db=read, hub=EventHub(), ami=ami, writer=writer, seats=seats,
        transfers=TransferService(lambda: CFG, seats, writer.submit),
        workorders=workorders,
        intake=WorkOrderIntake(lambda: CFG, workorders, [first_contact.on_request]),
        enterprises=enterprises,
    )  # fmt: skip
    client = TestClient(TestServer(make_app(services, TokenBook(secrets), APIS)))
    await client.start_server()
    try:
        yield Env(client, ami, writer, enterprises, read, workorders)
    finally:
        await client.close()
        await writer.close(5)
        read.dispose()


async def post(env: Env, path: str, token: str, body: dict | None = None):  # type: ignore[no-untyped-def]
    r = await env.client.post(path, json=body if body is not None else {}, headers=auth(token))
    return r.status, await r.json()


async def test_a_seat_logs_itself_in_pauses_and_resumes(env: Env):
    status, body = await post(env, "/api/v1/seats/G01/session", "g01", {"action": "login"})
    assert status == 200 and "q-general" in body["queues"]
    assert "q-general" in env.ami.queues_of("PJSIP/8001")
    status, body = await post(env, "/api/v1/seats/G01/session", "g01", {"action": "pause"})
    assert (status, body["error"]) == (400, "reason_required")
    status, body = await post(
        env, "/api/v1/seats/G01/session", "g01", {"action": "pause", "reason": "午睡"}
    )
    assert (status, body["error"]) == (400, "unknown_reason")
    status, body = await post(
        env, "/api/v1/seats/G01/session", "g01", {"action": "pause", "reason": "2"}
    )
    assert status == 200 and body["reason"] == "meal"
    assert {m["PausedReason"] for m in env.ami.queues_of("PJSIP/8001").values()} == {"meal"}
    status, _ = await post(env, "/api/v1/seats/G01/session", "g02", {"action": "resume"})
    assert status == 403  # a seat acts on its own seat only
    status, _ = await post(env, "/api/v1/seats/G01/session", "sup", {"action": "resume"})
    assert status == 200
    status, body = await post(env, "/api/v1/seats/G05/session", "sup", {"action": "resume"})
    assert (status, body["error"]) == (409, "logged_off")
    status, _ = await post(env, "/api/v1/seats/G01/session", "tax", {"action": "login"})
    assert status == 403  # a sub-centre token is no seat and no supervisor


async def test_history_of_a_seat(env: Env):
    for i, state in enumerate(("available", "paused")):
        env.writer.submit(SeatChange(f"c{i}", "G01", state, "meal" if i else "", "general",
                                     from_epoch(T0 + i), "", "feature", T0 + i))  # fmt: skip
    await env.writer.flush()
    r = await env.client.get("/api/v1/seats/G01/history", headers=auth("g01"))
    assert r.status == 200
    assert [(c["state"], c["reason"]) for c in (await r.json())["changes"]] == [
        ("available", ""), ("paused", "meal")
    ]  # fmt: skip
    r = await env.client.get("/api/v1/seats/G01/history", headers=auth("g02"))
    assert r.status == 403


async def test_transfers_by_api_reach_asterisk_marked_as_api(env: Env):
    status, body = await post(env, "/api/v1/seats/G01/transfer", "g01", {"target": "12333"})
    assert (status, body["error"]) == (409, "not_in_call")
    env.ami.channels = [
        {"Channel": "PJSIP/8001-00000007", "BridgeId": "b1", "Uniqueid": "1795668301.3"},
        {"Channel": "PJSIP/8001-00000009", "BridgeId": "b2", "Uniqueid": "1795668305.9"},
        {"Channel": "PJSIP/8002-00000001", "BridgeId": "b3", "Uniqueid": "1795668300.1"},
    ]
    status, body = await post(env, "/api/v1/seats/G01/transfer", "g01", {"target": "110"})
    assert (status, body["error"]) == (400, "unknown_target")
    env.ami.actions.clear()
    status, body = await post(env, "/api/v1/seats/G01/transfer", "g01", {"target": "12333"})
    assert status == 200 and body["channel"] == "PJSIP/8001-00000007"  # the caller's leg
    did = [
        (a["Action"], a.get("Variable"), a.get("Value"), a.get("Exten")) for a in env.ami.actions
    ]
    assert did == [
        ("Setvar", "__CC_XFER_VIA", "api", None),
        ("Setvar", "__CC_XFER_SEAT_CHANNEL", "PJSIP/8001-00000007", None),
        ("Getvar", "BRIDGEPEER", None, None),
        ("Setvar", "CC_XFER_VIA", "api", None),
        ("BlindTransfer", None, None, "12333"),
    ]
    assert env.ami.actions[-1]["Context"] == "cc-transfer"
    env.ami.actions.clear()
    body = {"target": "12366", "mode": "attended"}
    status, _ = await post(env, "/api/v1/seats/G01/transfer", "sup", body)
    assert status == 200 and env.ami.actions[-1]["Action"] == "Atxfer"
    status, _ = await post(env, "/api/v1/seats/G01/transfer/complete", "g01")
    assert status == 200 and env.ami.actions[-1] == {
        "Action": "Hangup", "Channel": "PJSIP/8001-00000007"
    }  # fmt: skip
    status, _ = await post(env, "/api/v1/seats/G02/transfer", "g01", {"target": "12333"})
    assert status == 403
    r = await env.client.get("/api/v1/transfer-targets", headers=auth("g01"))
    assert {"12333", "12366", "9100", "9200"} <= {t["target"] for t in (await r.json())["targets"]}


async def test_a_calls_legs(env: Env):
    r = await env.client.get("/api/v1/calls/L1/legs", headers=auth("sup"))
    assert r.status == 404
    for seq, kind in enumerate(("queue", "blind")):
        env.writer.submit(LegRecord(f"L1/{seq}", "L1", seq, kind, "q-hrss", seat="E-hrss1",
                                    as_of=T0 + seq))  # fmt: skip
    await env.writer.flush()
    r = await env.client.get("/api/v1/calls/L1/legs", headers=auth("sup"))
    assert [x["kind"] for x in (await r.json())["legs"]] == ["queue", "blind"]
    assert (await env.client.get("/api/v1/calls/L1/legs", headers=auth("g01"))).status == 403


async def test_requests_belong_to_the_seat_that_answered(env: Env):
    for rid, seat in (("R1", "G01"), ("R2", "G02")):
        env.workorders.register_call(rid, seat=seat, caller_number="138", hotline="12345")
    r = await env.client.get("/api/v1/requests", headers=auth("g01"))
    assert [x["id"] for x in (await r.json())["requests"]] == ["R1"]
    status, body = await post(env, "/api/v1/requests/R1/form", "g01",
                              {"content": "咨询社保转移", "type": "咨询"})  # fmt: skip
    assert status == 200 and body["content"] == "咨询社保转移" and "dispatch" in body["allowed"]
    status, body = await post(env, "/api/v1/requests/R1/actions/close_on_spot", "g01",
                              {"result": "已电话答复"})  # fmt: skip
    assert status == 200 and body["state"] == "closed" and body["state_label"] == "已办结"
    status, body = await post(env, "/api/v1/requests/R1/actions/dispatch", "g01", {"lead": "x"})
    assert (status, body["error"]) == (409, "bad_state")
    assert body["detail"] == {"request": "R1", "state": "closed", "allowed": ["link"]}
    status, _ = await post(env, "/api/v1/requests/R2/actions/close_on_spot", "g01",
                           {"result": "别人的"})  # fmt: skip
    assert status == 403
    r = await env.client.get("/api/v1/requests/R2", headers=auth("g01"))
    assert r.status == 404
    status, _ = await post(env, "/api/v1/requests/R9/actions/close", "sup", {})
    assert status == 404


async def test_enterprise_register_by_api_applies_at_once(env: Env):
    status, body = await post(env, "/api/v1/enterprises", "sup",
                              {"number": "+86 515 8800 1234", "name": "盐城某某公司"})  # fmt: skip
    assert status == 200 and body["number"] == "51588001234"
    assert "51588001234" in env.enterprises.numbers()  # the next call is recognised
    assert (await post(env, "/api/v1/enterprises", "g01", {"number": "1", "name": "x"}))[0] == 403
    status, body = await post(env, "/api/v1/enterprises", "sup", {"number": "abc", "name": "x"})
    assert status == 400
    r = await env.client.delete("/api/v1/enterprises/051588001234", headers=auth("sup"))
    assert r.status == 200 and "51588001234" not in env.enterprises.numbers()
    await env.writer.flush()
    r = await env.client.get("/api/v1/enterprises", headers=auth("sup"))
    assert [(e["number"], e["active"]) for e in (await r.json())["enterprises"]] == [
        ("51588001234", False)
    ]  # fmt: skip


async def test_the_subcentre_posts_records_and_only_as_itself(env: Env):
    calls = {"calls": [{"external_id": "T-1", "caller_number": "+8613512345678",
                        "started_at": "2026-11-26T08:00:00+08:00", "outcome": "answered",
                        "agent": "税务-007", "summary": "发票咨询"}]}  # fmt: skip
    status, body = await post(env, "/api/v1/subcentre/calls", "tax", calls)
    assert status == 202 and body == {"source": "tax12366", "accepted": 1}
    for token in ("rogue", "g01", "sup"):
        assert (await post(env, "/api/v1/subcentre/calls", token, calls))[0] == 403
    bad = {"calls": [{**calls["calls"][0], "started_at": "yesterday"}]}
    assert (await post(env, "/api/v1/subcentre/calls", "tax", bad))[0] == 400
    assert (await post(env, "/api/v1/subcentre/calls", "tax", {"calls": []}))[0] == 400
    await env.writer.flush()
    [row] = subcentre_calls(env.read)
    assert (row.source, row.external_id, row.agent, row.summary) == (
        "tax12366", "T-1", "税务-007", "发票咨询"
    )  # fmt: skip
    r = await env.client.get("/api/v1/subcentre/calls", headers=auth("sup"))
    assert [c["external_id"] for c in (await r.json())["calls"]] == ["T-1"]

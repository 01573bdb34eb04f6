"""Work orders on a real Asterisk: a call a sipp seat answers registers its order in the
engine; the seat completes and dispatches it over the engine's API, the department's token
signs for it and returns it, 12345 re-dispatches, the department replies and the follow-up
closes it; another unit's token cannot see it; a confidential order hides the caller from
the department; and the day's export holds the order with its call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from callcore.sim.site import SimSite
from tests.e2e import scenes
from tests.e2e.test_seats import cli

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

FORM = {
    "content": "小区物业长期不处理电梯故障", "type": "投诉", "urgency": "一般",
    "district": "tinghu", "address": "亭湖区某小区3栋", "class_id": "laodong.qianxin",
}  # fmt: skip


async def token(site: SimSite, *args: str) -> str:
    return (await cli(site, "token", "add", *args)).stdout.strip()


class Api:
    def __init__(self, site: SimSite):
        self.base = f"http://127.0.0.1:{site.cfg.pbx.api_port}"

    async def send(self, method: str, path: str, tok: str, body: Any = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s,
            s.request(method, self.base + path, json=body,
                      headers={"Authorization": f"Bearer {tok}"}) as r,  # fmt: skip
        ):
            return r.status, await r.json()

    async def ok(self, method: str, path: str, tok: str, body: Any = None) -> Any:
        status, reply = await self.send(method, path, tok, body)
        assert status == 200, (path, reply)
        return reply


async def answered_order(site: SimSite, api: Api, sup: str, name: str) -> tuple[Any, str]:
    """Place a call a seat answers; wait for its order; (the call's record, the order id)."""
    [placed] = await scenes.place(site, ["12345"], name=name)
    rec = placed.record
    assert rec.seat and rec.answered_at is not None
    await scenes.wait_for(
        lambda: api.send("GET", f"/api/v1/requests/{rec.linkedid}", sup),
        lambda r: r[0] == 200,
        "the answered call's work order",
    )
    return rec, rec.linkedid


async def test_a_call_becomes_a_work_order_that_goes_round_the_loop(site: SimSite):
    api = Api(site)
    sup = await token(site, "--role", "supervisor", "--name", "钱主管")
    renshe = await token(site, "--role", "department", "--name", "人社局值班", "--unit", "renshe")
    gongan = await token(site, "--role", "department", "--name", "公安局值班", "--unit", "gongan")
    rec, rid = await answered_order(site, api, sup, "workorder-loop")
    seat = await token(site, "--role", "seat", "--name", "座席", "--seat", rec.seat)

    detail = await api.ok("GET", f"/api/v1/requests/{rid}", seat)
    order = detail["request"]
    assert (order["state"], order["seat"], order["hotline"]) == ("registered", rec.seat, "12345")
    assert order["caller_number"] == rec.caller_number and order["calls_in"] == [rec.linkedid]
    assert [e["action"] for e in detail["history"]] == ["register"]

    await api.ok("POST", f"/api/v1/requests/{rid}/form", seat, FORM)
    sent = await api.ok("POST", f"/api/v1/requests/{rid}/actions/dispatch", seat,
                        {"lead": "renshe"})  # fmt: skip
    assert sent["state"] == "dispatched" and sent["deadline_at"]
    dept = f"/api/v1/department/requests/{rid}"
    assert (await api.ok("POST", f"{dept}/actions/sign", renshe))["state"] == "signed"
    back = await api.ok("POST", f"{dept}/actions/return", renshe, {"reason": "应由属地办理"})
    assert back["state"] == "returned"
    again = await api.ok("POST", f"/api/v1/requests/{rid}/actions/accept_return", sup,
                         {"lead": "renshe", "note": "经核实仍属人社"})  # fmt: skip
    assert again["state"] == "dispatched"
    await api.ok("POST", f"{dept}/actions/sign", renshe)
    await api.ok("POST", f"{dept}/actions/reply", renshe, {"result": "已协调物业修复电梯"})
    await api.ok("POST", f"/api/v1/requests/{rid}/actions/follow_up", seat,
                 {"satisfaction": "满意"})  # fmt: skip
    closed = await api.ok("POST", f"/api/v1/requests/{rid}/actions/close", seat)
    assert closed["state"] == "closed"
    history = (await api.ok("GET", f"/api/v1/requests/{rid}", sup))["history"]
    assert [e["action"] for e in history] == [
        "register", "complete", "dispatch", "sign", "return", "accept_return", "sign", "reply",
        "follow_up", "close",
    ]  # fmt: skip

    # another unit's token: the order does not exist for it
    status, body = await api.send("GET", dept, gongan)
    assert status == 404 and body["error"] == "not_found"
    listed = await api.ok("GET", "/api/v1/department/requests", gongan)
    assert rid not in [r["id"] for r in listed["requests"]]

    # the day's export holds the order with its call
    day = rec.answered_at.astimezone(ZoneInfo(site.cfg.site.timezone)).date()
    out = await cli(site, "request", "export", "--day", day.isoformat())
    jsonl = Path(out.stdout.strip().splitlines()[1])
    lines = jsonl.read_text(encoding="utf-8").splitlines()[1:]
    items = {x["id"]: x for x in map(json.loads, lines)}
    exported = items[rid]
    assert exported["state"] == "closed" and exported["lead_unit"] == "renshe"
    assert [c["linkedid"] for c in exported["calls"]] == [rec.linkedid]
    assert exported["calls"][0]["seat"] == rec.seat
    assert len(exported["history"]) == 10


async def test_a_confidential_order_hides_the_caller_from_the_department(site: SimSite):
    api = Api(site)
    sup = await token(site, "--role", "supervisor", "--name", "钱主管")
    renshe = await token(site, "--role", "department", "--name", "人社局值班", "--unit", "renshe")
    rec, rid = await answered_order(site, api, sup, "workorder-secret")
    await api.ok("POST", f"/api/v1/requests/{rid}/form", sup,
                 {**FORM, "confidential": True, "caller_name": "举报人"})  # fmt: skip
    await api.ok("POST", f"/api/v1/requests/{rid}/actions/dispatch", sup, {"lead": "renshe"})
    seen = (await api.ok("GET", f"/api/v1/department/requests/{rid}", renshe))["request"]
    assert seen["confidential"] and seen["content"] == FORM["content"]
    assert (seen["caller_number"], seen["caller_name"]) == ("", "")
    listed = await api.ok("GET", "/api/v1/department/requests?status=dispatched", renshe)
    mine = next(r for r in listed["requests"] if r["id"] == rid)
    assert mine["caller_number"] == "" and rec.caller_number not in json.dumps(listed)
    full = (await api.ok("GET", f"/api/v1/requests/{rid}", sup))["request"]
    assert full["caller_number"] == rec.caller_number  # 12345 keeps the caller

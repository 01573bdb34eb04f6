"""The work orders' HTTP endpoints on a real store (SQLite and PostgreSQL): the closed loop
by the 12345 and department tokens, a department bound to its unit, 保密 hiding the caller,
every department step audited, refusals naming the order, its state and what is allowed,
the change feed and the figures; each reply checked against its OpenAPI schema."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, select

from callcore.api.app import SPEC, make_app
from callcore.api.auth import TokenBook
from callcore.api.events import EventHub
from callcore.features.workorders import api as wo_api
from callcore.features.workorders.service import WorkOrderService
from callcore.store.db import make_engine
from callcore.store.models import AuditEntry
from callcore.wiring.services import ApiServices
from config.schema import SiteConfig

pytestmark = pytest.mark.timeout(120)

TOKENS = {
    "adm": {"role": "admin", "name": "管理员"},
    "sup": {"role": "supervisor", "name": "钱主管"},
    "g01": {"role": "seat", "name": "王芳", "seat": "G01"},
    "renshe": {"role": "department", "name": "人社局值班", "unit": "renshe"},
    "gongan": {"role": "department", "name": "公安局值班", "unit": "gongan"},
}
FORM = {
    "content": "某公司拖欠三个月工资", "type": "投诉", "urgency": "紧急",
    "address": "亭湖区某路1号", "district": "tinghu", "class_id": "laodong.qianxin",
    "caller_name": "张先生", "contact_number": "13900001111",
}  # fmt: skip


@pytest_asyncio.fixture
async def client(service: WorkOrderService, site: SiteConfig) -> AsyncIterator[TestClient]:
    services = ApiServices(
        config=lambda: site, db=service.engine, hub=EventHub(), workorders=service
    )
    app = make_app(services, TokenBook(tokens=TOKENS), apis=[wo_api.api])
    async with TestClient(TestServer(app)) as c:
        yield c


def schema(spec: dict, path: str, method: str, status: int) -> dict:
    media = spec["paths"][path][method]["responses"][str(status)]["content"]
    return {**next(iter(media.values()))["schema"], "components": spec["components"]}


async def call(
    c: TestClient, method: str, path: str, token: str, status: int = 200, lang: str = "zh",
    **kw: Any,
) -> Any:  # fmt: skip
    """Send to `path` (`{request_id}` and `{action}` from kw), expect `status`, and check
    the reply against the schema the description gives for it."""
    url = path.replace("{request_id}", kw.pop("rid", "")).replace("{action}", kw.pop("act", ""))
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": lang}
    r = await c.request(method, url, headers=headers, **kw)
    body = await r.json()
    assert r.status == status, body
    jsonschema.validate(body, schema(c.app[SPEC], path, method.lower(), status))
    return body


ACT = "/api/v1/requests/{request_id}/actions/{action}"
DEPT_ACT = "/api/v1/department/requests/{request_id}/actions/{action}"
DEPT_ONE = "/api/v1/department/requests/{request_id}"


async def act(c: TestClient, token: str, rid: str, action: str, body: dict | None = None,
              status: int = 200) -> Any:  # fmt: skip
    path = DEPT_ACT if token in ("renshe", "gongan") else ACT
    return await call(c, "POST", path, token, status, rid=rid, act=action, json=body or {})


def audits(engine: Engine) -> list[dict]:
    t = AuditEntry.__table__
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(t).order_by(t.c.at)).mappings()]


async def test_the_closed_loop_over_the_api(client: TestClient, service: WorkOrderService):
    rid = service.register_call("L-1", seat="G01", caller_number="13800001234").id
    body = await call(client, "POST", "/api/v1/requests/{request_id}/form", "g01",
                      rid=rid, json=FORM)  # fmt: skip
    assert body["type"] == "投诉" and "dispatch" in body["allowed"]
    body = await act(client, "g01", rid, "dispatch", {"lead": "renshe", "assisting": ["tinghu"]})
    assert body["state"] == "dispatched" and body["deadline_at"] and body["light"] == "green"
    body = await act(client, "renshe", rid, "sign")
    assert body["state"] == "signed" and body["caller_number"] == "13800001234"
    body = await act(client, "renshe", rid, "return", {"reason": "属地问题，应由区里办理"})
    assert body["state"] == "returned" and body["allowed"] == []
    body = await act(client, "sup", rid, "accept_return", {"lead": "renshe", "note": "仍由人社"})
    assert body["state"] == "dispatched"
    await act(client, "renshe", rid, "sign")
    body = await act(client, "renshe", rid, "reply", {"result": "已责令公司支付工资"})
    assert body["state"] == "replied"
    await act(client, "g01", rid, "follow_up", {"satisfaction": "满意"})
    body = await act(client, "g01", rid, "close")
    assert (body["state"], body["state_label"]) == ("closed", "已办结")

    detail = await call(client, "GET", "/api/v1/requests/{request_id}", "sup", rid=rid)
    steps = [e["action"] for e in detail["history"]]
    assert steps == ["register", "complete", "dispatch", "sign", "return", "accept_return",
                     "sign", "reply", "follow_up", "close"]  # fmt: skip
    assert [e["seq"] for e in detail["history"]] == list(range(1, 11))
    done = [a for a in audits(service.engine) if a["role"] == "department"]
    assert [a["action"] for a in done] == [
        "workorder_sign",
        "workorder_return",
        "workorder_sign",
        "workorder_reply",
    ]
    assert all(a["actor"] == "人社局值班" and a["target"] == rid for a in done)
    assert json.loads(done[0]["detail"])["unit"] == "renshe"
    views = [a for a in audits(service.engine) if a["action"] == "workorder_view"]
    assert [(a["actor"], a["role"], a["target"]) for a in views] == [("钱主管", "supervisor", rid)]

    figs = await call(client, "GET", "/api/v1/requests/figures", "sup")
    renshe = next(f for f in figs["units"] if f["key"] == "renshe")
    assert (renshe["dispatched"], renshe["returned"], renshe["followed_up"]) == (2, 1, 1)
    assert renshe["satisfaction_rate"] == 1.0 and renshe["return_rate"] == 0.5
    own = await call(client, "GET", "/api/v1/department/figures", "renshe")
    assert [f["key"] for f in own["units"]] == ["renshe"]


async def test_a_department_sees_its_units_orders_only(
    client: TestClient, service: WorkOrderService
):
    mine = service.register_call("L-2", seat="G01", caller_number="13800002222").id
    other = service.register_call("L-3", seat="G01", caller_number="13800003333").id
    for rid, lead in ((mine, "renshe"), (other, "gongan")):
        await call(client, "POST", "/api/v1/requests/{request_id}/form", "g01", rid=rid,
                   json={**FORM, "confidential": rid == mine})  # fmt: skip
        await act(client, "g01", rid, "dispatch", {"lead": lead})
    listed = await call(client, "GET", "/api/v1/department/requests", "renshe")
    assert [r["id"] for r in listed["requests"]] == [mine]
    seen = (await call(client, "GET", DEPT_ONE, "renshe", rid=mine))["request"]
    assert seen["confidential"] and seen["content"] == FORM["content"]
    assert (seen["caller_number"], seen["caller_name"], seen["contact_number"]) == ("", "", "")
    full = await call(client, "GET", "/api/v1/requests/{request_id}", "sup", rid=mine)
    assert full["request"]["caller_number"] == "13800002222"  # 12345 sees the caller

    body = await call(client, "GET", DEPT_ONE, "renshe", 404, rid=other)
    assert body["error"] == "not_found" and other in body["message"]
    body = await act(client, "renshe", other, "sign", status=404)
    assert body["detail"] == {"request": other}
    body = await call(client, "GET", "/api/v1/requests", "renshe", 403)  # not the 12345 side
    refused = [a for a in audits(service.engine) if a["result"] == "error"]
    assert {(a["action"], a["target"]) for a in refused} == {
        ("workorder_view", other),
        ("workorder_sign", other),
    }
    assert all(a["error"].startswith("not_found") for a in refused)


async def test_refusals_name_the_order_its_state_and_what_is_allowed(
    client: TestClient, service: WorkOrderService
):
    rid = service.register_call("L-4", seat="G01").id
    body = await act(client, "g01", rid, "dispatch", {"lead": "renshe"}, status=400)
    assert body["error"] == "incomplete"
    assert {p["field"] for p in body["detail"]["problems"]} == {"content", "type"}
    await call(client, "POST", "/api/v1/requests/{request_id}/form", "g01", rid=rid, json=FORM)
    body = await act(client, "g01", rid, "dispatch", {"lead": "nowhere"}, status=400)
    assert body["error"] == "invalid" and "nowhere" in body["message"]
    body = await act(client, "g01", rid, "close", status=409)
    assert body["error"] == "bad_state" and rid in body["message"] and "已受理" in body["message"]
    assert body["detail"]["state"] == "registered"
    assert {"dispatch", "close_on_spot"} <= set(body["detail"]["allowed"])
    en = await call(client, "POST", ACT, "g01", 409, lang="en", rid=rid, act="close", json={})
    assert "registered" in en["message"] and "allowed" in en["message"]
    body = await act(client, "g01", rid, "teleport", status=400)
    assert "teleport" in body["message"] and "dispatch" in body["message"]
    body = await act(client, "g01", rid, "dispatch", {"lead": "renshe", "reason": "x"}, 400)
    assert body["detail"]["problems"][0]["field"] == "reason"
    await act(client, "g01", rid, "dispatch", {"lead": "renshe"})
    body = await act(client, "renshe", rid, "reply", {"result": "未签收就反馈"}, status=409)
    assert body["detail"] == {"request": rid, "state": "dispatched",
                              "allowed": ["sign", "return"]}  # fmt: skip
    body = await act(client, "g01", rid, "escalate", status=403)  # 督办 is for supervisors
    assert body["error"] == "forbidden"
    body = await act(client, "sup", rid, "escalate", status=409)  # and only when overdue
    assert body["error"] == "not_now"


async def test_filters_merges_and_the_change_feed(client: TestClient, service: WorkOrderService):
    ids = [service.register_call(f"L-{i}", seat="G01", hotline=h).id
           for i, h in enumerate(("12345", "12333", "12345"), start=10)]  # fmt: skip
    for rid in ids:
        await call(client, "POST", "/api/v1/requests/{request_id}/form", "g01", rid=rid, json=FORM)
    feed = await call(client, "GET", "/api/v1/requests/changes", "sup")
    assert {o["id"] for o in feed["orders"]} == set(ids) and len(feed["events"]) == 6
    await act(client, "g01", ids[0], "dispatch", {"lead": "renshe"})
    body = await act(client, "sup", ids[2], "merge", {"master": ids[0], "note": "重复来电"})
    assert body["id"] == ids[0] and body["calls_in"] == ["L-10", "L-12"]

    async def listed(query: str) -> list[str]:
        got = await call(client, "GET", "/api/v1/requests", "sup", params=query)
        return sorted(r["id"] for r in got["requests"])

    assert await listed("hotline=12333") == [ids[1]]
    assert await listed("status=registered") == [ids[1]]
    assert await listed("status=dispatched,merged") == [ids[0], ids[2]]
    assert await listed("unit=renshe&urgency=紧急&district=tinghu&type=投诉") == [ids[0]]
    assert await listed("overdue=true") == []
    body = await call(client, "GET", "/api/v1/requests", "sup", 400, params="status=lost")
    assert "states" in body["message"]
    later = await call(client, "GET", "/api/v1/requests/changes", "sup",
                       params=f"cursor={feed['cursor']}")  # fmt: skip
    assert sorted(o["id"] for o in later["orders"]) == [ids[0], ids[2]]
    assert sorted(e["action"] for e in later["events"]) == ["absorb", "dispatch", "merge"]
    again = await call(client, "GET", "/api/v1/requests/changes", "sup",
                       params=f"cursor={later['cursor']}")  # fmt: skip
    assert again == {"orders": [], "events": [], "cursor": later["cursor"]}
    await call(client, "GET", "/api/v1/requests/changes", "g01", 403)  # not for seats


async def test_an_absent_store_answers_503(site: SiteConfig, tmp_path):  # type: ignore[no-untyped-def]
    gone = make_engine(f"sqlite:///{tmp_path}/missing/store.db")  # its folder does not exist
    service = WorkOrderService(gone, lambda: site)
    services = ApiServices(config=lambda: site, db=gone, hub=EventHub(), workorders=service)
    app = make_app(services, TokenBook(tokens=TOKENS), apis=[wo_api.api])
    async with TestClient(TestServer(app)) as c:
        body = await call(c, "GET", "/api/v1/requests", "sup", 503)
        assert body["error"] == "unavailable" and "工单库" in body["message"]
        await act(c, "sup", "L-1", "close", status=503)
    gone.dispose()

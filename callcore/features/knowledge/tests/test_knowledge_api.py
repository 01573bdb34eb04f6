"""The knowledge base's HTTP endpoints on a real store: the OpenAPI description is valid
and matches the replies, seats may read and search but not edit, supervisors and admins
may edit, and refusals carry their code and words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from callcore.api.app import make_app
from callcore.api.auth import TokenBook
from callcore.api.events import EventHub
from callcore.api.openapi import openapi_path
from callcore.api.testing import described
from callcore.features.knowledge import api as knowledge_api
from callcore.features.knowledge.service import KnowledgeService
from callcore.wiring.services import ApiServices
from config.loader import load

pytestmark = pytest.mark.timeout(120)

TOKENS = {
    "adm": {"role": "admin", "name": "管理员"},
    "sup": {"role": "supervisor", "name": "钱主管"},
    "seat": {"role": "seat", "name": "王芳", "seat": "G01"},
}
ONE = knowledge_api.ARTICLE
NEW = {
    "id": "new-1",
    "title": "新增知识",
    "body": "内容：住房公积金新政策。",
    "unit": "市公积金管理中心",
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture
async def client(sample: KnowledgeService) -> AsyncIterator[TestClient]:
    cfg = load()
    services = ApiServices(config=lambda: cfg, db=sample.engine, hub=EventHub(), knowledge=sample)
    app = make_app(services, TokenBook(tokens=TOKENS), apis=[knowledge_api.api])
    async with TestClient(TestServer(app)) as c:
        yield c


async def check(
    c: TestClient, method: str, path: str, token: str, status: int, *, lang: str = "zh", **kw
) -> Any:
    """Send to `path` (as described; `{article_id}` filled from `article`), expect
    `status`, and check the reply against the schema the description gives for it."""
    url = path.replace("{article_id}", kw.pop("article", ""))
    headers = {**auth(token), "Accept-Language": lang}
    return await described(c, method, path, url, status, headers=headers, **kw)


async def test_openapi_is_valid_and_describes_the_routes(client: TestClient):
    spec = await (await client.get("/openapi.json")).json()
    validate(spec)
    described = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    mounted = {
        (route.method, openapi_path(route.resource.canonical))
        for route in client.app.router.routes()
        if route.method != "HEAD" and route.resource.canonical != "/openapi.json"
    }
    assert described == mounted and len(described) == 6
    for ops in spec["paths"].values():
        for method, op in ops.items():
            assert op["x-role"] == ("seat" if method == "get" else "supervisor")
            assert {"401", "403"} <= set(op["responses"])


async def test_seats_search_and_read(client: TestClient):
    found = await check(client, "GET", "/api/v1/knowledge/search", "seat", 200,
                        params={"q": "公积金提取"})  # fmt: skip
    assert found["hits"][0]["id"] == "gjj-tiqu" and found["fuzzy"] is False
    a, b = found["hits"][0]["title"]["marks"][0]
    assert found["hits"][0]["title"]["text"][a:b] == "公积金提取"
    two = await check(client, "GET", "/api/v1/knowledge/search", "seat", 200, params={"q": "发票"})
    assert two["hits"][0]["id"] == "sw-fapiao"
    listed = await check(client, "GET", "/api/v1/knowledge/articles", "seat", 200,
                         params={"unit": "市医保局", "include_expired": "true"})  # fmt: skip
    assert {x["unit"] for x in listed["articles"]} == {"市医保局"}
    assert "yb-jumin-2024" in {x["id"] for x in listed["articles"]}
    one = await check(client, "GET", ONE, "seat", 200, article="yb-yidi")
    assert one["title"] == "异地就医备案办理指南" and one["current"] is True


async def test_seats_may_not_edit(client: TestClient):
    calls = [
        ("POST", "/api/v1/knowledge/articles", {"json": NEW}),
        ("POST", "/api/v1/knowledge/articles/gjj-tiqu", {"json": {"title": "改"}}),
        ("DELETE", "/api/v1/knowledge/articles/gjj-tiqu", {}),
    ]
    for method, url, kw in calls:
        r = await client.request(method, url, **kw)
        assert r.status == 401
        r = await client.request(method, url, headers=auth("seat"), **kw)
        assert r.status == 403 and (await r.json())["error"] == "forbidden"
    r = await client.get("/api/v1/knowledge/search", params={"q": "社保"})
    assert r.status == 401
    one = await check(client, "GET", ONE, "seat", 200, article="gjj-tiqu")
    assert one["version"] == 1


async def test_supervisors_and_admins_edit(client: TestClient):
    art = "/api/v1/knowledge/articles"
    made = await check(client, "POST", art, "sup", 201, json=NEW)
    assert made["created_by"] == "钱主管" and made["version"] == 1
    dup = await check(client, "POST", art, "adm", 409, json=NEW)
    assert dup["error"] == "exists" and "已存在" in dup["message"]
    changed = await check(client, "POST", ONE, "adm", 200, article="new-1",
                          json={"title": "新增知识（修订）", "expected_version": 1})  # fmt: skip
    assert changed["version"] == 2 and changed["updated_by"] == "管理员"
    stale = await check(client, "POST", ONE, "sup", 409, article="new-1", lang="en",
                        json={"body": "旧版本上的修改", "expected_version": 1})  # fmt: skip
    assert stale["error"] == "conflict" and "changed meanwhile" in stale["message"]
    found = await check(client, "GET", "/api/v1/knowledge/search", "seat", 200,
                        params={"q": "修订"})  # fmt: skip
    assert [h["id"] for h in found["hits"]] == ["new-1"]
    gone = await check(client, "DELETE", ONE, "sup", 200, article="new-1",
                       params={"expected_version": "2"})  # fmt: skip
    assert gone == {"id": "new-1", "deleted": True}
    missing = await check(client, "GET", ONE, "seat", 404, article="new-1")
    assert missing["error"] == "not_found"


async def test_bad_input_is_a_400_naming_the_field(client: TestClient):
    art = "/api/v1/knowledge/articles"
    backwards = {**NEW, "valid_from": "2026-05-01", "valid_until": "2026-01-01"}
    bad = await check(client, "POST", art, "sup", 400, json=backwards)
    assert bad["error"] == "bad_body" and "before valid_from" in str(bad["detail"])
    bad = await check(client, "POST", art, "sup", 400, json={**NEW, "author": "x"})
    assert bad["detail"][0]["loc"] == "author"
    bad = await check(client, "POST", ONE, "sup", 400, article="gjj-tiqu",
                      json={"valid_until": "2020-01-01"})  # fmt: skip
    assert bad["error"] == "bad_article" and "早于" in bad["message"]
    bad = await check(client, "GET", "/api/v1/knowledge/search", "seat", 400, params={"q": ""})
    assert bad["error"] == "bad_query"
    bad = await check(client, "GET", "/api/v1/knowledge/search", "seat", 400, params={"q": "，。"})
    assert bad["error"] == "bad_query" and "检索词" in bad["message"]


async def test_without_the_service_the_endpoints_say_so(sample: KnowledgeService):
    cfg = load()
    services = ApiServices(config=lambda: cfg, db=sample.engine, hub=EventHub())
    app = make_app(services, TokenBook(tokens=TOKENS), apis=[knowledge_api.api])
    async with TestClient(TestServer(app)) as c:
        r = await c.get("/api/v1/knowledge/search", params={"q": "社保"}, headers=auth("seat"))
        assert r.status == 503 and (await r.json())["error"] == "unavailable"

"""The QA desk's HTTP endpoints on a real store (SQLite and PostgreSQL): the description
matches the replies, a reviewer's queue, a sample with its call, rating and recordings'
path (audited), scoring and correcting (versions kept, each audited), summaries, what a
seat token may see, and refusals that name what is wrong."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate
from sqlalchemy import Engine, select

from callcore.api.app import make_app
from callcore.api.auth import TokenBook
from callcore.api.events import EventHub
from callcore.api.testing import described
from callcore.features.quality import api as quality_api
from callcore.features.quality.model import mask_number
from callcore.features.quality.service import QualityService, audit_t
from callcore.features.quality.tests.test_quality_store import DAY, FULL, call, seed, service
from callcore.store.db import upsert_calls
from callcore.wiring.services import ApiServices

pytestmark = pytest.mark.timeout(120)

TOKENS = {
    "qa1": {"role": "qa", "name": "QA01"},
    "qa2": {"role": "qa", "name": "质检员陈晨"},  # a reviewer by name: QA02
    "qax": {"role": "qa", "name": "路人"},  # a qa token naming no reviewer
    "sup": {"role": "supervisor", "name": "钱主管"},
    "g01": {"role": "seat", "name": "王芳", "seat": "G01"},
    "g08": {"role": "seat", "name": "李明", "seat": "G08"},
}
SAMPLES = "/api/v1/qa/samples"
ONE = quality_api.SAMPLE
DAYQ = {"day": DAY.isoformat()}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def qa(engine: Engine) -> QualityService:
    seed(engine)
    with engine.begin() as conn:  # a long call with the caller's number, sampled for sure
        upsert_calls(conn, [call("g01.long", "G01", 50, talk=30 * 60,
                                 caller_number="13812345678")])  # fmt: skip
    svc = service(engine)
    svc.draw(DAY)
    return svc


@pytest_asyncio.fixture
async def client(qa: QualityService, engine: Engine) -> AsyncIterator[TestClient]:
    import config

    cfg = config.load()
    services = ApiServices(config=lambda: cfg, db=engine, hub=EventHub(), quality=qa)
    app = make_app(services, TokenBook(tokens=TOKENS), apis=[quality_api.api])
    async with TestClient(TestServer(app)) as c:
        yield c


async def check(c: TestClient, method: str, path: str, token: str, status: int, **kw) -> Any:
    """Send to `path` (`{linkedid}`/`{seat}` filled from `lid`/`seat`), expect `status`,
    and check the reply against the schema the description gives for it."""
    url = path.replace("{linkedid}", kw.pop("lid", "")).replace("{seat}", kw.pop("seat", ""))
    return await described(c, method, path, url, status, headers=auth(token), **kw)


async def test_openapi_is_valid_and_roles_are_declared(client: TestClient):
    spec = await (await client.get("/openapi.json")).json()
    validate(spec)
    roles = {(m, p): op["x-role"] for p, ops in spec["paths"].items() for m, op in ops.items()}
    assert roles[("get", SAMPLES)] == roles[("post", ONE + "/score")] == "qa"
    assert roles[("get", "/api/v1/qa/seats/{seat}/summary")] == "seat"
    assert len(roles) == 7


async def test_a_reviewers_queue_and_one_sample_with_its_call(client: TestClient, engine):
    mine = await check(client, "GET", SAMPLES, "qa1", 200, params=DAYQ)
    assert mine["samples"] and {s["reviewer"] for s in mine["samples"]} == {"QA01"}
    assert {s["status"] for s in mine["samples"]} == {"pending"}
    everyone = await check(client, "GET", SAMPLES, "sup", 200, params={**DAYQ, "reviewer": "all"})
    assert {s["reviewer"] for s in everyone["samples"]} == {"QA01", "QA02"}
    long = next(s for s in everyone["samples"] if s["linkedid"] == "g01.long")
    assert "long" in long["reasons"] and "超长通话" in long["reason_labels"]
    g08 = await check(client, "GET", SAMPLES, "qa2", 200, params={"seat": "G08", "reviewer": "all"})
    assert {s["seat"] for s in g08["samples"]} == {"G08"}

    one = await check(client, "GET", ONE, "qa1", 200, lid="g01.long")
    assert one["call"]["caller_number"] == "138****5678" and one["call"]["seat"] == "G01"
    assert one["recordings"] == "/api/v1/calls/g01.long/recordings"
    assert one["scorecard"]["id"] == "standard" and one["scores"] == [] and one["rating"] is None
    rated = await check(client, "GET", ONE, "qa1", 200, lid="g01.7")
    assert rated["rating"]["level"] == 4 and rated["rating"]["label"] == "不满意"
    with engine.connect() as conn:
        views = conn.execute(select(audit_t).where(audit_t.c.action == "qa_view")).mappings()
        seen = {(v["actor"], v["role"], v["target"]) for v in views}
    assert seen == {("QA01", "qa", "g01.long"), ("QA01", "qa", "g01.7")}
    missing = await check(client, "GET", ONE, "qa1", 404, lid="nope")
    assert missing["error"] == "unknown_sample" and "未被抽中质检" in missing["message"]
    r = await client.get(ONE.replace("{linkedid}", "nope"),
                         headers={**auth("qa1"), "Accept-Language": "en"})  # fmt: skip
    assert (await r.json())["message"] == "call 'nope' is not sampled"


async def test_score_then_correct_keeps_both_versions_and_audits_each(client, engine):
    lid = "g01.long"
    bad = await check(client, "POST", ONE + "/score", "qa1", 400, lid=lid,
                      json={"points": {**FULL, "answer": 31}})  # fmt: skip
    assert bad["error"] == "bad_marks" and "'answer'" in bad["message"]
    nofield = await check(client, "POST", ONE + "/score", "qa1", 400, lid=lid, json={})
    assert nofield["error"] == "bad_body" and nofield["detail"][0]["loc"] == "points"
    marks = {"points": {**FULL, "answer": 20}, "notes": {"answer": "口径不全"}}
    v1 = await check(client, "POST", ONE + "/score", "qa1", 201, lid=lid, json=marks)
    assert (v1["version"], v1["total"], v1["reviewer"]) == (1, 90, "QA01")
    again = await check(client, "POST", ONE + "/score", "qa2", 409, lid=lid, json={"points": FULL})
    assert again["error"] == "already_scored"
    noreason = await check(client, "POST", ONE + "/corrections", "qa2", 400, lid=lid,
                           json={"points": FULL})  # fmt: skip
    assert noreason["detail"][0]["loc"] == "reason"
    as_other = await check(client, "POST", ONE + "/corrections", "qa2", 403, lid=lid,
                           json={"points": FULL, "reason": "x", "reviewer": "QA01"})  # fmt: skip
    assert as_other["error"] == "not_yourself"
    unsaid = await check(client, "POST", ONE + "/corrections", "sup", 400, lid=lid,
                         json={"points": FULL, "reason": "复核"})  # fmt: skip
    assert unsaid["error"] == "no_reviewer" and "reviewer" in unsaid["message"]
    v2 = await check(client, "POST", ONE + "/corrections", "sup", 201, lid=lid,
                     json={"points": FULL, "fails": ["abuse"], "reason": "复听：顶撞来电人",
                           "reviewer": "QA02"})  # fmt: skip
    assert (v2["version"], v2["total"], v2["raw_total"], v2["failed"]) == (2, 0, 100, True)
    one = await check(client, "GET", ONE, "qa1", 200, lid=lid)
    assert [s["version"] for s in one["scores"]] == [1, 2] and one["scores"][0]["total"] == 90
    assert one["sample"]["status"] == "scored" and one["sample"]["score"]["version"] == 2
    scored = await check(client, "GET", SAMPLES, "qa1", 200, params={"status": "scored"})
    assert [s["linkedid"] for s in scored["samples"]] == [lid]
    pending = await check(client, "GET", SAMPLES, "qa1", 200)
    assert lid not in {s["linkedid"] for s in pending["samples"]}
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_t).where(audit_t.c.action.in_(["qa_score", "qa_correct"]))
            .order_by(audit_t.c.action)
        ).mappings().all()  # fmt: skip
    assert [(r["action"], r["actor"], r["role"]) for r in rows] == [
        ("qa_correct", "钱主管", "supervisor"),
        ("qa_score", "QA01", "qa"),
    ]
    assert json.loads(rows[0]["detail"])["reviewer"] == "QA02"


async def test_summaries_and_what_a_seat_token_sees(client: TestClient):
    await check(client, "POST", ONE + "/score", "qa1", 201, lid="g01.long",
                json={"points": {**FULL, "answer": 20}})  # fmt: skip
    since = DAY.isoformat()
    month = await check(client, "GET", "/api/v1/qa/summary", "qa2", 200,
                        params={"since": since, "until": (DAY + timedelta(days=30)).isoformat(),
                                "period": "month"})  # fmt: skip
    assert month["summaries"] == [
        {"seat": "G01", "period": "2026-03", "count": 1, "average": 90.0, "fails": 0}
    ]
    own = await check(client, "GET", "/api/v1/qa/seats/{seat}/summary", "g01", 200, seat="G01",
                      params={"since": since, "period": "week"})  # fmt: skip
    assert own["summaries"][0]["period"] == "2026-W10" and own["summaries"][0]["count"] == 1
    scores = await check(client, "GET", "/api/v1/qa/seats/{seat}/scores", "g01", 200,
                         seat="G01", params={"since": since})  # fmt: skip
    assert [s["linkedid"] for s in scores["scores"]] == ["g01.long"]
    other = await check(client, "GET", "/api/v1/qa/seats/{seat}/scores", "g08", 403,
                        seat="G01", params={"since": since})  # fmt: skip
    assert other["error"] == "not_your_seat"
    none = await check(client, "GET", "/api/v1/qa/seats/{seat}/scores", "g08", 200,
                       seat="G08", params={"since": since})  # fmt: skip
    assert none["scores"] == []
    r = await client.get(SAMPLES, headers=auth("g01"))
    assert r.status == 403  # seats have no queue
    r = await client.get(ONE.replace("{linkedid}", "g01.long"), headers=auth("g01"))
    assert r.status == 403  # nor the call of a sample


async def test_bad_queries_name_the_field(client: TestClient):
    summary = "/api/v1/qa/summary"
    bad = await check(client, "GET", summary, "qa1", 400, params={"since": "yesterday"})
    assert bad["detail"][0]["loc"] == "since"
    back = await check(client, "GET", summary, "qa1", 400,
                       params={"since": "2026-03-02", "until": "2026-03-01"})  # fmt: skip
    assert "until must be after since" in json.dumps(back["detail"], ensure_ascii=False)
    period = await check(client, "GET", summary, "qa1", 400,
                         params={"since": "2026-03-02", "period": "year"})  # fmt: skip
    assert period["detail"][0]["loc"] == "period"
    status = await check(client, "GET", SAMPLES, "qa1", 400, params={"status": "done"})
    assert status["detail"][0]["loc"] == "status"
    stranger = await check(client, "POST", ONE + "/score", "qax", 403, lid="g01.long",
                           json={"points": FULL})  # fmt: skip
    assert stranger["error"] == "not_a_reviewer"


def test_numbers_are_masked():
    assert mask_number("13812345678") == "138****5678"
    assert mask_number("051512349") == "05***2349"
    assert mask_number("110") == "***"

"""Ratings over HTTP on a real store: the figures per group, the ratings given, one call's,
who may read them, and refusals in words (`callcore ratings`: tests/unit/test_ratings_wiring.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, insert

from callcore.api.app import SPEC, make_app
from callcore.api.auth import TokenBook
from callcore.api.events import EventHub
from callcore.features.ratings import api as ratings_api
from callcore.features.ratings.service import ratings
from callcore.records import CallRecord
from callcore.store.db import upsert_calls
from callcore.wiring.services import ApiServices
from config.loader import load

pytestmark = pytest.mark.timeout(120)
CFG = load()
TOKENS = {
    "sup": {"role": "supervisor", "name": "钱主管"},
    "qa": {"role": "qa", "name": "赵静"},
    "seat": {"role": "seat", "name": "王芳", "seat": "G01"},
}


def answered_at() -> datetime:
    """When the stored calls were answered: ten minutes ago, but today on the site's calendar
    (figures of "today" start at local midnight), read when a test runs, not at import."""
    now = datetime.now(UTC).replace(microsecond=0)
    local = now.astimezone(ZoneInfo(CFG.site.timezone))
    midnight = local.replace(hour=0, minute=0, second=0).astimezone(UTC)
    return max(now - timedelta(minutes=10), midnight)


def store_calls(engine: Engine) -> None:
    """Three answered calls of today: G01 rated 1 and 4 (general), G02 no key (hrss)."""
    t = answered_at()
    calls = [
        CallRecord(f"L{n}", hotline=h, route=q, seat=s, entered_at=t, answered_at=t, as_of=n)
        for n, (h, q, s) in enumerate(
            [("12345", "q-general", "G01"), ("12345", "q-general", "G01"),
             ("12333", "q-hrss", "G02")]
        )
    ]  # fmt: skip
    rows = [
        ("L0", "G01", "general", "12345", 1, "rated", "1"),
        ("L1", "G01", "general", "12345", 4, "rated", "4"),
        ("L2", "G02", "hrss", "12333", None, "no_key", ""),
    ]
    with engine.begin() as conn:
        upsert_calls(conn, calls)
        conn.execute(insert(ratings), [
            {"linkedid": lid, "seat": seat, "legs": [f"{lid}/0"], "hotline": num, "zone": zone,
             "request_id": lid, "key": key, "level": level, "outcome": outcome,
             "source": "live", "at": t + timedelta(minutes=5), "as_of": 1.0}
            for lid, seat, zone, num, level, outcome, key in rows
        ])  # fmt: skip


@pytest_asyncio.fixture
async def client(engine: Engine) -> AsyncIterator[TestClient]:
    store_calls(engine)
    services = ApiServices(config=lambda: CFG, db=engine, hub=EventHub())
    app = make_app(services, TokenBook(tokens=TOKENS), apis=[ratings_api.api])
    async with TestClient(TestServer(app)) as c:
        yield c


async def check(c: TestClient, path: str, token: str, status: int, lang: str = "zh", **kw: Any):
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": lang}
    r = await c.get(path.replace("{linkedid}", kw.pop("linkedid", "")), headers=headers, **kw)
    body = await r.json()
    assert r.status == status, body
    spec = c.app[SPEC]
    media = spec["paths"][path]["get"]["responses"][str(status)]["content"]
    jsonschema.validate(body, {**next(iter(media.values()))["schema"],
                               "components": spec["components"]})  # fmt: skip
    return body


async def test_figures_per_seat_zone_and_number(client: TestClient):
    path = "/api/v1/ratings/figures"
    body = await check(client, path, "sup", 200, params={"since": "1d"})
    (total,) = body["groups"]
    assert (total["answered"], total["rated"], total["unrated"]) == (3, 2, 1)
    assert total["rated_share"] == pytest.approx(2 / 3) and total["satisfaction"] == 0.5
    by_seat = await check(client, path, "sup", 200, params={"since": "1d", "by": "seat"})
    seats = {g["key"]: g for g in by_seat["groups"]}
    assert seats["G01"]["levels"] == {"1": 1, "2": 0, "3": 0, "4": 1, "5": 0}
    assert seats["G02"]["satisfaction"] is None and seats["G02"]["rated_share"] == 0
    by_zone = await check(client, path, "sup", 200, params={"since": "1d", "by": "zone"})
    assert {g["key"] for g in by_zone["groups"]} == {"general", "hrss"}
    by_number = await check(client, path, "sup", 200, params={"since": "1d", "by": "number"})
    assert {g["key"]: g["answered"] for g in by_number["groups"]} == {"12345": 2, "12333": 1}
    await check(client, path, "seat", 403)
    await check(client, path, "qa", 403)


async def test_ratings_and_one_calls_rating(client: TestClient):
    listed = await check(client, "/api/v1/ratings", "qa", 200, params={"since": "1d"})
    assert [r["linkedid"] for r in listed["ratings"]] == ["L0", "L1", "L2"]
    bad = await check(client, "/api/v1/ratings", "sup", 200,
                      params={"since": "1d", "unsatisfied": "true"})  # fmt: skip
    assert [r["label"] for r in bad["ratings"]] == ["不满意"]
    one = "/api/v1/calls/{linkedid}/rating"
    r = await check(client, one, "qa", 200, linkedid="L2", lang="en")
    assert (r["level"], r["label"], r["outcome"], r["seat"]) == (None, "not rated", "no_key", "G02")
    await check(client, one, "seat", 403, linkedid="L2")


async def test_refusals_name_the_problem(client: TestClient):
    gone = await check(client, "/api/v1/calls/{linkedid}/rating", "qa", 404, linkedid="nope")
    assert gone["error"] == "unknown_call" and gone["message"] == "该通话没有评价记录"
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    wrong = await check(client, "/api/v1/ratings", "qa", 400, lang="en", params={"since": later})
    assert wrong["error"] == "bad_window" and "since must be before until" in wrong["message"]
    await check(client, "/api/v1/ratings/figures", "sup", 400, params={"by": "floor"})

"""The workstation's files and profile over HTTP: each file with its type, security and
caching headers and a working ETag; nothing outside the package reachable by any path;
the profile of a seat token and of a wallboard token; the screen pop's open requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import create_engine

from callcore.api.app import SPEC, make_app
from callcore.api.auth import TokenBook, add_token
from callcore.api.events import EventHub
from callcore.api.registry import Role
from callcore.features.workorders.model import Action, Actor
from callcore.features.workorders.model import Role as OrderRole
from callcore.features.workorders.service import WorkOrderService
from callcore.features.workstation import api as ws_api
from callcore.features.workstation.assets import load as load_assets
from callcore.features.workstation.screenpop import open_requests
from callcore.store.testing import migrated_engine
from callcore.wiring.services import ApiServices
from config.loader import load

TOKENS = {
    "seat": {"role": "seat", "name": "王芳", "seat": "G01"},
    "wall": {"role": "seat", "name": "大屏", "wallboard": True},
}


@pytest_asyncio.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    cfg = load()
    db = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    services = ApiServices(config=lambda: cfg, db=db, hub=EventHub())
    app = make_app(services, TokenBook(tokens=TOKENS), apis=[ws_api.api])
    async with TestClient(TestServer(app)) as c:
        yield c
    db.dispose()


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/workstation/", "text/html"),
        ("/workstation/index.html", "text/html"),
        ("/workstation/wallboard.html", "text/html"),
        ("/workstation/js/seat.js", "text/javascript"),
        ("/workstation/app.css", "text/css"),
    ],
)
async def test_each_file_is_served_with_its_type_and_headers(client: TestClient, path, kind):
    r = await client.get(path)
    assert r.status == 200
    assert r.content_type == kind and r.charset == "utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["ETag"].startswith('"')
    body = await r.read()
    assert body == (ws_api.ASSETS[path.removeprefix("/workstation/") or "index.html"].body)


async def test_the_pages_reference_only_files_of_the_package(client: TestClient):
    """No build step and nothing from elsewhere: every script, style and module import
    the pages name is one of the served files."""
    import re

    names = set(ws_api.ASSETS)
    for name, asset in ws_api.ASSETS.items():
        text = asset.body.decode("utf-8")
        assert "http://" not in text and "https://" not in text, name
        refs = re.findall(r'(?:src|href)="([^"]+)"', text) + re.findall(
            r'from "\./([^"]+)"', text
        )
        base = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
        for ref in refs:
            assert (base + ref.removeprefix("./")) in names, (name, ref)


async def test_an_unchanged_file_answers_304(client: TestClient):
    first = await client.get("/workstation/js/api.js")
    tag = first.headers["ETag"]
    again = await client.get("/workstation/js/api.js", headers={"If-None-Match": tag})
    assert again.status == 304 and await again.read() == b""
    assert again.headers["ETag"] == tag and again.headers["Cache-Control"] == "no-cache"
    other = await client.get("/workstation/js/api.js", headers={"If-None-Match": '"old", W/"x"'})
    assert other.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/workstation/../pyproject.toml",
        "/workstation/%2e%2e/api.py",
        "/workstation/..%2fapi.py",
        "/workstation/js/../../api.py",
        "/workstation//etc/passwd",
        "/workstation/%2fetc%2fpasswd",
        "/workstation/static/index.html",
        "/workstation/api.py",
        "/workstation/js/",
        "/workstation/nothing.html",
    ],
)
async def test_no_path_reaches_outside_the_files(client: TestClient, path: str):
    r = await client.get(path)
    assert r.status == 404
    if r.content_type == "application/json":
        assert (await r.json())["error"] == "not_found"
    assert b"import" not in await r.read()


def test_only_known_kinds_of_file_are_served(tmp_path: Path):
    (tmp_path / "a.html").write_text("<p>a</p>", encoding="utf-8")
    (tmp_path / "secret.yaml").write_text("x: 1", encoding="utf-8")
    (tmp_path / "link.js").symlink_to(tmp_path / "secret.yaml")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.js").write_text("export {}", encoding="utf-8")
    assets = load_assets(tmp_path)
    assert sorted(assets) == ["a.html", "sub/b.js"]
    assert assets["sub/b.js"].content_type == "text/javascript; charset=utf-8"


async def test_the_profile_of_a_seat_and_of_a_wallboard(client: TestClient):
    spec = client.app[SPEC]
    media = spec["paths"]["/api/v1/workstation/profile"]["get"]["responses"]["200"]["content"]
    schema = {**media["application/json"]["schema"], "components": spec["components"]}
    r = await client.get("/api/v1/workstation/profile", headers={"Authorization": "Bearer seat"})
    assert r.status == 200
    seat = await r.json()
    jsonschema.validate(seat, schema)
    assert (seat["seat"], seat["zone"]) == ("G01", "general") and seat["extension"]
    assert {z["id"] for z in seat["zones"]} >= {"general", "hrss"}
    assert all(z["wrapup_seconds"] >= 0 for z in seat["zones"])
    assert {r["id"] for r in seat["pause_reasons"]} >= {"break", "meal"}
    assert datetime.fromisoformat(seat["today_start"]).utcoffset() is not None
    r = await client.get("/api/v1/workstation/profile", headers={"Authorization": "Bearer wall"})
    wall = await r.json()
    assert r.status == 200 and wall["seat"] is None and wall["seat_name"] == ""
    r = await client.get("/api/v1/workstation/profile")
    assert r.status == 401


def test_a_wallboard_token_names_no_seat(tmp_path: Path):
    path = tmp_path / "secrets.yaml"
    token = add_token(path, Role.SEAT, "大屏", wallboard=True)
    book = TokenBook(path)
    ident = book.identify(token)
    assert ident is not None and ident.role is Role.SEAT and ident.seat is None
    with pytest.raises(ValueError, match="names no seat"):
        add_token(path, Role.SEAT, "x", seat="G01", wallboard=True)
    with pytest.raises(ValueError, match="wallboard"):
        add_token(path, Role.SUPERVISOR, "x", wallboard=True)
    with pytest.raises(ValueError, match="--seat"):
        add_token(path, Role.SEAT, "x")


def test_open_orders_of_the_caller_newest_first(tmp_path: Path):
    cfg = load()
    with migrated_engine(f"sqlite:///{tmp_path / 'store.db'}") as db:
        service = WorkOrderService(db, lambda: cfg)
        seat = Actor("G01", OrderRole.SEAT, seat="G01")
        for hour, linkedid, caller in (
            (1, "a", "13900000001"), (2, "b", "13900000001"), (3, "c", "13900000001"),
            (4, "now", "13900000001"), (5, "d", "13900000002"),
        ):  # fmt: skip
            at = datetime(2026, 12, 1, hour, tzinfo=UTC)
            service.register_call(linkedid, seat="G01", caller_number=caller, answered_at=at)
        service.act("b", seat, Action.CLOSE_ON_SPOT, {"result": "已当场答复"})
        got = open_requests(service, "13900000001", "now", "Asia/Shanghai")
    assert [(r["id"], r["status"]) for r in got] == [("c", "registered"), ("a", "registered")]
    assert got[0]["registered_at"] == "2026-12-01T11:00:00+08:00"  # the site's clock
    assert got[0]["seat"] == "G01" and got[0]["deadline_at"] is None

"""`callcore report` and the reports API on the hand-worked store: the figures, the files
written, staffing; roles; the OpenAPI description stays valid with the endpoints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest_asyncio
import yaml
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from openapi_spec_validator import validate
from openpyxl import load_workbook
from sqlalchemy import Engine

from callcore.api.app import make_app
from callcore.api.auth import TokenBook
from callcore.api.events import EventHub
from callcore.features.reports.api import api as reports_api
from callcore.features.reports.cli import report
from callcore.features.reports.files import report_with_files
from callcore.features.reports.model import resolve_range
from callcore.wiring.services import ApiServices

from .conftest import CFG


def run(store: Engine, *args: str):
    url = store.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(report, ["--db", url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_cli_json_and_files(store: Engine, tmp_path: Path):
    out = run(
        store,
        "show",
        "--day",
        "2025-03-03",
        "--by",
        "zone,seat",
        "--json",
        "--xlsx",
        str(tmp_path / "r.xlsx"),
        "--charts",
        str(tmp_path),
    )
    data = json.loads(out.stdout)
    assert data["total"]["offered"] == 10 and data["total"]["short_abandoned"] == 1
    zones = {r["key"]: r for r in data["groups"]["zone"]}
    assert zones["trunk:tax12366"]["subcentre"] == 1
    assert load_workbook(tmp_path / "r.xlsx").sheetnames == ["汇总", "专区", "座席"]
    assert (tmp_path / "report-zone.png").exists()


def test_cli_table_week_and_range(store: Engine):
    out = run(store, "show", "--week", "2025-03-05", "--by", "day").output
    assert "2025-03-03 ~ 2025-03-09" in out and "最差连续24小时接通率" in out
    out = run(store, "show", "--from", "2025-03-03", "--to", "2025-03-04", "--by", "number")
    assert "12366 税务" in out.output


def test_cli_staffing_and_errors(store: Engine):
    data = json.loads(run(store, "staffing", "--day", "2025-03-03", "--json").stdout)
    row = next(r for r in data["rows"] if (r["slot"], r["zone"]) == ("08:00", "general"))
    assert row["offered"] == 3 and row["needed_a"] >= 1 and row["logged_in"] == 2.0
    url = store.url.render_as_string(hide_password=False)
    bad = CliRunner().invoke(report, ["--db", url, "show", "--day", "2025-13-01"])
    assert bad.exit_code == 2 and "month must be in 1..12" in bad.output
    bad = CliRunner().invoke(report, ["--db", url, "show", "--day", "2025-03-03", "--by", "x"])
    assert bad.exit_code == 2 and "--by" in bad.output


def test_cli_rollups_built_then_kept(store: Engine):
    out = run(store, "rollups", "--from", "2025-03-02", "--to", "2025-03-04").output
    assert out.splitlines() == [f"2025-03-0{d} built" for d in (2, 3, 4)]
    out = run(store, "rollups", "--from", "2025-03-02", "--to", "2025-03-04").output
    assert out.splitlines() == [f"2025-03-0{d} kept" for d in (2, 3, 4)]
    url = store.url.render_as_string(hide_password=False)
    bad = CliRunner().invoke(
        report, ["--db", url, "rollups", "--from", "2025-03-05", "--to", "2025-03-04"]
    )
    assert bad.exit_code == 2 and "is after --to" in bad.output


TOKENS = {
    "sup": {"role": "supervisor", "name": "钱主管"},
    "seat": {"role": "seat", "name": "王芳", "seat": "G01"},
}


@pytest_asyncio.fixture
async def client(store: Engine, tmp_path: Path) -> AsyncIterator[TestClient]:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(yaml.safe_dump({"api_tokens": TOKENS}, allow_unicode=True))
    services = ApiServices(config=lambda: CFG, db=store, hub=EventHub())
    app = make_app(services, TokenBook(secrets), apis=[reports_api])
    c = TestClient(TestServer(app))
    await c.start_server()
    try:
        yield c
    finally:
        await c.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_report_export_chart_staffing(client: TestClient):
    r = await client.get("/api/v1/reports?period=day&day=2025-03-03&by=zone", headers=auth("sup"))
    assert r.status == 200
    data = await r.json()
    assert data["total"]["answered"] == 7 and data["worst_24h"]["answered"] == 7
    r = await client.get(
        "/api/v1/reports/export?day=2025-03-03&by=zone,number&format=xlsx", headers=auth("sup")
    )
    assert r.status == 200 and (await r.read())[:2] == b"PK"
    r = await client.get(
        "/api/v1/reports/export?day=2025-03-03&by=zone&format=csv", headers=auth("sup")
    )
    body = await r.read()
    assert body.startswith(b"\xef\xbb\xbf") and "综合服务区,7" in body.decode("utf-8-sig")
    r = await client.get("/api/v1/reports/chart?day=2025-03-03&chart=zone", headers=auth("sup"))
    assert r.status == 200 and r.content_type == "image/png"
    r = await client.get(
        "/api/v1/reports/chart?day=2025-03-03&chart=satisfaction", headers=auth("sup")
    )
    assert r.status == 200 and r.content_type == "image/png"  # the ratings give it
    r = await client.get("/api/v1/reports/staffing?day=2025-03-03", headers=auth("sup"))
    assert r.status == 200 and (await r.json())["kind"] == "observed"


async def test_api_roles_and_bad_queries(client: TestClient):
    assert (await client.get("/api/v1/reports?day=2025-03-03")).status == 401
    r = await client.get("/api/v1/reports?day=2025-03-03", headers=auth("seat"))
    assert r.status == 403
    r = await client.get("/api/v1/reports?day=2025-03-03&interval=20", headers=auth("sup"))
    assert r.status == 400 and (await r.json())["error"] == "bad_query"
    r = await client.get(
        "/api/v1/reports?period=range&start=2025-03-04&end=2025-03-03", headers=auth("sup")
    )
    assert r.status == 400 and (await r.json())["error"] == "bad_range"
    spec = await (await client.get("/openapi.json")).json()
    validate(spec)
    assert "/api/v1/reports/staffing" in spec["paths"]


def test_report_with_files_writes_the_xlsx_and_charts(service, tmp_path: Path):
    day = resolve_range("day", CFG.site.timezone, date(2025, 3, 3))
    rep, files = report_with_files(service, day, tmp_path / "out", ("zone", "number"), name="d")
    assert rep.total.figures["offered"] == 10
    assert [p.name for p in files] == ["d.xlsx", "report-zone.png"]
    assert load_workbook(files[0]).sheetnames == ["汇总", "专区", "号码"]
    assert files[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""`callcore request` on each database: list, show, act (the lifecycle's rules and words),
export and figures, Chinese by default and English on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcore.commands import Context
from callcore.features.workorders.cli import request_group
from callcore.features.workorders.service import WorkOrderService
from callcore.store.db import make_engine, upgrade

from .conftest import SEAT, TZ

FORM = {"content": "路灯不亮", "type": "投诉", "district": "tinghu"}


def run(home: Path, url: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(
        request_group, list(args), obj=Context(str(home), None), env={"CALLCORE_DB_URL": url}
    )
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def orders(url: str, site) -> WorkOrderService:  # type: ignore[no-untyped-def]
    upgrade(url)
    service = WorkOrderService(make_engine(url), lambda: site)
    for lid in ("L-a", "L-b"):
        service.register_call(lid, seat="G01", caller_number="13800001111", hotline="12345")
    return service


def test_list_show_act_export_and_figures(orders: WorkOrderService, url: str, tmp_path: Path):
    home = tmp_path / "home"
    listed = run(home, url, "list")
    assert listed.splitlines()[0].startswith("工单号  状态") and "已受理" in listed
    assert "registered" in run(home, url, "list", "--lang", "en")
    refused = run(home, url, "act", "L-a", "dispatch", "--lead", "renshe", code=2)
    assert "不能派单" in refused and "诉求内容" in refused
    orders.complete("L-a", SEAT, FORM)
    sent = json.loads(run(home, url, "act", "L-a", "dispatch", "--lead", "renshe"))
    assert sent["state"] == "dispatched" and sent["lead_unit"] == "renshe"
    bad = run(home, url, "act", "L-a", "reply", "--result", "x", code=2)
    assert "L-a" in bad and "已派单" in bad and "催办" in bad  # names state and what is allowed
    signed = run(home, url, "act", "L-a", "sign", "--role", "department", "--unit", "renshe",
                 "--by", "人社局")  # fmt: skip
    assert json.loads(signed)["state"] == "signed"
    shown = run(home, url, "show", "L-a")
    assert "签收" in shown and "人社局(renshe)" in shown and "派单" in shown
    assert len(json.loads(run(home, url, "show", "L-a", "--json"))["history"]) == 4
    assert [
        r.split()[0] for r in run(home, url, "list", "--status", "signed").splitlines()[1:]
    ] == ["L-a"]
    assert "没有工单" in run(home, url, "show", "nope", code=2)

    day = orders.now().astimezone(TZ).date().isoformat()
    out = run(home, url, "export", "--day", day, "--out", str(tmp_path / "out"))
    assert "2 条工单" in out and (tmp_path / "out" / f"workorders-{day}.csv").exists()
    figs = json.loads(run(home, url, "figures", "--json"))
    assert [(f["key"], f["dispatched"], f["open"]) for f in figs["units"]] == [("renshe", 1, 1)]
    assert "按单位" in run(home, url, "figures") and "by unit" in run(
        home, url, "figures", "--lang", "en"
    )

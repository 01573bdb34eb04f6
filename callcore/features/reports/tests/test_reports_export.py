"""Exports read back: the xlsx (openpyxl) holds the report's numbers under Chinese
headers, one sheet per grouping; the CSV starts with a byte-order mark; JSON round-trips;
the charts are PNGs drawn with a CJK font."""

from __future__ import annotations

import csv
import json
import subprocess
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from callcore.features.reports import charts, export
from callcore.features.reports.model import resolve_range
from callcore.features.reports.service import ReportService

from .conftest import CFG

DAY = resolve_range("day", CFG.site.timezone, date(2025, 3, 3))


@pytest.fixture
def report(service: ReportService):
    return service.report(DAY, ["interval", "zone", "number", "seat"])


def test_xlsx_holds_the_same_numbers(report, tmp_path: Path):
    path = export.to_xlsx(report, tmp_path / "r.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["汇总", "时段", "专区", "号码", "座席"]
    zones = wb["专区"]
    header = [c.value for c in zones[1]]
    assert header[:4] == ["项目", "呼入量", "人工接通量", "放弃量"]
    assert "15秒接通率" in header and "人工应答及时率" in header and "暂停:就餐(分钟)" in header
    col = {h: i for i, h in enumerate(header)}
    rows = {r[0]: r for r in zones.iter_rows(min_row=2, values_only=True)}
    fig = {r.label: r.figures for r in report.groups["zone"]}
    for label, values in fig.items():
        got = rows[label]
        for fid, head in report.columns():
            want = values[fid]
            if want is None:
                assert got[col[head]] is None, (label, fid)
            else:
                assert got[col[head]] == pytest.approx(want, abs=1e-3), (label, fid)
    assert rows["综合服务区"][col["呼入量"]] == 7
    assert rows["总计"][col["呼入量"]] == 10
    summary = {r[0]: r for r in wb["汇总"].iter_rows(values_only=True) if r and r[0]}
    assert summary["最差连续24小时接通率"][1] == pytest.approx(0.7)  # the whole day
    assert "暂无数据来源的指标" not in summary  # every figure has its source
    # the sources' figures, by hand (test_reports_figures): total and the general zone
    total, general = rows["总计"], rows["综合服务区"]
    assert total[col["评价率"]] == pytest.approx(5 / 6, abs=1e-3)
    assert total[col["满意率"]] == pytest.approx(3 / 5, abs=1e-3)
    assert total[col["质检平均分"]] == pytest.approx(160 / 3, abs=1e-3)
    assert total[col["1小时内回拨率"]] == pytest.approx(1 / 3, abs=1e-3)
    assert total[col["24小时内回拨率"]] == pytest.approx(2 / 3, abs=1e-3)
    assert general[col["满意率"]] == pytest.approx(1 / 3, abs=1e-3)
    assert general[col["质检平均分"]] == pytest.approx(80, abs=1e-3)
    seats = {r[0]: r for r in wb["座席"].iter_rows(min_row=2, values_only=True)}
    seat_col = {h: i for i, h in enumerate(c.value for c in wb["座席"][1])}
    assert seats["G01 王芳"][seat_col["质检平均分"]] == pytest.approx(90, abs=1e-3)
    assert wb["专区"].cell(2, col["15秒接通率"] + 1).number_format == "0.00%"


def test_csv_has_a_bom_and_the_numbers(report, tmp_path: Path):
    paths = export.write_csv(report, tmp_path)
    zone = tmp_path / "report-zone.csv"
    assert zone in paths and zone.read_bytes().startswith(b"\xef\xbb\xbf")
    with zone.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][1] == "呼入量"
    by_label = {r[0]: r for r in rows[1:]}
    assert by_label["12366税务分中心"][1] == "1"
    assert float(by_label["总计"][rows[0].index("接通率")]) == pytest.approx(0.7)


def test_json_round_trips(report):
    data = json.loads(export.to_json(report))
    assert data["total"]["offered"] == 10 and data["range"]["label"] == "2025-03-03"
    assert data["groups"]["zone"][0]["key"] in {"general", "hrss", "tax", "trunk:tax12366"}
    assert data["absent"] == [] and data["total"]["qa_avg"] == pytest.approx(160 / 3)


def test_charts_are_pngs(report, tmp_path: Path):
    paths = charts.write_charts(report, tmp_path)
    assert {p.name for p in paths} == {"report-interval.png", "report-zone.png"}
    for p in paths:
        assert p.read_bytes().startswith(b"\x89PNG")
    zh_fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    assert (charts.cjk_font() is not None) == bool(zh_fonts.strip())

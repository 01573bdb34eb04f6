"""A report as the files people use: xlsx (Chinese headers, one sheet per grouping and a
summary sheet), CSV (UTF-8 with a byte-order mark, so Excel reads the Chinese), JSON.

Shares are written as numbers with a percentage format in xlsx and as fractions in CSV
and JSON; a figure with no value (no calls, or no source for it today) is an empty cell.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from .model import FIGURES, GROUPING_LABELS, Grouping, Report, Row

_UNITS = {f.id: f.unit for f in FIGURES}
_FORMATS = {"share": "0.00%", "seconds": "0.0", "minutes": "0.0", "score": "0.00"}
SUMMARY = {"zh": "汇总", "en": "summary"}


def _words(report: Report) -> dict[str, str]:
    zh = report.lang == "zh"
    return {
        "key": "项目" if zh else "group",
        "range": "统计区间" if zh else "range",
        "worst": "最差连续24小时接通率" if zh else "worst continuous 24 h connection rate",
        "from": "起" if zh else "from",
        "to": "止" if zh else "to",
        "absent": "暂无数据来源的指标" if zh else "figures with no source yet",
        "generated": "生成时间" if zh else "generated",
    }


def _cell(fid: str, value: Any) -> Any:
    if value is None:
        return None
    if _UNITS.get(fid, "minutes") in ("seconds", "minutes", "score") and isinstance(value, float):
        return round(value, 3)
    return value


def _sheet_rows(report: Report, rows: Iterable[Row]) -> list[list[Any]]:
    cols = report.columns()
    return [[r.label, *[_cell(fid, r.figures.get(fid)) for fid, _h in cols]] for r in rows]


def grouping_title(grouping: str, lang: str) -> str:
    zh, en = GROUPING_LABELS[Grouping(grouping)]
    return zh if lang == "zh" else en


def to_xlsx(report: Report, path: Path) -> Path:
    """One sheet per grouping (its rows, then the total), and a summary sheet."""
    wb = Workbook()
    summary = wb.active
    summary.title = SUMMARY[report.lang]
    w = _words(report)
    cols = report.columns()
    summary.append([w["range"], report.range.label()])
    worst = report.worst24
    if worst is not None:
        summary.append([w["worst"], worst.rate, f"{w['from']} {worst.start:%Y-%m-%d %H:%M:%S}",
                        f"{w['to']} {worst.end:%Y-%m-%d %H:%M:%S}"])  # fmt: skip
        summary.cell(summary.max_row, 2).number_format = _FORMATS["share"]
    if report.absent:
        headers = dict(cols)
        summary.append([w["absent"], "、".join(headers[f] for f in report.absent)])
    summary.append([w["generated"], f"{report.generated_at:%Y-%m-%d %H:%M:%S %Z}"])
    summary.append([])
    _table(summary, report, [report.total])
    for grouping, rows in report.groups.items():
        ws = wb.create_sheet(grouping_title(grouping, report.lang))
        _table(ws, report, [*rows, report.total])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _table(ws: Any, report: Report, rows: list[Row]) -> None:
    cols = report.columns()
    first = ws.max_row + 1 if ws.max_row > 1 else 1
    ws.append([_words(report)["key"], *[h for _f, h in cols]])
    for cell in ws[first]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for values in _sheet_rows(report, rows):
        ws.append(values)
        for i, (fid, _h) in enumerate(cols, start=2):
            fmt = _FORMATS.get(_UNITS.get(fid, "minutes"))
            if fmt:
                ws.cell(ws.max_row, i).number_format = fmt
    ws.column_dimensions["A"].width = 24
    for i in range(2, len(cols) + 2):
        ws.column_dimensions[get_column_letter(i)].width = 12
    ws.freeze_panes = ws.cell(first + 1, 2)


def to_csv(report: Report, grouping: str | None = None) -> str:
    """One grouping's rows and the total (or the total alone), as CSV text; write it with
    `write_csv` (or encode as "utf-8-sig") so Excel opens it in UTF-8."""
    rows = [*report.groups.get(grouping, []), report.total] if grouping else [report.total]
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow([_words(report)["key"], *[h for _f, h in report.columns()]])
    out.writerows(_sheet_rows(report, rows))
    return buf.getvalue()


def write_csv(report: Report, folder: Path) -> list[Path]:
    """One CSV per grouping (and one of the total), UTF-8 with a byte-order mark."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for grouping in [*report.groups, None]:
        name = f"report-{grouping or 'total'}.csv"
        path = folder / name
        path.write_text(to_csv(report, grouping), encoding="utf-8-sig", newline="")
        paths.append(path)
    return paths


def to_json(report: Report) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=1)

"""PNG charts of a report (matplotlib, Agg: no display, safe in a worker thread): calls and
SL15 per interval, per zone, and satisfaction per week when a source gives it.

Chinese labels need a CJK font: the first installed of `CJK_FONTS` is used
(scripts/install-deps.sh installs WenQuanYi Micro Hei when the machine has none); without
one the chart is still drawn and `cjk_font()` returns None, so callers can say so.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .model import Report, Row

log = logging.getLogger(__name__)

CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
)


@cache
def cjk_font() -> str | None:
    """The first CJK font matplotlib can use, or None."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    found = next((n for n in CJK_FONTS if n in names), None)
    if found is None:
        log.warning("no CJK font found (fc-list :lang=zh): chart labels may not show")
    return found


def _rc() -> dict[str, object]:
    """Settings to draw with (fonts are looked up when the figure is drawn)."""
    font = cjk_font()
    return {
        "font.sans-serif": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
        "axes.unicode_minus": False,
    }


def _figure(width: float = 11.0, height: float = 4.8) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _text(report: Report, zh: str, en: str) -> str:
    return zh if report.lang == "zh" else en


def _bars_and_sl(report: Report, rows: list[Row], title: str, path: Path, step: int) -> Path:
    with matplotlib.rc_context(_rc()):
        fig = _figure()
        ax = fig.add_subplot()
        x = list(range(len(rows)))
        offered = [r.figures["offered"] for r in rows]
        answered = [r.figures["answered"] for r in rows]
        ax.bar(x, offered, color="#c9d6e8", label=_text(report, "呼入量", "offered"))
        ax.bar(
            x, answered, width=0.5, color="#3b6fb6", label=_text(report, "人工接通量", "answered")
        )
        ax.set_ylabel(_text(report, "通话数", "calls"))
        one_day = report.range.kind == "day"
        labels = [r.label[11:] if one_day and len(r.label) == 16 else r.label for r in rows]
        ax.set_xticks(x[::step], labels[::step], rotation=45, ha="right", fontsize=8)
        sl_ax = ax.twinx()
        sl = [r.figures["sl15"] * 100 if r.figures["sl15"] is not None else None for r in rows]
        sl_ax.plot(
            x,
            [v if v is not None else float("nan") for v in sl],
            color="#d9822b",
            marker="o",
            markersize=3,
            label="SL15",
        )
        target = report.targets.sl_target * 100
        sl_ax.axhline(target, color="#d9822b", linestyle="--", linewidth=0.8)
        sl_ax.set_ylim(0, 105)
        sl_ax.set_ylabel(_text(report, "15秒接通率 (%)", "SL15 (%)"))
        handles = ax.get_legend_handles_labels()
        more = sl_ax.get_legend_handles_labels()
        ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
        ax.set_title(f"{title}  {report.range.label()}")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    return path


def calls_per_interval(report: Report, path: Path) -> Path | None:
    rows = report.groups.get("interval")
    if not rows:
        return None
    step = max(1, len(rows) // 24)
    title = _text(
        report,
        f"各时段话务与15秒接通率（{report.interval}分钟）",
        f"Calls and SL15 per {report.interval} min",
    )
    return _bars_and_sl(report, rows, title, path, step)


def calls_per_zone(report: Report, path: Path) -> Path | None:
    rows = [r for r in report.groups.get("zone", []) if r.figures["offered"]]
    if not rows:
        return None
    return _bars_and_sl(
        report, rows, _text(report, "各专区话务与15秒接通率", "Calls and SL15 per zone"), path, 1
    )


def satisfaction_per_week(report: Report, path: Path) -> Path | None:
    """Only when a rating source gives satisfaction (None otherwise: nothing to draw)."""
    rows = [r for r in report.groups.get("week", []) if r.figures.get("satisfaction") is not None]
    if not rows or "satisfaction" in report.absent:
        return None
    with matplotlib.rc_context(_rc()):
        fig = _figure(8, 4)
        ax = fig.add_subplot()
        ax.plot(
            [r.label for r in rows], [r.figures["satisfaction"] * 100 for r in rows], marker="o"
        )
        ax.set_ylim(0, 105)
        ax.set_ylabel(_text(report, "满意率 (%)", "satisfaction (%)"))
        ax.set_title(_text(report, "每周满意率", "Satisfaction per week"))
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    return path


CHARTS = {
    "interval": calls_per_interval,
    "zone": calls_per_zone,
    "satisfaction": satisfaction_per_week,
}


def write_charts(report: Report, folder: Path) -> list[Path]:
    """Every chart the report has data for, as report-<name>.png in `folder`."""
    out = []
    for name, draw in CHARTS.items():
        path = draw(report, folder / f"report-{name}.png")
        if path is not None:
            out.append(path)
    return out

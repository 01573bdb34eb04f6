"""A report with its files: the xlsx and the charts written together (the demo's own
report of its run; synchronous, so callers on an event loop run it in a thread)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from . import charts, export
from .model import Range, Report
from .service import ReportService


def report_with_files(
    svc: ReportService,
    rng: Range,
    folder: Path,
    groupings: Sequence[str] = ("zone", "number", "interval"),
    interval: int = 15,
    name: str = "report",
) -> tuple[Report, list[Path]]:
    """The range's report, `<name>.xlsx` and its charts (report-<chart>.png) in `folder`."""
    rep = svc.report(rng, groupings, interval)
    folder.mkdir(parents=True, exist_ok=True)
    return rep, [export.to_xlsx(rep, folder / f"{name}.xlsx"), *charts.write_charts(rep, folder)]

"""The reports over the HTTP API (supervisors and up): figures as JSON, the exports as
files, charts as PNG, staffing. The work runs in a thread (`asyncio.to_thread`): a month
of calls must not hold the event loop."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import field_validator

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role

from . import charts, export
from .model import Grouping, Range, resolve_range
from .service import ReportService

api = Api("reports", "Reports for managers: figures over any range, exports, charts, staffing.")


def _minutes(v: int) -> int:
    if v not in (15, 30, 60):
        raise ValueError("use 15, 30 or 60")
    return v


class RangeQuery(Model):
    period: Literal["day", "week", "month", "range"] = "day"
    day: date | None = None  # the day (or a day of the week or month)
    start: str | None = None  # for a range: a day, or an ISO time
    end: str | None = None  # a day (inclusive) or an ISO time (exclusive)
    by: str = "interval,zone,number"  # groupings: interval, day, week, number, unit, zone, seat
    interval: int = 30  # minutes: 15, 30 or 60
    lang: Literal["zh", "en"] | None = None

    _interval = field_validator("interval")(_minutes)

    @field_validator("by")
    @classmethod
    def _by(cls, v: str) -> str:
        for g in v.split(","):
            if g.strip() and g.strip() not in {x.value for x in Grouping}:
                raise ValueError(f"unknown grouping {g.strip()!r}")
        return v

    def groupings(self) -> list[Grouping]:
        return [Grouping(g.strip()) for g in self.by.split(",") if g.strip()]


class ExportQuery(RangeQuery):
    format: Literal["xlsx", "csv", "json"] = "xlsx"
    grouping: str | None = None  # csv: which grouping's rows (default: the first asked for)


class ChartQuery(RangeQuery):
    chart: Literal["interval", "zone", "satisfaction"] = "interval"


class StaffingQuery(Model):
    day: date
    forecast: bool = False
    weeks: int = 4
    interval: int = 30

    _interval = field_validator("interval")(_minutes)


class ReportOut(Model):
    """A report: its range, targets, the total, each grouping's rows, the worst 24 h."""

    range: dict[str, Any]
    interval_minutes: int
    targets: dict[str, Any]
    total: dict[str, Any]
    groups: dict[str, list[dict[str, Any]]]
    worst_24h: dict[str, Any] | None
    absent: list[str]
    generated_at: str


class StaffingOut(Model):
    """Seats needed (Erlang C and A) per interval and zone, beside those logged in."""

    day: str
    interval_minutes: int
    kind: str
    based_on: list[str]
    zones: dict[str, dict[str, Any]]
    rows: list[dict[str, Any]]


def _service(req: ApiRequest) -> ReportService:
    return ReportService(req.services.db, req.services.config)


def _range(req: ApiRequest, q: RangeQuery) -> Range:
    tz = req.services.config().site.timezone

    def when(text: str | None) -> date | datetime | None:
        if text is None:
            return None
        return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)

    day = q.day or datetime.now(ZoneInfo(tz)).date()  # no day given: today, as a manager means
    try:
        return resolve_range(q.period, tz, day, when(q.start), when(q.end))
    except ValueError as exc:
        raise ApiError(400, "bad_range", str(exc)) from None


async def _report(req: ApiRequest, q: RangeQuery):
    rng = _range(req, q)
    return await asyncio.to_thread(_service(req).report, rng, q.groupings(), q.interval, q.lang)


@api.get(
    "/api/v1/reports", role=Role.SUPERVISOR, query=RangeQuery, response=ReportOut, errors=(400,)
)
async def get_report(req: ApiRequest) -> ReportOut:
    """Figures of the calls that arrived in a range, in total and per grouping."""
    rep = await _report(req, req.query)
    return ReportOut.model_validate(rep.as_dict())


_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
    "json": "application/json",
}


def _file(body: bytes, kind: str, name: str) -> web.Response:
    return web.Response(
        body=body,
        content_type=_TYPES.get(kind, "image/png"),
        charset="utf-8" if kind in ("csv", "json") else None,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _xlsx_bytes(rep: Any) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        return export.to_xlsx(rep, Path(d) / "report.xlsx").read_bytes()


@api.get(
    "/api/v1/reports/export",
    role=Role.SUPERVISOR,
    query=ExportQuery,
    content_type="application/octet-stream",
    errors=(400,),
)
async def export_report(req: ApiRequest) -> web.Response:
    """The report as a file: xlsx (one sheet per grouping), CSV (UTF-8 with BOM) or JSON."""
    q: ExportQuery = req.query
    rep = await _report(req, q)
    name = f"report-{rep.range.start:%Y%m%d}"
    if q.format == "xlsx":
        return _file(await asyncio.to_thread(_xlsx_bytes, rep), "xlsx", f"{name}.xlsx")
    if q.format == "csv":
        grouping = q.grouping or next(iter(rep.groups), None)
        if grouping is not None and grouping not in rep.groups:
            raise ApiError(400, "bad_grouping", f"{grouping!r} is not one of the groupings")
        return _file(export.to_csv(rep, grouping).encode("utf-8-sig"), "csv", f"{name}.csv")
    return _file(export.to_json(rep).encode(), "json", f"{name}.json")


def _chart_bytes(rep: Any, chart: str) -> bytes | None:
    with tempfile.TemporaryDirectory() as d:
        path = charts.CHARTS[chart](rep, Path(d) / "chart.png")
        return path.read_bytes() if path is not None else None


@api.get(
    "/api/v1/reports/chart",
    role=Role.SUPERVISOR,
    query=ChartQuery,
    content_type="image/png",
    errors=(400, 404),
)
async def report_chart(req: ApiRequest) -> web.Response:
    """A chart as PNG: calls and SL15 per interval or per zone, satisfaction per week."""
    q: ChartQuery = req.query
    needs = {"interval": "interval", "zone": "zone", "satisfaction": "week"}[q.chart]
    if needs not in q.by.split(","):
        q = q.model_copy(update={"by": f"{q.by},{needs}"})
    rep = await _report(req, q)
    png = await asyncio.to_thread(_chart_bytes, rep, q.chart)
    if png is None:
        raise ApiError(404, "no_data", f"nothing to draw for {q.chart} in {rep.range.label()}")
    return _file(png, "png", f"report-{q.chart}.png")


@api.get(
    "/api/v1/reports/staffing", role=Role.SUPERVISOR, query=StaffingQuery, response=StaffingOut
)
async def report_staffing(req: ApiRequest) -> StaffingOut:
    """Seats needed per interval and zone (Erlang C and A) for the site's targets, from the
    day's traffic or a forecast from the same weekday, beside the seats logged in."""
    q: StaffingQuery = req.query
    svc = _service(req)
    if q.forecast:
        s = await asyncio.to_thread(svc.forecast, q.day, q.weeks, q.interval)
    else:
        s = await asyncio.to_thread(svc.staffing, q.day, q.interval)
    return StaffingOut.model_validate(s.as_dict())

"""The workstation's files (`/workstation/…`) and the profile the page starts from.

The files are public: they hold no data, and the page asks for a token before it reads
anything. Every reply carries an ETag and `Cache-Control: no-cache`, so a browser keeps
its copy but checks it on each load (the files have no versioned names, an upgrade must
show at the next reload), plus headers that keep the page from being framed or sniffed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.workstation.assets import load
from queues.stats import day_start

api = Api(
    "workstation",
    "The seat workstation (坐席工作台) and the wallboard, served as static files, and the "
    "profile the workstation starts from.",
)
ASSETS = load()
SECURITY = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}


@api.get("/workstation/{path:.*}", role=None, content_type="text/html", errors=(404,))
async def workstation_file(req: ApiRequest) -> web.StreamResponse:
    """A file of the workstation: `/workstation/` is the seat's page, `wallboard.html` the
    wall screen's; scripts and styles beside them."""
    name = req.path.get("path", "") or "index.html"
    asset = ASSETS.get(name)
    if asset is None:
        raise ApiError(404, "not_found", f"no workstation file {name!r}")
    headers = {**SECURITY, "ETag": asset.etag}
    if asset.etag in _etags(req.request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, headers={**headers, "Content-Type": asset.content_type})


def _etags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


class ZoneOut(Model):
    id: str
    name: str
    queue: str
    wrapup_seconds: int


class ReasonOut(Model):
    id: str
    code: str
    name: str


class HotlineOut(Model):
    number: str
    name: str
    zone: str


class ProfileOut(Model):
    """The seat of the token (none for a wallboard token) and the site's names."""

    seat: str | None
    seat_name: str
    extension: str
    zone: str
    site: str
    timezone: str  # the site's: the page shows times on its clock
    today_start: datetime  # local midnight in the site's time zone: "the seat's calls today"
    zones: list[ZoneOut]
    pause_reasons: list[ReasonOut]
    hotlines: list[HotlineOut]


@api.get("/api/v1/workstation/profile", role=Role.SEAT, response=ProfileOut)
async def workstation_profile(req: ApiRequest) -> ProfileOut:
    """Who the token is and what the page shows names for: zones (with their wrap-up
    time), pause reasons, hotlines."""
    cfg = req.services.config()
    seat_id = req.identity.seat if req.identity is not None else None
    seat = cfg.seat(seat_id) if seat_id else None
    return ProfileOut(
        seat=seat.id if seat else None,
        seat_name=seat.name if seat else "",
        extension=seat.extension if seat else "",
        zone=seat.zone if seat else "",
        site=cfg.site.name,
        timezone=cfg.site.timezone,
        today_start=day_start(datetime.now(UTC), cfg.site.timezone),
        zones=[
            ZoneOut(id=z.id, name=z.name, queue=z.queue, wrapup_seconds=z.wrapup_seconds)
            for z in cfg.zones
        ],
        pause_reasons=[ReasonOut(id=r.id, code=r.code, name=r.name) for r in cfg.pause_reasons],
        hotlines=[
            HotlineOut(number=h.number, name=h.name, zone=h.zone or "") for h in cfg.hotlines
        ],
    )

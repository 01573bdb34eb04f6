"""The floor as it is now: queues, waiting callers, seats and the service figures.

Everything live is read from Redis through `Snapshot` (the same read the monitor makes),
so the API and `callcore monitor --once --json` show the same thing. `/api/v1/figures`
can also compute the figures from the store (`source=store`): the reference the live
figures are checked against, and what is left when Redis is down.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Literal

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.live.snapshot import (
    FiguresOut,
    QueueView,
    SeatView,
    Snapshot,
    WaitingCaller,
    WindowFigures,
)
from callcore.store import db
from queues.stats import Figures, day_start, windows

api = Api("live", "Queues, waiting callers, seats and the service figures, live from Redis.")


async def _snapshot(req: ApiRequest) -> Snapshot:
    return await req.services.need("live").snapshot()


def _require_live(snap: Snapshot) -> None:
    if not snap.available:
        raise ApiError(
            503,
            snap.problem or "unavailable",
            f"live figures are unavailable: {snap.detail or snap.problem}",
        )


@api.get("/api/v1/snapshot", role=Role.SUPERVISOR, response=Snapshot, errors=(503,))
async def get_snapshot(req: ApiRequest) -> Snapshot:
    """Everything the monitor shows, as `callcore monitor --once --json` prints it.

    When live figures are unavailable it still answers (200) with `available: false` and
    the `problem`, as the monitor does.
    """
    return await _snapshot(req)


class QueuesOut(Model):
    """Queues with their figures; waiting callers (for supervisors)."""

    at: float
    queues: list[QueueView]
    waiting: list[WaitingCaller]


@api.get("/api/v1/queues", role=Role.SEAT, response=QueuesOut, errors=(503,))
async def list_queues(req: ApiRequest) -> QueuesOut:
    """Every queue (zone queues and the sub-centre trunk) with waiting callers and figures.

    Seat tokens get the figures without the list of waiting callers (numbers are personal).
    """
    snap = await _snapshot(req)
    _require_live(snap)
    waiting = [] if req.own_seat_only() is not None else snap.waiting
    return QueuesOut(at=snap.at, queues=snap.queues, waiting=waiting)


class QueueOut(Model):
    """One queue and the callers waiting in it."""

    at: float
    queue: QueueView
    waiting: list[WaitingCaller]


@api.get("/api/v1/queues/{queue}", role=Role.SEAT, response=QueueOut, errors=(404, 503))
async def get_queue(req: ApiRequest) -> QueueOut:
    """One queue by name (e.g. q-general, trunk:tax12366) or by zone id (e.g. general)."""
    snap = await _snapshot(req)
    _require_live(snap)
    name = req.path["queue"]
    q = next((q for q in snap.queues if name in (q.queue, q.zone)), None)
    if q is None:
        raise ApiError(404, "unknown_queue", f"no queue {name!r}")
    waiting = [w for w in snap.waiting if w.queue == q.queue]
    if req.own_seat_only() is not None:
        waiting = []
    return QueueOut(at=snap.at, queue=q, waiting=waiting)


class SeatsOut(Model):
    """Every seat's state, and how many seats are in each state."""

    at: float
    seats: list[SeatView]
    seat_states: dict[str, int]


@api.get("/api/v1/seats", role=Role.SUPERVISOR, response=SeatsOut, errors=(503,))
async def list_seats(req: ApiRequest) -> SeatsOut:
    """All seats with state, reason, since when, and the call they are on."""
    snap = await _snapshot(req)
    _require_live(snap)
    return SeatsOut(at=snap.at, seats=snap.seats, seat_states=snap.seat_states)


@api.get("/api/v1/seats/{seat}", role=Role.SEAT, response=SeatView, errors=(404, 503))
async def get_seat(req: ApiRequest) -> SeatView:
    """One seat's state; a seat token may read its own seat only."""
    seat = req.path["seat"]
    own = req.own_seat_only()
    if own is not None and own != seat:
        raise ApiError(403, "forbidden", "a seat token may read its own seat only")
    snap = await _snapshot(req)
    _require_live(snap)
    s = next((s for s in snap.seats if s.seat == seat), None)
    if s is None:
        raise ApiError(404, "unknown_seat", f"no seat {seat!r}")
    return s


class FiguresQuery(Model):
    source: Literal["auto", "live", "store"] = "auto"


class FiguresReport(Model):
    """Figures per window for the whole centre, per queue and per directory number."""

    at: float
    source: Literal["live", "store"]
    live_available: bool
    totals: WindowFigures
    queues: dict[str, WindowFigures]
    numbers: dict[str, WindowFigures]


def _window_figures(per_window: dict, grouping: str, key: str) -> WindowFigures:
    return WindowFigures(
        **{
            w: FiguresOut.of(per_window[w][grouping].get(key) or Figures())
            for w in ("today", "m15", "m60")
        }
    )


@api.get(
    "/api/v1/figures", role=Role.SEAT, query=FiguresQuery, response=FiguresReport, errors=(503,)
)
async def get_figures(req: ApiRequest) -> FiguresReport:
    """Service figures (docs/figures.md) for today and the rolling 15 and 60 minutes.

    `source=live` reads Redis (503 when unavailable); `store` computes them from the stored
    calls with the same definitions; `auto` (default) is live when available, else store.
    """
    source = req.query.source
    snap = None
    if source != "store":
        snap = await _snapshot(req)
        if snap.available and snap.totals is not None:
            return FiguresReport(
                at=snap.at,
                source="live",
                live_available=True,
                totals=snap.totals,
                queues={q.queue: q.figures for q in snap.queues},
                numbers={n.number: n.figures for n in snap.numbers},
            )
        if source == "live":
            _require_live(snap)
    cfg = req.services.config()
    now = time.time()
    at = datetime.fromtimestamp(now, UTC)
    since = min(day_start(at, cfg.site.timezone), at - timedelta(minutes=61))
    records = await asyncio.to_thread(db.query_calls, req.services.db, since)
    per = windows(records, at, cfg.site.timezone, cfg.site.targets.answer_seconds)
    routes = [z.queue for z in cfg.zones] + [
        f"trunk:{t.id}" for t in cfg.trunks if t.id != cfg.carrier_trunk
    ]
    seen = per["today"]["number"].keys() | per["m60"]["number"].keys()
    numbers = [h.number for h in cfg.hotlines if h.number in seen]
    if "" in seen:
        numbers.append("")
    return FiguresReport(
        at=now,
        source="store",
        live_available=bool(snap and snap.available),
        totals=_window_figures(per, "all", ""),
        queues={q: _window_figures(per, "queue", q) for q in routes},
        numbers={n: _window_figures(per, "number", n) for n in numbers},
    )

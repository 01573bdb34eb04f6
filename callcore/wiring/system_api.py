"""Health and metrics: what load balancers, Prometheus and operators poll.

Both are public (no token), so probes and scrapers need no secret; neither says anything
about a caller. `/healthz` answers 200 while calls can be followed (status `ok` or
`degraded`) and 503 when the engine has lost Asterisk (`down`).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pydantic import Field

from callcore.api.registry import Api, ApiRequest, Model, json_response
from callcore.features.live.snapshot import Snapshot

api = Api("system", "Health of the engine's parts and Prometheus metrics.")


class HealthOut(Model):
    """Status of AMI, FastAGI, the database and Redis."""

    status: Literal["ok", "degraded", "down"]
    uptime: float
    ami: dict[str, Any]
    fastagi: dict[str, Any]
    database: dict[str, Any]
    redis: dict[str, Any]
    recordings: dict[str, Any] = Field(default_factory=dict)


@api.get("/healthz", role=None, response=HealthOut, errors=(503,))
async def healthz(req: ApiRequest) -> web.Response:
    """Health: AMI, FastAGI, database (store writer) and Redis (live state).

    `ok`: all up. `degraded`: calls still flow but something is impaired (the database is
    away and records are journaled; Redis is away and live figures are unavailable;
    FastAGI is down and calls route statically; recordings are at risk: the disk is under
    its threshold or the folder cannot be written). `down`: AMI is lost (503).
    """
    h = HealthOut(**req.services.health())
    return json_response(h.model_dump(mode="json"), status=503 if h.status == "down" else 200)


class _Collector:
    def __init__(self, families: list[GaugeMetricFamily]):
        self.families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self.families


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


_FIGURES = (
    "offered",
    "answered",
    "abandoned",
    "timeout",
    "failed",
    "in_progress",
    "answered_within",
    "sl15",
    "answer_rate",
    "avg_wait",
    "max_wait",
    "avg_talk",
)


def metric_families(health: dict[str, Any], snap: Snapshot | None) -> list[GaugeMetricFamily]:
    """The engine's parts first; live figures only when the snapshot has them, so a
    scraper never records stale numbers as current."""
    out = _part_families(health)
    available = _gauge("callcore_live_available", "1 when live figures are available")
    out.append(available)
    if snap is None or not snap.available or snap.totals is None:
        available.add_metric([], 0.0)
        return out
    available.add_metric([], 1.0)
    return out + _floor_families(snap) + _figure_families(snap)


def _part_families(health: dict[str, Any]) -> list[GaugeMetricFamily]:
    """Up or not per part, AMI event and reconnect counts, the store's backlog."""
    up = _gauge("callcore_up", "1 when the part works (ami, fastagi, database, redis)", ["part"])
    for part in ("ami", "fastagi", "database", "redis"):
        up.add_metric([part], 1.0 if health[part].get("status") == "ok" else 0.0)
    out = [up]
    ami = health["ami"]
    if "events" in ami:
        g = _gauge("callcore_ami_events", "AMI events received since start")
        g.add_metric([], ami["events"])
        out.append(g)
        g = _gauge("callcore_ami_reconnects", "AMI reconnections since start")
        g.add_metric([], ami["reconnects"])
        out.append(g)
    db = health["database"]
    if "backlog" in db:
        g = _gauge("callcore_store_backlog", "call records not yet in the database (journaled)")
        g.add_metric([], db["backlog"])
        out.append(g)
    return out


def _floor_families(snap: Snapshot) -> list[GaugeMetricFamily]:
    """Callers waiting and the longest wait per queue; seats per state."""
    waiting = _gauge("callcore_queue_waiting", "callers waiting in the queue", ["queue"])
    longest = _gauge(
        "callcore_queue_longest_wait_seconds", "longest wait so far in the queue", ["queue"]
    )
    for q in snap.queues:
        waiting.add_metric([q.queue], q.waiting)
        longest.add_metric([q.queue], q.longest_wait or 0.0)
    seats = _gauge("callcore_seats", "seats by state", ["state"])
    for state, n in snap.seat_states.items():
        seats.add_metric([state], n)
    return [waiting, longest, seats]


def _figure_families(snap: Snapshot) -> list[GaugeMetricFamily]:
    """One family per figure, labelled by window and scope (the site, a queue, a number);
    figures that are not defined (no calls yet) are left out rather than sent as 0."""
    fams = {
        n: _gauge(
            f"callcore_figure_{n}",
            f"{n} (docs/figures.md) per window (today, m15, m60) and scope",
            ["window", "scope", "key"],
        )
        for n in _FIGURES
    }
    scopes: list[tuple[str, str, Any]] = [("all", "", snap.totals)]
    scopes += [("queue", q.queue, q.figures) for q in snap.queues]
    scopes += [("number", n.number, n.figures) for n in snap.numbers]
    for scope, key, wf in scopes:
        for window in ("today", "m15", "m60"):
            f = getattr(wf, window)
            for n in _FIGURES:
                v = getattr(f, n)
                if v is not None:
                    fams[n].add_metric([window, scope, key], float(v))
    return list(fams.values())


@api.get("/metrics", role=None, content_type="text/plain; version=0.0.4")
async def metrics(req: ApiRequest) -> web.Response:
    """Prometheus metrics: parts up, queue waits, seats by state, the figures per window."""
    services = req.services
    snap = await services.live.snapshot() if services.live is not None else None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(metric_families(services.health(), snap)))  # type: ignore[arg-type]
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": "text/plain; version=0.0.4"}
    )

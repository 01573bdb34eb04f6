"""What endpoints may use: the engine's parts, passed in explicitly.

The engine builds one `ApiServices` and hands it to `make_app`; tests build one from real
parts (a SQLite store, a Redis, no Asterisk). Everything optional may be None, and an
endpoint that needs a missing part answers 503 with `ApiServices.need`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from callcore.api.registry import ApiError
from config.schema import SiteConfig

if TYPE_CHECKING:
    from agi.server import FastAgiServer
    from callcore.ami import AmiSession
    from callcore.api.events import EventHub
    from callcore.features.callsout.handoff import Handoff
    from callcore.features.callsout.service import CallsOut
    from callcore.features.enterprises.service import EnterpriseService
    from callcore.features.guard.service import GuardService
    from callcore.features.knowledge.service import KnowledgeService
    from callcore.features.live.state import LiveState
    from callcore.features.quality.service import QualityService
    from callcore.features.recordings.service import RecordingService
    from callcore.features.supervisors.actions import Supervisor
    from callcore.features.transfers.service import TransferService
    from callcore.features.workorders.intake import WorkOrderIntake
    from callcore.features.workorders.service import WorkOrderService
    from callcore.store.writer import StoreWriter
    from seats.service import SeatService


@dataclass
class ApiServices:
    config: Callable[[], SiteConfig]
    db: Engine  # read side of the store; queries run in a thread
    hub: EventHub
    ami: AmiSession | None = None
    agi: FastAgiServer | None = None
    agi_expected: bool = True  # False when the engine runs with --no-agi on purpose
    writer: StoreWriter | None = None
    live: LiveState | None = None
    supervisor: Supervisor | None = None
    seats: SeatService | None = None
    transfers: TransferService | None = None
    workorders: WorkOrderService | None = None
    intake: WorkOrderIntake | None = None  # the engine's: tells first contact of changes
    enterprises: EnterpriseService | None = None
    guard: GuardService | None = None
    knowledge: KnowledgeService | None = None
    callsout: CallsOut | None = None
    handoff: Handoff | None = None
    quality: QualityService | None = None
    recordings: RecordingService | None = None
    started: float = field(default_factory=time.time)

    def need(self, name: str) -> Any:
        part = getattr(self, name)
        if part is None:
            raise ApiError(503, "unavailable", f"{name} is not available in this process")
        return part

    def health(self) -> dict[str, Any]:
        """AMI, FastAGI, database and Redis, each with a status word and details.

        `status` is `ok` when all are up, `degraded` when calls still flow but something
        is impaired (database journaling, Redis down: live figures unavailable), and `down`
        when the engine cannot follow calls (AMI lost).
        """
        parts: dict[str, dict[str, Any]] = {}
        ami = self.ami
        if ami is None:
            parts["ami"] = {"status": "absent"}
        else:
            parts["ami"] = {
                "status": "ok" if ami.connected else "down",
                "reconnects": ami.stats.reconnects,
                "events": ami.stats.events,
            }
        agi = self.agi
        if agi is None and ami is None:
            parts["fastagi"] = {"status": "absent"}  # an API-only process (callcore api)
        elif agi is None:
            parts["fastagi"] = {
                "status": "off" if not self.agi_expected else "down",
                "note": "calls are routed by the static dialplan",
            }
        else:
            parts["fastagi"] = {
                "status": "ok" if agi.listening else "down",
                "active": agi.active_connections,
                **agi.stats.counters(),
            }
        if self.writer is None:
            parts["database"] = {"status": "absent"}
        else:
            h = self.writer.health()
            parts["database"] = {"status": "ok" if h["database"] == "ok" else "degraded", **h}
        if self.live is None:
            parts["redis"] = {"status": "absent"}
        else:
            h = self.live.health()
            parts["redis"] = {"status": "ok" if h["available"] else "degraded", **h}
        # recordings at risk (disk nearly full, folder unwritable): calls flow on
        parts["recordings"] = (
            {"status": "absent"} if self.recordings is None else self.recordings.health()
        )
        words = {p["status"] for p in parts.values()}
        if parts["ami"]["status"] == "down":
            status = "down"
        elif words <= {"ok", "absent", "off"}:
            status = "ok"
        else:
            status = "degraded"
        return {"status": status, "uptime": round(time.time() - self.started, 1), **parts}

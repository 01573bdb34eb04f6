"""The supervisors' side of an engine: live state in Redis, the HTTP API with its event
stream, and supervisor actions.

The `Engine` makes one `Supervision` and calls `start`, `ami_connected`, `reload_config`
and `stop`; everything else is wired here, so the engine's own file stays about calls.
The live state hangs on the engine's fan-out lists (AMI events, call records); the API
and its event stream run on the engine's loop. Neither Redis nor the API port being
unavailable stops the engine: calls are routed and stored regardless.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine as DbEngine

from callcore.ami import AmiSession
from callcore.api.app import ApiServer, make_app
from callcore.api.auth import TokenBook
from callcore.api.events import EventHub
from callcore.features import live
from callcore.features.calls import present
from callcore.features.live.state import LiveState
from callcore.features.supervisors.actions import Supervisor
from callcore.records import CallRecord
from callcore.store import db
from callcore.wiring.endpoints import APIS
from callcore.wiring.services import ApiServices

if TYPE_CHECKING:
    from callcore.wiring.engine import Engine

log = logging.getLogger("callcore.wiring.supervision")

HISTORY_DAYS = 90  # how far back a screen pop looks for the caller's previous calls
HISTORY_CALLS = 5


class Supervision:
    def __init__(self, engine: Engine):
        self.engine = engine
        inst = engine.inst
        self._db: DbEngine | None = None
        self.hub = EventHub(history=self.previous_calls)
        self.live = LiveState(
            lambda: inst.config,
            live.redis_url(inst),
            live.namespace(inst),
            load_records=self._records_since,
            on_event=self.hub.publish,
            seat_status=engine.floor.board.status,
            degraded=self._degraded,
        )
        self._services: ApiServices | None = None
        # seat operations and states are the seats' own (seats/sessions.py, seats/states.py)
        self.supervisor = Supervisor(
            engine.floor.sessions, lambda: inst.config, engine.writer.submit
        )
        engine.event_handlers += [self.live.handle, self.supervisor.handle]
        engine.record_listeners.append(self.live.on_record)
        engine.floor.change_listeners.append(self.live.on_seat_change)
        self.server: ApiServer | None = None

    @property
    def db(self) -> DbEngine:
        """The store's read side, apart from the writer thread's connection."""
        if self._db is None:
            self._db = db.make_engine(self.engine.inst.db_url)
        return self._db

    def _records_since(self, since: datetime) -> list[CallRecord]:
        return db.query_calls(self.db, since=since)

    async def previous_calls(self, caller: str, exclude: str) -> list[dict[str, Any]]:
        """The caller's latest calls before this one, for a seat's screen pop."""
        since = datetime.now(UTC) - timedelta(days=HISTORY_DAYS)
        records = await asyncio.to_thread(db.query_calls, self.db, since, None, caller)
        tz = self.engine.inst.config.site.timezone
        keep = ("linkedid", "entered_at", "hotline", "hotline_name", "route", "seat", "outcome")
        out = []
        for rec in reversed(records):
            if rec.linkedid == exclude:
                continue
            j = present.call_json(rec, tz)
            out.append({k: j[k] for k in keep})
            if len(out) == HISTORY_CALLS:
                break
        return out

    def _degraded(self) -> dict[str, str]:
        """The parts `/healthz` calls impaired, for the monitor's banner: the database's
        journal backlog, or the part's status word."""
        if self._services is None:
            return {}
        health = self._services.health()
        out = {}
        for part in ("ami", "fastagi", "database"):
            status = health[part]["status"]
            if status not in ("ok", "absent", "off"):
                out[part] = str(health[part].get("backlog", status))
        return out

    async def start(self) -> None:
        inst, cfg = self.engine.inst, self.engine.inst.config
        await self.live.start()
        services = ApiServices(
            config=lambda: inst.config,
            db=self.db,
            hub=self.hub,
            ami=self.engine.ami,
            agi=self.engine.agi,
            agi_expected=self.engine.with_agi,
            writer=self.engine.writer,
            live=self.live,
            supervisor=self.supervisor,
            floor=getattr(self.engine, "floor", None),
        )
        self._services = services
        server = ApiServer(
            make_app(services, TokenBook(inst.secrets_file), APIS), cfg.pbx.bind, cfg.pbx.api_port
        )
        try:
            await server.start()
        except OSError as exc:
            log.error(
                "HTTP API cannot listen on %s:%d (%s); the engine runs without it",
                cfg.pbx.bind,
                cfg.pbx.api_port,
                exc,
            )
            return
        self.server = server

    async def ami_connected(self, ami: AmiSession) -> None:
        """After each AMI login: waiting callers and seat states from QueueStatus."""
        await self.live.rebuild_from_asterisk(ami)

    def reload_config(self) -> None:
        self.live.model.reload_config()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None
        await self.live.close()
        if self._db is not None:
            self._db.dispose()


async def serve_api_only(inst: Any, host: str, port: int) -> None:
    """`callcore api`: the API on another process or node, read-only (no AMI, no writer).

    Queues, seats, figures, snapshots and the event stream come from the site's Redis;
    calls and the audit from the store (`CALLCORE_DB_URL`); supervisor actions and what
    needs the engine answer 503. Runs until cancelled (SIGINT/SIGTERM).
    """
    import signal

    from callcore.features.live.reader import LiveReader

    reader = LiveReader(lambda: inst.config, live.redis_url(inst), live.namespace(inst))
    hub = EventHub()
    store = db.make_engine(inst.db_url)

    async def history(caller: str, exclude: str) -> list[dict[str, Any]]:
        since = datetime.now(UTC) - timedelta(days=HISTORY_DAYS)
        records = await asyncio.to_thread(db.query_calls, store, since, None, caller)
        tz = inst.config.site.timezone
        earlier = [r for r in reversed(records) if r.linkedid != exclude][:HISTORY_CALLS]
        return [present.call_json(r, tz) for r in earlier]

    hub.history = history
    services = ApiServices(
        config=lambda: inst.config, db=store, hub=hub, live=reader, agi_expected=False
    )
    server = ApiServer(make_app(services, TokenBook(inst.secrets_file), APIS), host, port)
    await server.start()
    reader.follow(hub.publish)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()
        await reader.close()
        store.dispose()

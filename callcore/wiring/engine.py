"""The engine: one process that routes calls (FastAGI), follows them (AMI) and keeps them
(store), with the seats, transfers, registers, live figures, supervisor actions and the
HTTP API built on them.

This is the one place that builds every part and hands each exactly its collaborators:
nothing else constructs a feature or adds itself to another's lists. The path of a call
through this file is the path of a call through the centre: Asterisk asks `route` where a
call goes, the AMI session reads what then happens in order, the router hands each event
to the parts subscribed to it, the tracker turns that into the call's record, and the
record goes to the store writer and to the parts that follow calls. Nothing here blocks
the event loop: the handlers are pure and quick, the writer has its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine as Database

from agi.server import FastAgiServer
from callcore.ami import AmiSession, EventRouter, Message
from callcore.api.app import ApiServer, make_app
from callcore.api.auth import TokenBook
from callcore.api.events import EventHub
from callcore.features import live
from callcore.features.calls.history import previous_calls
from callcore.features.calls.reconcile import Reconciler
from callcore.features.calls.tracker import CallTracker
from callcore.features.callsout import kinds as _callsout_kinds  # noqa: F401  (registers it)
from callcore.features.callsout.handoff import Handoff
from callcore.features.callsout.service import CallsOut
from callcore.features.enterprises.service import EnterpriseService
from callcore.features.firstcontact.service import FirstContactService
from callcore.features.guard.model import Ban, BanFile, acl_conf
from callcore.features.guard.service import GuardService
from callcore.features.knowledge.service import KnowledgeService
from callcore.features.live.ratings import RatingsFeed
from callcore.features.live.state import LiveState
from callcore.features.quality.schedule import DailyDraw
from callcore.features.quality.service import QualityService
from callcore.features.ratings.desk import RatingDesk
from callcore.features.ratings.service import RatingService
from callcore.features.recordings import kinds as _recording_kinds  # noqa: F401
from callcore.features.recordings.service import RecordingService
from callcore.features.reports.service import ReportService
from callcore.features.routing.agi import make_route_handler
from callcore.features.supervisors.actions import Supervisor
from callcore.features.transfers.service import TransferService
from callcore.features.workorders import export as workorder_export
from callcore.features.workorders.intake import WorkOrderIntake
from callcore.features.workorders.service import WorkOrderService
from callcore.features.workstation.screenpop import open_requests
from callcore.instance import Instance
from callcore.records import CallRecord
from callcore.store import db
from callcore.store.writer import StoreWriter
from callcore.wiring.endpoints import APIS
from callcore.wiring.services import ApiServices
from callcore.wiring.telemetry import EventLag, RouteTiming, process_usage, write_snapshot
from config.directory import Directory
from config.loader import ConfigError
from seats.service import SeatService

log = logging.getLogger(__name__)
CONSUME_SLICE = 32  # events handled between yields to the loop (~1 ms at full speed)
REFRESH_SECONDS = 30.0  # how often the registers are re-read from the store
ROLLUP_SECONDS = 3600.0  # how often the reports' kept days are brought up to date
PURGE_SECONDS = 86400.0  # the recordings' retention job runs once a day
SCHEMA_WAIT_SECONDS = 1.0  # how long a reader waits for the migrations (a heartbeat waits too)
WORKORDER_DAILY_SECONDS = 60.0  # how often missed registrations and yesterday's batch are seen to


class StoreNotReady(RuntimeError):
    """The store's schema is not in place yet: the writer is migrating it."""


class Engine:
    def __init__(self, inst: Instance, *, agi: bool = True):
        self.inst = inst
        self.with_agi = agi
        cfg = inst.config

        def config() -> Any:
            return self.inst.config

        self.directory = Directory(cfg)
        self.events: asyncio.Queue[Message] = asyncio.Queue()
        self.writer = StoreWriter(inst.db_url, inst.journal)

        def store() -> Database:
            return self.writer.engine

        submit = self.writer.submit
        self._db: Database | None = None
        self.ami = AmiSession(
            cfg.pbx.bind,
            cfg.pbx.ami_port,
            cfg.pbx.ami_user,
            inst.secrets().ami_secret,
            events=self.events,
            on_connected=self._on_ami_connected,
            on_disconnected=self._on_ami_disconnected,
        )

        # The call itself: its record from AMI events, and after every AMI login the calls
        # of the time we were away, rebuilt.
        self.tracker = CallTracker(lambda: self.directory, self._publish)
        self.reconciler = Reconciler(
            self.tracker,
            lambda: self.directory,
            self._publish,
            inst.log / "queue_log",
            store=store,
            report_file=inst.run / "reconcile.json",
        )

        # The live view (Redis) and its event stream; it shows seats as the board has them.
        self.hub = EventHub(history=self._previous_calls, open_requests=self._open_requests)
        self.live = LiveState(
            config,
            live.redis_url(inst),
            live.namespace(inst),
            load_records=self._records_since,
            on_event=self.hub.publish,
            seat_status=lambda seat: self.seats.board.status(seat),
            degraded=self._degraded,
        )

        # Seats, and what builds on them.
        self.seats = SeatService(
            config, self.ami, submit, store, lambda: self.ami.connected,
            on_change=[self.live.on_seat_change],
        )  # fmt: skip
        self.transfers = TransferService(config, self.seats, submit)
        self.enterprises = EnterpriseService(config, store, submit)
        self.first_contact = FirstContactService(config, store, self.seats.board.state)
        # Work orders: registered off the loop as a seat answers; changes told to first contact.
        self.workorders = WorkOrderService(self.db, config)
        self.intake = WorkOrderIntake(
            config, self.workorders, on_change=[self.first_contact.on_request]
        )
        self.supervisor = Supervisor(self.seats.sessions, config, submit)
        # Calls out (callbacks, follow-ups, click-to-call): seats rung first, then citizens.
        self.callsout = CallsOut(
            config, self.ami, self.seats, submit, store,
            enterprise_numbers=self.enterprises.numbers,
            waiting_queues=lambda: {w.queue for w in self.live.model.waiting.values()},
        )  # fmt: skip
        self.handoff = Handoff(config, self.seats)
        # SIP password guessers banned from Asterisk's security events.
        self.guard = GuardService(
            config, BanFile(inst.lib / "bans.json"), self._apply_bans, submit
        )
        # Recordings: Asterisk records; a worker thread stores the finished files.
        self.recordings = RecordingService(
            config, inst.home, self._submit_threadsafe, lambda: self.db,
            asterisk_pid_file=inst.run / "callcore-asterisk.pid",
        )  # fmt: skip
        # 一次一评: each rating the dialplan reports, filed with its call (and reconciled).
        self.ratings = RatingService(self.db, submit, config)
        self.rating_feed = RatingsFeed(
            self.ratings, config, self.live.redis, self.live.keys, self.live.model.emit
        )
        self.rating_desk = RatingDesk(
            self.ratings,
            config,
            call_of=self.tracker.record,
            legs_of=self.transfers.legs.legs,
            request_of=self.intake.request_of,
            on_rating=[self.rating_feed.on_rating],
        )
        self.reconciler.after = (*self.reconciler.after, self.rating_desk.reconcile)

        # Who hears of each changed call record, in this order (synchronous and quick).
        self.record_listeners = (
            submit,
            self.first_contact.on_record,
            self.intake.on_record,
            self.live.on_record,
            self.callsout.on_record,
        )
        # Who hears of which AMI event: each part's own subscription table.
        self.lag = EventLag()
        self.route_timing = RouteTiming()
        self.router = EventRouter()
        for part in (
            self.tracker,
            self.route_timing,
            self.seats,
            self.transfers,
            self.live,
            self.supervisor,
            self.callsout,
            self.guard,
            self.rating_desk,
            self.lag,
        ):
            self.router.subscribe(part.subscriptions())

        self.agi: FastAgiServer | None = None
        if agi:
            route = make_route_handler(
                lambda: self.directory,
                self.enterprises.numbers,
                first_contact=self.first_contact.first_contact,
            )
            # The dialplan gives up after agi_bound_ms; answering later is wasted work.
            self.agi = FastAgiServer(
                {"route": route, **self.seats.agi_handlers()},
                cfg.pbx.bind,
                cfg.pbx.agi_port,
                request_timeout=cfg.pbx.agi_bound_ms / 1000 * 0.8,
            )
        self.services = ApiServices(
            config=config,
            db=self.db,
            hub=self.hub,
            ami=self.ami,
            agi=self.agi,
            agi_expected=agi,
            writer=self.writer,
            live=self.live,
            supervisor=self.supervisor,
            seats=self.seats,
            transfers=self.transfers,
            workorders=self.workorders,
            intake=self.intake,
            enterprises=self.enterprises,
            callsout=self.callsout,
            handoff=self.handoff,
            guard=self.guard,
            recordings=self.recordings,
            knowledge=KnowledgeService(
                self.db, clock=lambda: datetime.now(UTC), timezone=cfg.site.timezone
            ),
        )
        # The QA desk: each day's samples, drawn once a day off the loop (and by hand).
        self.quality = QualityService(
            self.db,
            config,
            unsatisfied=self.ratings.unsatisfied_calls,
            rating_of=self.ratings.rating_of,
        )
        self.services.quality = self.quality
        self.daily_draw = DailyDraw(
            self.quality,
            lambda: self.inst.config.site.timezone,
            ready=lambda: self.writer.wait_for_schema(30.0),  # in its thread
        )
        self.api: ApiServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopped = asyncio.Event()
        self._gate = asyncio.Event()  # cleared while a resync holds the event consumer
        self._gate.set()

    # -- what the parts are given ----------------------------------------------------------
    @property
    def db(self) -> Database:
        """The store's read side (API queries, screen pops), apart from the writer's."""
        if self._db is None:
            self._db = db.make_engine(self.inst.db_url)
        return self._db

    def _records_since(self, since: Any) -> list[CallRecord]:
        if not self.writer.wait_for_schema(SCHEMA_WAIT_SECONDS):
            raise StoreNotReady("the store's schema is not in place yet")
        return db.query_calls(self.db, since=since)

    async def _previous_calls(self, caller: str, exclude: str) -> list[dict[str, Any]]:
        tz = self.inst.config.site.timezone
        return await asyncio.to_thread(previous_calls, self.db, caller, exclude, tz)

    async def _open_requests(self, caller: str, exclude: str) -> list[dict[str, Any]]:
        tz = self.inst.config.site.timezone
        return await asyncio.to_thread(open_requests, self.workorders, caller, exclude, tz)

    def _degraded(self) -> dict[str, str]:
        """The parts `/healthz` calls impaired, for the monitor's banner: the database's
        journal backlog, the recordings' problem, or the part's status word."""
        health = self.services.health()
        out = {}
        for part in ("ami", "fastagi", "database", "recordings"):
            status = health[part]["status"]
            if status not in ("ok", "absent", "off"):
                out[part] = str(health[part].get("backlog", health[part].get("problem", status)))
        if (bans := self.guard.summary()) is not None:
            out["sip_bans"] = bans  # not a fault: the monitor shows who is locked out
        return out

    async def _apply_bans(self, bans: list[Ban]) -> None:
        """The guard's bans into Asterisk: the ACL file, then a PJSIP reload (calls stay up)."""
        path = self.inst.etc / "pjsip_bans.conf"
        await asyncio.to_thread(path.write_text, acl_conf(bans), "utf-8")
        await self.ami.action({"Action": "Reload", "Module": "res_pjsip.so"}, timeout=15)

    def stats(self) -> dict:
        """The engine's own figures: what benchmarks and /metrics report."""
        agi = None
        if self.agi is not None:
            agi = {**self.agi.stats.counters(), **self.agi.stats.percentiles(0.5, 0.99)}
        return {
            "at": time.time(),
            "pid": os.getpid(),
            "ami": {"connected": self.ami.connected, **vars(self.ami.stats)},
            "ami_lag": self.lag.summary(),
            "route_in_asterisk": self.route_timing.summary(),
            "agi": agi,
            "tracker": {"events": self.tracker.events, "active_calls": len(self.tracker.active)},
            "reconcile": vars(self.reconciler.last) if self.reconciler.last else None,
            "store": {**self.writer.health(), **self.writer.stats()},
            "process": process_usage(),
        }

    @property
    def ready_file(self):
        return self.inst.run / "callcore.ready"

    def _submit_threadsafe(self, record: Any) -> None:
        """The store writer's submit, from the loop or from a worker thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self.writer.submit(record)
        else:
            loop.call_soon_threadsafe(self.writer.submit, record)

    # -- the path of events and records ------------------------------------------------------
    def _publish(self, record: CallRecord) -> None:
        for listener in self.record_listeners:
            listener(record)

    async def _consume(self) -> None:
        """The one ordered consumer of AMI events.

        `Queue.get` does not yield while events are queued, and one 64 KiB read holds a few
        hundred; the consumer yields every `CONSUME_SLICE` events (about a millisecond) so a
        burst never makes a FastAGI routing request or an API call wait behind all of it.
        """
        n = 0
        while True:
            ev = await self.events.get()
            if not self._gate.is_set():
                await self._gate.wait()
            self.router.dispatch(ev)
            n += 1
            if n >= CONSUME_SLICE:
                n = 0
                await asyncio.sleep(0)

    async def _on_ami_connected(self) -> None:
        """Resync with Asterisk; events wait behind the snapshot so none applies out of order."""
        log.info("AMI logged in (%s)", self.ami.greeting or "")
        self._gate.clear()
        try:
            await self.reconciler.resync(self.ami)
            await self.seats.resync()
            await self.live.rebuild_from_asterisk(self.ami)
        finally:
            self._gate.set()

    async def _on_ami_disconnected(self) -> None:
        self.reconciler.disconnected()

    # -- periodic work -----------------------------------------------------------------------
    async def _refresh_registers(self) -> bool:
        """Re-read the enterprise register and recent first contacts from the store."""
        if not await asyncio.to_thread(self.writer.wait_for_schema, SCHEMA_WAIT_SECONDS):
            return False  # the writer is still migrating (or the database is away)
        try:
            await self.enterprises.refresh()
            await self.first_contact.refresh()
        except Exception as exc:  # the database may be away (or not migrated yet)
            log.info("registers: store not readable yet (%s); keeping what is in memory", exc)
            return False
        return True

    async def _refresher(self) -> None:
        while True:
            ok = await self._refresh_registers()
            await asyncio.sleep(REFRESH_SECONDS if ok else 1.0)

    async def _workorders_daily(self) -> None:
        """Register the orders of answered calls missed while the store was away, and
        write the day before's batch of work orders into the instance once it is over."""
        folder = self.inst.home / "exports" / "workorders"
        while True:
            if await asyncio.to_thread(self.writer.wait_for_schema, SCHEMA_WAIT_SECONDS):
                await self._workorders_step(folder)
            await asyncio.sleep(WORKORDER_DAILY_SECONDS)

    async def _workorders_step(self, folder: Any) -> None:
        try:
            await self.intake.sweep(datetime.now(UTC))
            tz = self.inst.config.site.timezone
            batch = await asyncio.to_thread(
                workorder_export.ensure_yesterday, self.db, tz, folder, datetime.now(UTC)
            )
        except Exception as exc:  # the database may be away; the next round tries again
            log.info("work orders: daily step not done yet (%s)", exc)
            return
        if batch is not None:
            log.info("work orders: %s batch written (%d)", batch.day, batch.orders)

    async def _keep_rollups(self) -> None:
        """Hourly, in a thread: the reports' kept days brought up to date (a day settles
        two days after its end; one a reconciliation changed is rebuilt), so a manager's
        month report reads them instead of building them."""
        reports = ReportService(self.db, lambda: self.inst.config)
        while True:
            await asyncio.sleep(ROLLUP_SECONDS)
            try:
                await asyncio.to_thread(reports.keep_rollups)
            except Exception as exc:  # the database may be away; the next hour tries again
                log.info("report rollups not brought up to date now (%s)", exc)

    async def _purge_recordings(self) -> None:
        """The daily retention job: expired recordings deleted, each deletion audited."""
        await asyncio.to_thread(self.writer.wait_for_schema, 60.0)
        while True:
            try:
                gone = await asyncio.to_thread(self.recordings.purge)
                if gone:
                    log.info("recordings: %d past their retention deleted", len(gone))
            except Exception as exc:  # the database may be away; tomorrow tries again
                log.warning("recordings: retention purge failed (%s)", exc)
            await asyncio.sleep(PURGE_SECONDS)

    async def _write_stats(self) -> None:
        """Every few seconds, off the hot path (the file write is small and local)."""
        path = self.inst.run / "engine-stats.json"
        while True:
            await asyncio.sleep(5)
            await asyncio.to_thread(write_snapshot, path, self.stats())

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self.inst.ensure_dirs()
        self._loop = asyncio.get_running_loop()
        self.writer.start()
        self.recordings.start()  # picks up what a crash left in the spool
        await self.live.start()
        await self.rating_feed.start()
        await self._start_api()
        self._consumer = asyncio.create_task(self._consume(), name="ami-consumer")
        self._tasks = [
            asyncio.create_task(self._refresher(), name="registers-refresh"),
            asyncio.create_task(self._write_stats(), name="engine-stats"),
            asyncio.create_task(self.callsout.run(), name="callbacks-offer"),
            asyncio.create_task(self.guard.run(), name="guard"),
            asyncio.create_task(self._workorders_daily(), name="workorders-daily"),
            asyncio.create_task(
                self.intake.run(lambda: self.writer.wait_for_schema(SCHEMA_WAIT_SECONDS)),
                name="workorders-intake",
            ),
            asyncio.create_task(self.daily_draw.run(), name="qa-daily-draw"),
            asyncio.create_task(self._keep_rollups(), name="report-rollups"),
            asyncio.create_task(self._purge_recordings(), name="recordings-retention"),
        ]
        if self.agi is not None:
            await self.agi.start()
        if not await self.ami.start(wait=10):
            log.warning(
                "AMI not reachable yet; calls are still routed, tracking resumes on connect"
            )
        (self.inst.run / "callcore.pid").write_text(f"{os.getpid()}\n")
        self.ready_file.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "agi": self.agi is not None,
                    "ami": self.ami.connected,
                    "at": time.time(),
                }
            )
        )
        log.info("callcore engine ready (FastAGI %s)", "on" if self.agi else "off")

    async def _start_api(self) -> None:
        """The HTTP API; a port that cannot be had leaves the engine running without it."""
        cfg = self.inst.config
        server = ApiServer(
            make_app(self.services, TokenBook(self.inst.secrets_file), APIS),
            cfg.pbx.bind,
            cfg.pbx.api_port,
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
        self.api = server

    def reload_config(self) -> None:
        """SIGHUP: adopt a changed site config; a bad file leaves the running one in place."""
        try:
            cfg = self.inst.reload_config()
        except ConfigError as exc:
            log.error("config reload refused, keeping the running config:\n%s", exc)
            return
        self.directory = Directory(cfg)
        self.live.model.reload_config()
        refresh = asyncio.get_running_loop().create_task(self._refresh_registers())
        self._tasks.append(refresh)  # held until done (and cancelled at stop), then dropped
        refresh.add_done_callback(self._tasks.remove)
        log.info("config reloaded: %d numbers", len(cfg.hotlines))

    async def stop(self) -> None:
        """Graceful: stop taking routing requests, read what AMI already sent, drain the store."""
        self.ready_file.unlink(missing_ok=True)
        if self.agi is not None:
            await self.agi.close()
        await self.ami.close()
        while not self.events.empty():
            self.router.dispatch(self.events.get_nowait())
        for task in [t for t in (self._consumer, *self._tasks) if t is not None]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.api is not None:  # after the last events; audits go to the writer
            await self.api.close()
            self.api = None
        await self.rating_feed.close()
        await self.live.close()
        await self.callsout.close()
        await asyncio.to_thread(self.recordings.stop)
        if self._db is not None:
            self._db.dispose()
        drained = await self.writer.close(timeout=30)
        write_snapshot(self.inst.run / "engine-stats.json", self.stats())
        if not drained:
            log.error("store not drained at shutdown; the journal keeps the rest for next start")
        (self.inst.run / "callcore.pid").unlink(missing_ok=True)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopped.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_config)
        await self.start()
        try:
            await self._stopped.wait()
        finally:
            await self.stop()

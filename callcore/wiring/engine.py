"""The engine: one process that routes calls (FastAGI), follows them (AMI) and keeps them (store).

The path of a call through this file is the path of a call through the centre: Asterisk
asks `route` where a call goes, the AMI session reads what then happens in order, the
tracker turns that into the call's record, and the store writer keeps it. Nothing here
blocks the event loop: the tracker is pure, the writer has its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable

from agi.server import FastAgiServer
from callcore.ami import AmiSession, Message, wanted_events
from callcore.features.calls.reconcile import Reconciler
from callcore.features.calls.tracker import CallTracker
from callcore.features.routing.agi import make_route_handler
from callcore.instance import Instance
from callcore.records import CallRecord
from callcore.store.writer import StoreWriter
from callcore.wiring.supervision import Supervision
from callcore.wiring.telemetry import EventLag, RouteTiming, process_usage, write_snapshot
from config.directory import Directory
from config.loader import ConfigError
from seats.service import SeatFloor

log = logging.getLogger(__name__)
CONSUME_SLICE = 32  # events handled between yields to the loop (~1 ms at full speed)


class Engine:
    def __init__(self, inst: Instance, *, agi: bool = True):
        self.inst = inst
        self.with_agi = agi
        cfg = inst.config
        self.directory = Directory(cfg)
        self.events: asyncio.Queue[Message] = asyncio.Queue()
        self.writer = StoreWriter(inst.db_url, inst.journal)
        # Who hears of each changed call record, and of each AMI event, in this order.
        # Every one of them is synchronous and quick: they run on the AMI consumer's path.
        self.record_listeners: list[Callable[[CallRecord], None]] = [self.writer.submit]
        self.tracker = CallTracker(lambda: self.directory, self._publish)
        # After every AMI login: adopt, end and rebuild the calls of the time we were away.
        self.reconciler = Reconciler(
            self.tracker,
            lambda: self.directory,
            self._publish,
            inst.log / "queue_log",
            store=lambda: self.writer.engine,
            report_file=inst.run / "reconcile.json",
        )
        self._gate = asyncio.Event()  # cleared while a resync holds the event consumer
        self._gate.set()
        self.lag = EventLag()
        self.route_timing = RouteTiming()
        self.event_handlers: list[Callable[[Message], None]] = [
            self.tracker.handle, self.lag.observe, self.route_timing.observe]
        self.ami = AmiSession(
            cfg.pbx.bind,
            cfg.pbx.ami_port,
            cfg.pbx.ami_user,
            inst.secrets().ami_secret,
            events=self.events,
            on_connected=self._on_ami_connected,
            on_disconnected=self._on_ami_disconnected,
        )
        # Seats: states, feature codes, first contact, requests, the transfer chain (seats/).
        self.floor = SeatFloor(
            lambda: self.inst.config,
            self.ami,
            self.writer.submit,
            lambda: self.writer.engine,
            lambda: self.ami.connected,
        )
        self.event_handlers += self.floor.event_handlers
        self.record_listeners += self.floor.record_listeners
        self.agi: FastAgiServer | None = None
        if agi:
            route = make_route_handler(
                lambda: self.directory,
                self.enterprise_numbers,
                first_contact=self.floor.first_contact,
            )
            # The dialplan gives up after agi_bound_ms; answering later is wasted work.
            self.agi = FastAgiServer(
                {"route": route, **self.floor.agi_handlers()},
                cfg.pbx.bind,
                cfg.pbx.agi_port,
                request_timeout=cfg.pbx.agi_bound_ms / 1000 * 0.8,
            )
        # Live state in Redis, the HTTP API and supervisor actions (hooks onto the lists above).
        self.supervision = Supervision(self)
        self._consumer: asyncio.Task[None] | None = None
        self._routes: dict[str, tuple[Callable[[Message], None], ...]] = {}
        self._routed_for = -1
        self._stats_task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

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

    async def _write_stats(self) -> None:
        """Every few seconds, off the hot path (the file write is small and local)."""
        path = self.inst.run / "engine-stats.json"
        while True:
            await asyncio.sleep(5)
            await asyncio.to_thread(write_snapshot, path, self.stats())

    def enterprise_numbers(self) -> frozenset[str]:
        """The config's register and the store's (read into memory by the seat floor)."""
        return self.floor.enterprise_numbers()

    @property
    def ready_file(self):
        return self.inst.run / "callcore.ready"

    async def start(self) -> None:
        self.inst.ensure_dirs()
        self.writer.start()
        await self.floor.start()
        await self.supervision.start()
        self._consumer = asyncio.create_task(self._consume(), name="ami-consumer")
        self._stats_task = asyncio.create_task(self._write_stats(), name="engine-stats")
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

    def _publish(self, record: CallRecord) -> None:
        for listener in self.record_listeners:
            listener(record)

    def _dispatch(self, ev: Message) -> None:
        """Each event to the handlers that want it, in the order they were registered."""
        if len(self.event_handlers) != self._routed_for:
            self._routes.clear()
            self._routed_for = len(self.event_handlers)
        name = ev.get("Event", "")
        route = self._routes.get(name)
        if route is None:
            route = self._routes[name] = tuple(
                h for h in self.event_handlers
                if (wanted := wanted_events(h)) is None or name in wanted)
        for handle in route:
            handle(ev)

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
            self._dispatch(ev)
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
            await self.floor.resync()
            await self.supervision.ami_connected(self.ami)
        finally:
            self._gate.set()

    async def _on_ami_disconnected(self) -> None:
        self.reconciler.disconnected()

    def reload_config(self) -> None:
        """SIGHUP: adopt a changed site config; a bad file leaves the running one in place."""
        try:
            cfg = self.inst.reload_config()
        except ConfigError as exc:
            log.error("config reload refused, keeping the running config:\n%s", exc)
            return
        self.directory = Directory(cfg)
        self.supervision.reload_config()
        asyncio.get_running_loop().create_task(self.floor.refresh())  # registers in the store
        log.info("config reloaded: %d numbers", len(cfg.hotlines))

    async def stop(self) -> None:
        """Graceful: stop taking routing requests, read what AMI already sent, drain the store."""
        self.ready_file.unlink(missing_ok=True)
        if self.agi is not None:
            await self.agi.close()
        await self.ami.close()
        while not self.events.empty():
            self._dispatch(self.events.get_nowait())
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer
        if self._stats_task is not None:
            self._stats_task.cancel()
        await self.supervision.stop()  # after the last events; audits go to the writer
        await self.floor.stop()
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

"""`callcore api`: the HTTP API on another process or node (wallboards), read-only.

Queues, seats, figures, snapshots and the event stream come from the site's Redis;
calls and the audit from the store (`CALLCORE_DB_URL`); supervisor actions and whatever
needs the engine answer 503. Neither AMI nor the store writer runs here.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from typing import Any

from callcore.api.app import ApiServer, make_app
from callcore.api.auth import TokenBook
from callcore.api.events import EventHub
from callcore.features import live
from callcore.features.calls.history import previous_calls
from callcore.features.knowledge.service import KnowledgeService
from callcore.features.live.reader import LiveReader
from callcore.features.workorders.service import WorkOrderService
from callcore.features.workstation.screenpop import open_requests
from callcore.instance import Instance
from callcore.store import db
from callcore.wiring.endpoints import APIS
from callcore.wiring.services import ApiServices


async def serve_api_only(inst: Instance, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM."""
    reader = LiveReader(lambda: inst.config, live.redis_url(inst), live.namespace(inst))
    store = db.make_engine(inst.db_url)

    async def history(caller: str, exclude: str) -> list[dict[str, Any]]:
        tz = inst.config.site.timezone
        return await asyncio.to_thread(previous_calls, store, caller, exclude, tz)

    orders = WorkOrderService(store, lambda: inst.config)  # read here, for the screen pop

    async def requests(caller: str, exclude: str) -> list[dict[str, Any]]:
        tz = inst.config.site.timezone
        return await asyncio.to_thread(open_requests, orders, caller, exclude, tz)

    hub = EventHub(history=history, open_requests=requests)
    knowledge = KnowledgeService(
        store, clock=lambda: datetime.now(UTC), timezone=inst.config.site.timezone
    )
    services = ApiServices(
        config=lambda: inst.config, db=store, hub=hub, live=reader, agi_expected=False,
        knowledge=knowledge,
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

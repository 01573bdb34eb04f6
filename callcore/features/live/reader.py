"""The live state from another process or node: snapshots and the event stream, read-only.

`callcore api` (an API process beside the engine, e.g. on a wallboard server) and tests
use it; it offers what `LiveState` offers the API (`snapshot`, `health`) and feeds an
`EventHub` from the engine's pub/sub channel (`follow`), reconnecting when Redis returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from redis.exceptions import RedisError

from callcore.features.live.keys import Keys
from callcore.features.live.snapshot import Snapshot, read_snapshot
from callcore.features.live.state import _redact, make_client
from config.schema import SiteConfig

log = logging.getLogger("callcore.features.live")


class LiveReader:
    def __init__(self, config: Callable[[], SiteConfig], url: str, namespace: str):
        self._config = config
        self.url = url
        self.keys = Keys(namespace)
        self.redis = make_client(url)
        self.available = False
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def snapshot(self, now: float | None = None) -> Snapshot:
        snap = await read_snapshot(self.redis, self.keys, self._config(), now)
        self.available = snap.problem != "redis_unavailable"
        self.last_error = snap.detail if not self.available else None
        return snap

    def health(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "url": _redact(self.url),
            "namespace": self.keys.namespace,
            "last_error": self.last_error,
            "role": "reader",
        }

    def follow(self, publish: Callable[[dict], None]) -> None:
        """Relay the engine's events to `publish` (an `EventHub.publish`) until `close`."""
        self._task = asyncio.create_task(self._follow(publish), name="live-events")

    async def _follow(self, publish: Callable[[dict], None]) -> None:
        backoff = 0.5
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.keys.events)
                self.available, backoff = True, 0.5
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        try:
                            publish(orjson.loads(msg["data"]))
                        except (orjson.JSONDecodeError, KeyError, TypeError):
                            log.warning("ignored a malformed live event")
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                self.available, self.last_error = False, f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.redis.aclose()

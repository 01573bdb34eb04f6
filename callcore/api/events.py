"""The event stream: call offered / answered / ended and seat state changes, over a WebSocket.

The live model emits events synchronously on the AMI consumer's path; `EventHub.publish`
only puts them on each subscriber's bounded queue (a slow wallboard loses its own oldest
events, counted, and never slows the engine). A `seat.offered` event (a call ringing a
seat) is the agent's screen pop: before it goes out, the caller's previous calls and open
requests are read from the store (in threads, side by side) and attached.

Messages are JSON text frames `{"type", "at", "data"}`; the first is `hello`. A seat token
receives only events about its own seat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from callcore.api.registry import Api, ApiError, ApiRequest, Identity, Model, Role

log = logging.getLogger("callcore.api")

EVENT_TYPES = (
    "call.offered", "seat.offered", "call.answered", "call.ended", "seat.state",
    "rating.unsatisfied",
)  # fmt: skip
History = Callable[[str, str], Awaitable[list[dict[str, Any]]]]


@dataclass(eq=False)  # compared and hashed by identity: the hub keeps a set of them
class Subscription:
    identity: Identity | None
    types: frozenset[str]
    queue: str | None = None
    queue_size: int = 1000
    dropped: int = 0
    items: asyncio.Queue[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.items = asyncio.Queue(self.queue_size)

    def wants(self, event: dict[str, Any]) -> bool:
        if event["type"] not in self.types:
            return False
        data = event.get("data", {})
        if self.queue and data.get("queue") != self.queue:
            return False
        if self.identity is not None and self.identity.is_seat:
            return bool(data.get("seat")) and data.get("seat") == self.identity.seat
        return True

    def offer(self, event: dict[str, Any]) -> None:
        if self.items.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.items.get_nowait()
            self.dropped += 1
        self.items.put_nowait(event)


class EventHub:
    """Fan-out of live events to WebSocket subscribers (and to tests)."""

    def __init__(self, history: History | None = None, open_requests: History | None = None):
        self.history = history
        self.open_requests = open_requests
        self.subscribers: set[Subscription] = set()
        self.published = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def publish(self, event: dict[str, Any]) -> None:
        """Synchronous and quick: called on the AMI consumer's path."""
        if self._closed:
            return
        self.published += 1
        looks_up = self.history is not None or self.open_requests is not None
        if event["type"] == "seat.offered" and looks_up and self.subscribers:
            try:
                task = asyncio.get_running_loop().create_task(self._screen_pop(event))
            except RuntimeError:  # no loop (a synchronous test): deliver as is
                self._deliver(event)
                return
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        for sub in self.subscribers:
            if sub.wants(event):
                sub.offer(event)

    async def _screen_pop(self, event: dict[str, Any]) -> None:
        data = event["data"]
        previous, requests = await asyncio.gather(
            self._lookup(self.history, data), self._lookup(self.open_requests, data)
        )
        pop = {**data, "previous_calls": previous}
        if self.open_requests is not None:
            pop["open_requests"] = requests
        self._deliver({**event, "data": pop})

    @staticmethod
    async def _lookup(source: History | None, data: dict[str, Any]) -> list[dict[str, Any]]:
        """What `source` knows of the caller, or nothing: the pop goes out without it
        rather than not at all (or late)."""
        if source is None or not data.get("caller"):
            return []
        try:
            return await asyncio.wait_for(source(data["caller"], data.get("linkedid", "")), 2.0)
        except Exception as exc:
            log.warning("screen pop without %s: %s", getattr(source, "__name__", "a part"), exc)
            return []

    def subscribe(
        self,
        identity: Identity | None,
        types: frozenset[str] | None = None,
        queue: str | None = None,
    ) -> Subscription:
        sub = Subscription(identity, types or frozenset(EVENT_TYPES), queue)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)

    async def close(self) -> None:
        self._closed = True
        for t in list(self._tasks):
            t.cancel()
        for sub in self.subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                sub.items.put_nowait({"type": "bye", "at": 0, "data": {}})


api = Api(
    "events",
    "The event stream for wallboards and agent screens: call offered (to a queue and to a "
    "seat, with the caller's previous calls), answered, ended, and seat state changes.",
)


class EventsQuery(Model):
    types: str | None = None  # comma-separated event types; default: all
    queue: str | None = None  # only events of this queue


@api.websocket("/api/v1/events", role=Role.SEAT, query=EventsQuery)
async def event_stream(req: ApiRequest) -> web.StreamResponse:
    """The live event stream (WebSocket).

    Frames are JSON `{"type", "at", "data"}`; types: call.offered, seat.offered (screen pop
    with `previous_calls`, `open_requests`, `zone`, `enterprise`, `affinity`),
    call.answered, call.ended, seat.state, rating.unsatisfied (a rating 不满意 or 非常不满意,
    to follow up). A seat token receives
    only events about its own seat.
    """
    q: EventsQuery = req.query
    types = frozenset(EVENT_TYPES)
    if q.types:
        asked = {t.strip() for t in q.types.split(",") if t.strip()}
        unknown = asked - set(EVENT_TYPES)
        if unknown:
            raise ApiError(400, "bad_query", f"unknown event types: {', '.join(sorted(unknown))}")
        types = frozenset(asked)
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(req.request)
    hub = req.services.hub
    sub = hub.subscribe(req.identity, types, q.queue)
    ident = req.identity
    await ws.send_json(
        {
            "type": "hello",
            "at": 0,
            "data": {
                "name": ident.name if ident else "",
                "role": ident.role.value if ident else "",
                "seat": ident.seat if ident else None,
                "types": sorted(types),
            },
        },
        dumps=_dumps,
    )
    reader = asyncio.create_task(_drain(ws))
    try:
        while not ws.closed:
            getter = asyncio.create_task(sub.items.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            event = getter.result()
            if event["type"] == "bye":
                break
            await ws.send_json(event, dumps=_dumps)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(sub)
        reader.cancel()
        with contextlib.suppress(Exception):
            await ws.close()
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so a close from its side is noticed."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)

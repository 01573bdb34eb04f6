"""`LiveState`: the engine's live model, written to Redis without ever blocking a call.

The AMI consumer and the record fan-out call `handle` and `on_record` (synchronous, quick:
they update the in-memory model and note what changed). One task, `_run`, does all Redis
I/O: every `flush_interval` (or sooner when woken) it writes the changed waiting callers and
seats and the changed calls' part of the figures in one pipeline, and a heartbeat every
second. The figures are updated by a Lua script that replaces a call's previous
contribution with its new one (kept per call in `contrib:<day>`), so a snapshot applied
twice, or re-applied from the store at start, counts once; several engines or a restarted
one never double count.

When Redis fails, `available` turns False (the API and monitor say live figures are
unavailable), the model keeps running, and the task retries with backoff. On every
(re)connection it rewrites the whole model and re-applies today's calls from the store,
so what happened during the outage is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from callcore.ami import Subscriptions
from callcore.features.live.keys import DAY_TTL, MINUTE_TTL, STATE_TTL, Keys
from callcore.features.live.model import Changes, LiveModel, SeatStatusOf, StreamEvent
from callcore.features.live.snapshot import Snapshot, read_snapshot
from callcore.records import CallRecord
from config.schema import SiteConfig
from queues.stats import contribution, day_of, day_start, minute_of, wait_max_ms
from seats.states import SeatChange

log = logging.getLogger("callcore.features.live")

# Replace a call's previous contribution to the figures with its new one, atomically.
# KEYS: contrib hash, day hash, minute hash. ARGV: linkedid, as_of, payload JSON
# {"s": [scopes], "c": {counter: int}, "w": wait_max_ms or absent}, contrib/day/minute TTLs.
FIGURES_LUA = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
local new = cjson.decode(ARGV[3])
local asof = tonumber(ARGV[2])
local delta = {}
local function acc(rec, sign)
  for _, s in ipairs(rec.s) do
    for k, v in pairs(rec.c) do
      local f = s .. '|' .. k
      delta[f] = (delta[f] or 0) + sign * v
    end
  end
end
if old then
  local prev = cjson.decode(old)
  if prev.a > asof then return 0 end
  acc(prev, -1)
end
acc(new, 1)
for i = 2, 3 do
  for f, d in pairs(delta) do
    if d ~= 0 then redis.call('HINCRBY', KEYS[i], f, d) end
  end
  if new.w then
    for _, s in ipairs(new.s) do
      local f = s .. '|wait_max_ms'
      local cur = tonumber(redis.call('HGET', KEYS[i], f) or '-1')
      if new.w > cur then redis.call('HSET', KEYS[i], f, new.w) end
    end
  end
  redis.call('EXPIRE', KEYS[i], ARGV[3 + i])
end
new.a = asof
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(new))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


def make_client(url: str, timeout: float = 2.0) -> aioredis.Redis:
    """A client that fails fast: no silent retries, bounded connect and command times."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        decode_responses=False,
        health_check_interval=0,
    )


def contribution_args(rec: CallRecord, tz: str, answer_seconds: int) -> tuple[str, int, str] | None:
    """(day, minute, payload) of a call's contribution; None for a call with no entry time."""
    if rec.entered_at is None:
        return None
    c = {k: v for k, v in contribution(rec, answer_seconds).items() if v}
    payload: dict[str, Any] = {"s": ["all", f"q:{rec.route}", f"n:{rec.hotline}"], "c": c}
    w = wait_max_ms(rec)
    if w is not None:
        payload["w"] = w
    return (
        day_of(rec.entered_at, tz),
        minute_of(rec.entered_at),
        orjson.dumps(payload).decode(),
    )


class LiveState:
    def __init__(
        self,
        config: Callable[[], SiteConfig],
        url: str,
        namespace: str,
        *,
        load_records: Callable[[datetime], list[CallRecord]] | None = None,
        on_event: Callable[[StreamEvent], None] | None = None,
        seat_status: SeatStatusOf | None = None,
        degraded: Callable[[], dict[str, str]] | None = None,
        flush_interval: float = 0.1,
        heartbeat_interval: float = 1.0,
        max_pending: int = 200_000,
    ):
        self._config = config
        self.url = url
        self.keys = Keys(namespace)
        self.redis = make_client(url)
        self._load_records = load_records
        self._on_event = on_event
        self.model = LiveModel(config, self._emit, seat_status)
        self._degraded = degraded
        self.flush_interval = flush_interval
        self.heartbeat_interval = heartbeat_interval
        self.max_pending = max_pending
        self._pending: dict[str, tuple[float, tuple[str, int, str]]] = {}  # linkedid -> contrib
        self._outbox: deque[StreamEvent] = deque(maxlen=10_000)  # events to publish (pub/sub)
        self._overflowed = False
        self.available = False
        self.last_error: str | None = None
        self.last_write: float | None = None
        self.resyncs = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._script: Any = None
        self._started = time.time()
        self._store_applied = False

    # -- the engine's side (synchronous, quick) ---------------------------------------------
    def subscriptions(self) -> Subscriptions:
        return dict.fromkeys(LiveModel.EVENTS, self.handle)

    def handle(self, ev: dict) -> None:
        """The AMI events the live model follows, in order."""
        try:
            self.model.handle(ev)
        except Exception:  # the live view must never stop the AMI consumer
            log.exception("live state could not handle %s", ev.get("Event"))
        self._wake.set()

    def on_seat_change(self, change: SeatChange) -> None:
        """Every change of a seat's state (the seats give it every change)."""
        try:
            self.model.on_seat_change(change)
        except Exception:
            log.exception("live state could not take the seat change of %s", change.seat)
        self._wake.set()

    def on_record(self, rec: CallRecord) -> None:
        """Every changed call record (an `Engine.record_listeners` entry)."""
        try:
            self.model.on_record(rec)
            cfg = self._config()
            args = contribution_args(rec, cfg.site.timezone, cfg.site.targets.answer_seconds)
        except Exception:
            log.exception("live state could not take record %s", rec.linkedid)
            return
        if args is not None:
            held = self._pending.get(rec.linkedid)
            if held is None or rec.as_of >= held[0]:
                if held is None and len(self._pending) >= self.max_pending:
                    # a long Redis outage: the resync from the store will count these
                    self._overflowed = True
                else:
                    self._pending[rec.linkedid] = (rec.as_of, args)
        self._wake.set()

    def _emit(self, event: StreamEvent) -> None:
        if self.available:  # for API processes on other nodes (callcore.features.live.reader)
            self._outbox.append(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("live event listener failed")

    async def snapshot(self, now: float | None = None) -> Snapshot:
        """What the monitor shows, read back from Redis (the same read as other nodes)."""
        return await read_snapshot(self.redis, self.keys, self._config(), now)

    def health(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "url": _redact(self.url),
            "namespace": self.keys.namespace,
            "last_error": self.last_error,
            "last_write": self.last_write,
            "pending": len(self._pending),
            "resyncs": self.resyncs,
        }

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-state")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.available:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await asyncio.wait_for(self._flush(), 2)
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    async def rebuild_from_asterisk(self, ami: Any) -> None:
        """Replace the waiting callers with Asterisk's QueueStatus (at start and after an
        AMI reconnect), with call details from the store. Seat states are rebuilt by the
        seats' own board (SeatService.resync) before this runs; here they are rewritten."""
        try:
            _, status = await ami.action_list(
                {"Action": "QueueStatus"}, complete_event="QueueStatusComplete", timeout=10
            )
            _, channels = await ami.action_list(
                {"Action": "CoreShowChannels"},
                complete_event="CoreShowChannelsComplete",
                timeout=10,
            )
        except Exception as exc:
            log.warning("live state: cannot read QueueStatus from Asterisk: %s", exc)
            return
        linked = {c.get("Uniqueid"): c.get("Linkedid") for c in channels if c.get("Uniqueid")}
        by_channel = {c.get("Channel"): c.get("Linkedid") for c in channels if c.get("Channel")}
        entries = []
        for e in status:
            if e.get("Event") != "QueueEntry":
                continue
            e = dict(e)
            e.setdefault(
                "Linkedid", linked.get(e.get("Uniqueid")) or by_channel.get(e.get("Channel")) or ""
            )
            entries.append(e)
        self.model.rebuild(entries, time.time())
        if entries and self._load_records is not None:
            since = datetime.now(UTC) - timedelta(days=1)
            try:
                records = await asyncio.to_thread(self._load_records, since)
            except Exception as exc:
                log.warning("live state: cannot read the store for waiting callers: %s", exc)
                records = []
            waiting = set(self.model.waiting)
            for rec in records:
                if rec.linkedid in waiting and rec.ended_at is None:
                    self.model.remember_call(rec)
        log.info("live state rebuilt from Asterisk: %d callers waiting", len(entries))
        self._wake.set()

    # -- the Redis task ----------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = 0.5
        next_beat = 0.0
        while True:
            try:
                if not self.available:
                    await self._connect()
                    backoff = 0.5
                    next_beat = 0.0
                now = time.monotonic()
                if now >= next_beat:
                    await self._heartbeat()
                    next_beat = now + self.heartbeat_interval
                    if not self._store_applied or self._overflowed:
                        await self._reapply_store()
                await self._flush()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), max(0.0, min(self.heartbeat_interval, next_beat - now))
                    )
                self._wake.clear()
                await asyncio.sleep(self.flush_interval)  # gather a batch
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                self._down(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception as exc:
                log.exception("live state writer failed")
                self._down(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _down(self, exc: BaseException) -> None:
        if self.available or self.last_error is None:
            log.warning("Redis unavailable (%s): live figures are unavailable; calls go on", exc)
        self.available = False
        self.last_error = f"{type(exc).__name__}: {exc}"

    async def _connect(self) -> None:
        await self.redis.ping()
        self._script = self.redis.register_script(FIGURES_LUA)
        await self._resync()
        self.available = True
        self.last_error = None
        self.resyncs += 1
        log.info("live state in Redis (%s), resynced", self.keys.prefix)

    async def _resync(self) -> None:
        """Rewrite waiting callers and seats whole, then re-apply the store's calls since the
        start of the oldest window shown (today, or the last hour just after midnight)."""
        self.model.take_changes()
        waiting = {k: orjson.dumps(w.as_json()) for k, w in self.model.waiting.items()}
        seats = {}
        for sid in self.model.seat_ids():
            j = self.model.seat_json(sid)
            if j is not None:
                seats[sid] = orjson.dumps(j)
        async with self.redis.pipeline(transaction=True) as p:
            p.delete(self.keys.waiting, self.keys.seats)
            if waiting:
                p.hset(self.keys.waiting, mapping=waiting)
            if seats:
                p.hset(self.keys.seats, mapping=seats)
            p.expire(self.keys.waiting, STATE_TTL)
            p.expire(self.keys.seats, STATE_TTL)
            await p.execute()
        self._store_applied = False
        await self._reapply_store()

    async def _reapply_store(self) -> None:
        """Re-apply the stored calls of the windows shown (idempotent: each call replaces
        its own earlier contribution). A store that cannot be read yet (the writer is still
        migrating it) is retried by `_run`; Redis errors propagate."""
        if self._load_records is None:
            self._store_applied = True
            return
        cfg = self._config()
        now = datetime.now(UTC)
        since = min(day_start(now, cfg.site.timezone), now - timedelta(minutes=61))
        try:
            records = await asyncio.to_thread(self._load_records, since)
        except Exception as exc:
            log.warning("live figures: the store cannot be read yet (%s); retrying", exc)
            return
        tz, sl = cfg.site.timezone, cfg.site.targets.answer_seconds
        batch = []
        for rec in records:
            args = contribution_args(rec, tz, sl)
            if args is not None:
                batch.append((rec.linkedid, rec.as_of, args))
        for i in range(0, len(batch), 500):
            await self._apply(batch[i : i + 500])
        self._store_applied = True
        self._overflowed = False
        log.info("live figures: %d stored calls re-applied", len(batch))

    async def _apply(self, batch: list[tuple[str, float, tuple[str, int, str]]]) -> None:
        async with self.redis.pipeline(transaction=False) as p:
            for linkedid, as_of, (day, minute, payload) in batch:
                await self._script(
                    keys=[self.keys.contrib(day), self.keys.day(day), self.keys.minute(minute)],
                    args=[linkedid, repr(float(as_of)), payload, DAY_TTL, DAY_TTL, MINUTE_TTL],
                    client=p,
                )
            await p.execute()

    async def _flush(self) -> None:
        """Write what changed since the last flush: events, then waiting callers and seats,
        then the figures of finished calls. On failure what was not written is kept for the
        next flush (events excepted: pub/sub is best effort)."""
        changes = self.model.take_changes()
        pending, self._pending = self._pending, {}
        outbox = list(self._outbox)
        self._outbox.clear()
        try:
            if outbox:  # best effort, like any pub/sub: a reader that is away misses them
                await self._publish(outbox)
            if changes:
                await self._write_changes(changes)
            if pending:
                items = [(k, a, args) for k, (a, args) in pending.items()]
                for i in range(0, len(items), 500):
                    await self._apply(items[i : i + 500])
        except BaseException:
            self._put_back(changes, pending)
            raise
        if changes or pending:
            self.last_write = time.time()

    async def _publish(self, outbox: list[StreamEvent]) -> None:
        async with self.redis.pipeline(transaction=False) as p:
            for ev in outbox:
                p.publish(self.keys.events, orjson.dumps(ev, default=str))
            await p.execute()

    async def _write_changes(self, changes: Changes) -> None:
        """Rewrite the changed waiting callers and seats (delete those that are gone)."""
        async with self.redis.pipeline(transaction=False) as p:
            for linked in changes.waiting:
                w = self.model.waiting.get(linked)
                if w is None:
                    p.hdel(self.keys.waiting, linked)
                else:
                    p.hset(self.keys.waiting, linked, orjson.dumps(w.as_json()))
            for sid in changes.seats:
                j = self.model.seat_json(sid)
                if j is None:
                    p.hdel(self.keys.seats, sid)
                else:
                    p.hset(self.keys.seats, sid, orjson.dumps(j))
            p.expire(self.keys.waiting, STATE_TTL)
            p.expire(self.keys.seats, STATE_TTL)
            await p.execute()

    def _put_back(
        self, changes: Changes, pending: dict[str, tuple[float, tuple[str, int, str]]]
    ) -> None:
        """Keep what a failed flush did not write (newer snapshots taken meanwhile win)."""
        self.model.put_back(changes)
        for k, v in pending.items():
            held = self._pending.get(k)
            if held is None or v[0] > held[0]:
                self._pending[k] = v

    async def _heartbeat(self) -> None:
        async with self.redis.pipeline(transaction=False) as p:
            p.hset(
                self.keys.meta,
                mapping={
                    "heartbeat": repr(time.time()),
                    "pid": str(os.getpid()),
                    "host": socket.gethostname(),
                    "started": repr(self._started),
                    "degraded": orjson.dumps(self._degraded() if self._degraded else {}),
                },
            )
            p.expire(self.keys.meta, STATE_TTL)
            await p.execute()


def _redact(url: str) -> str:
    """A Redis URL without its password, for health output and logs."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"

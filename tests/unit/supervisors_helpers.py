"""Shared pieces of the supervisors' unit tests (live state, API, monitor): a real Redis
namespace that is removed afterwards, call records relative to now, a private redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

import config
from callcore.records import CallRecord, Outcome
from tests.private_redis import running as private_redis  # noqa: F401 (used by test_live)

REDIS_URL = "redis://127.0.0.1:6379/0"
CFG = config.load()


def redis_or_skip(url: str = REDIS_URL) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {url}: {exc}")


@contextlib.contextmanager
def namespace(url: str = REDIS_URL) -> Iterator[str]:
    """A fresh key namespace on the shared Redis, deleted afterwards."""
    ns = f"unit-{uuid.uuid4().hex[:12]}"
    try:
        yield ns
    finally:
        r = redis.Redis.from_url(url)
        keys = list(r.scan_iter(f"callcore:{ns}:*", count=1000))
        if keys:
            r.delete(*keys)
        r.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(
    linkedid: str,
    entered: datetime,
    *,
    route: str = "q-general",
    hotline: str = "12345",
    wait: float | None = None,
    talk: float | None = None,
    outcome: Outcome | None = None,
    seat: str = "G01",
    caller: str = "13800000000",
    as_of: float | None = None,
) -> CallRecord:
    """A call record: answered after `wait` s if `outcome` is answered, else as given."""
    queued = entered + timedelta(seconds=1)
    rec = CallRecord(
        linkedid=linkedid,
        caller_number=caller,
        caller_name="张三",
        dialed_number=hotline,
        hotline=hotline,
        route=route,
        entered_at=entered,
        queued_at=queued,
        as_of=as_of if as_of is not None else entered.timestamp(),
    )
    if outcome is Outcome.ANSWERED:
        rec.answered_at = queued + timedelta(seconds=wait or 0.0)
        rec.wait_seconds = wait or 0.0
        rec.seat = seat
        if talk is not None:
            rec.talk_seconds = talk
            rec.ended_at = rec.answered_at + timedelta(seconds=talk)
            rec.outcome = Outcome.ANSWERED
    elif outcome is not None:
        rec.outcome = outcome
        rec.wait_seconds = wait
        rec.ended_at = queued + timedelta(seconds=wait or 0.0)
    return rec


def ago(minutes: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(minutes=minutes)


async def until(cond: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def started(live) -> AsyncIterator[None]:  # pragma: no cover - helper for fixtures
    await live.start()
    try:
        yield
    finally:
        await live.close()

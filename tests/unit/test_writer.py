"""StoreWriter: journal-then-database from a thread, through database outages and restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from callcore.records import CallRecord, Outcome, from_epoch
from callcore.store import writer as writer_mod
from callcore.store.db import get_call, make_engine, query_calls
from callcore.store.journal import Journal
from callcore.store.kinds import clean_any
from callcore.store.rows import clean_record
from callcore.store.testing import DEFAULT_PG_URL, temporary_pg_schema
from callcore.store.writer import StoreWriter, WriterStopped

pytestmark = pytest.mark.timeout(120)

PG_URL = os.environ.get("CALLCORE_TEST_PG_URL", DEFAULT_PG_URL)
T0 = 1_760_000_000.0
FAST = {"min_backoff": 0.01, "max_backoff": 0.2, "busy_timeout_ms": 50}


@pytest.fixture
def pg_url(pg_base: str) -> Iterator[str]:
    with temporary_pg_schema(pg_base) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return request.getfixturevalue("pg_url")


def lifecycle(n: int, start: int = 0) -> list[CallRecord]:
    """n calls, each entered, answered, then ended twice at the same as_of (the later wins)."""
    out = []
    for i in range(start, start + n):
        t = T0 + i
        base = dict(linkedid=f"{t:.0f}.{i}", caller_name=f"市民{i}", entered_at=from_epoch(t))
        out.append(CallRecord(**base, as_of=t))
        out.append(CallRecord(**base, seat=f"s{i % 7}", answered_at=from_epoch(t + 5), as_of=t + 5))
        for reason in ("ended", "ended, final"):
            out.append(
                CallRecord(
                    **base,
                    seat=f"s{i % 7}",
                    answered_at=from_epoch(t + 5),
                    ended_at=from_epoch(t + 60),
                    outcome=Outcome.ANSWERED,
                    reason=reason,
                    as_of=t + 60,
                )
            )
    return out


def assert_stored_exactly(url: str, records: list[CallRecord]) -> None:
    """One row per call, equal to the last record submitted for it; in entered order."""
    final: dict[str, CallRecord] = {}
    for r in records:
        final[r.linkedid] = r
    engine = make_engine(url)
    try:
        stored = query_calls(engine)
    finally:
        engine.dispose()
    assert len(stored) == len(final)
    assert [c.linkedid for c in stored] == list(final)
    assert stored == [clean_record(r) for r in final.values()]


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling state kept by another thread
            await asyncio.sleep(0.01)
    assert predicate(), what


def started(url: str, journal: Path, **kw) -> StoreWriter:
    w = StoreWriter(url, journal, **(FAST | kw))
    w.start()
    return w


# -- the normal path ---------------------------------------------------------------------


async def test_submit_flush_close(url: str, tmp_path: Path) -> None:
    w = started(url, tmp_path / "journal", batch_size=100)
    records = lifecycle(150)
    for r in records:
        assert w.submit(r) is None
    await w.flush()
    assert_stored_exactly(url, records)
    stored = await asyncio.to_thread(query_calls, w.engine, seat="s1")
    assert {c.linkedid for c in stored} == {r.linkedid for r in records if r.seat == "s1"}
    h = w.health()
    assert h["database"] == "ok" and h["backlog"] == 0 and h["last_error"] is None
    assert datetime.fromisoformat(h["last_write"]).tzinfo is not None
    s = w.stats()
    assert s["submitted"] == s["journaled"] == s["written"] == len(records)
    assert s["batches"] >= 6 and s["retries"] == 0 and s["rejected"] == 0
    await w.flush()  # nothing new: resolves at once
    assert await w.close() is True
    with pytest.raises(RuntimeError):
        w.submit(records[0])
    with Journal(tmp_path / "journal") as j:
        assert j.backlog == 0


async def test_close_drains_everything_submitted(url: str, tmp_path: Path) -> None:
    w = started(url, tmp_path / "journal", batch_size=50)
    records = lifecycle(300)
    for r in records:
        w.submit(r)
    assert await w.close(timeout=60) is True
    assert_stored_exactly(url, records)


async def test_unstorable_records_are_set_aside(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    w = started(url, tmp_path / "journal")
    good = lifecycle(2)
    w.submit(good[0])
    w.submit(CallRecord(linkedid="", as_of=T0))
    w.submit(CallRecord(linkedid="x" * 65, as_of=T0))
    for r in good[1:]:
        w.submit(r)
    await w.flush()
    assert w.stats()["rejected"] == 2
    assert_stored_exactly(url, good)
    rejected = (tmp_path / "journal" / "rejected.jsonl").read_text().splitlines()
    assert [json.loads(line)["record"]["linkedid"] for line in rejected] == ["", "x" * 65]
    await w.close()


async def test_a_batch_the_database_refuses_is_written_record_by_record(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def sneak_past_cleaning(rec: CallRecord) -> dict:
        row = clean_any(rec)
        if rec.linkedid.endswith(".1"):
            row["outcome"] = "bogus"  # only the CHECK constraint can stop it now
        return row

    monkeypatch.setattr(writer_mod, "clean_any", sneak_past_cleaning)
    w = started(url, tmp_path / "journal")
    records = lifecycle(3)
    for r in records:
        w.submit(r)
    await w.flush()
    assert w.stats()["rejected"] == 4  # the four snapshots of call .1
    assert_stored_exactly(url, [r for r in records if not r.linkedid.endswith(".1")])
    assert w.health()["database"] == "ok"
    await w.close()


# -- database outages --------------------------------------------------------------------


async def test_sqlite_locked_then_released(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    # Small batches, segments and memory: the catch-up reads the journal back, across
    # segments, and splits the snapshots of a call over several batches.
    w = started(url, tmp_path / "journal", batch_size=7, memory_limit=25, segment_bytes=4096)
    before = lifecycle(10)
    for r in before:
        w.submit(r)
    await w.flush()

    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # e.g. a backup or an operator's sqlite3 shell
    during = lifecycle(50, start=10)
    for r in during:
        w.submit(r)
    await wait_until(lambda: w.health()["database"] == "unavailable", "writer noticed the lock")
    await wait_until(lambda: w.stats()["journaled"] == len(before) + len(during), "journaled")
    h = w.health()
    assert h["backlog"] > 0 and "locked" in h["last_error"]
    holder.execute("ROLLBACK")
    holder.close()

    async with asyncio.timeout(30):
        await w.flush()
    assert w.health()["database"] == "ok" and w.health()["backlog"] == 0
    assert w.stats()["retries"] >= 1
    assert w.stats()["written"] == len(before) + len(during)  # each entry applied once
    assert_stored_exactly(url, before + during)
    assert len(list((tmp_path / "journal").glob("seg-*.jsonl"))) == 1  # applied ones deleted
    await w.close()


async def test_sqlite_a_directory_in_place_of_the_file(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    db.mkdir()
    url = f"sqlite:///{db}"
    w = started(url, tmp_path / "journal")
    records = lifecycle(40)
    for r in records:
        w.submit(r)
    await wait_until(lambda: w.health()["database"] == "unavailable", "writer noticed")
    await wait_until(lambda: w.stats()["journaled"] == len(records), "all journaled")
    assert w.health()["backlog"] == len(records)
    with pytest.raises(TimeoutError):  # a flush given up on harms nothing
        async with asyncio.timeout(0.2):
            await w.flush()
    db.rmdir()  # the database can be created now: the writer migrates it, then catches up
    async with asyncio.timeout(30):
        await w.flush()
    assert_stored_exactly(url, records)
    await w.close()


class TcpProxy:
    """A TCP forwarder to PostgreSQL that can be stopped (port closed, connections cut)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:  # pick a free port, then keep using it
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._listener: socket.socket | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def stop(self) -> None:
        if self._listener:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


async def test_postgresql_down_then_back(pg_url: str, tmp_path: Path) -> None:
    u = make_url(pg_url)
    proxy = TcpProxy((u.host or "127.0.0.1", u.port or 5432))
    url = u.set(port=proxy.port).render_as_string(hide_password=False)
    w = started(url, tmp_path / "journal", batch_size=30)
    try:
        # Down from the start: the port is closed, nothing is migrated yet.
        first = lifecycle(20)
        for r in first:
            w.submit(r)
        await wait_until(lambda: w.health()["database"] == "unavailable", "writer noticed")
        await wait_until(lambda: w.stats()["journaled"] == len(first), "journaled")
        proxy.start()
        async with asyncio.timeout(30):
            await w.flush()
        assert_stored_exactly(pg_url, first)

        # Down again while running: connections cut, port closed.
        proxy.stop()
        second = lifecycle(30, start=20)
        for r in second:
            w.submit(r)
        await wait_until(lambda: w.health()["database"] == "unavailable", "noticed again")
        await wait_until(lambda: w.health()["backlog"] == len(second), "all journaled")
        proxy.start()
        async with asyncio.timeout(30):
            await w.flush()
        h = w.health()
        assert h["database"] == "ok" and h["backlog"] == 0 and h["last_error"]
        assert w.stats()["written"] == len(first) + len(second)
        assert_stored_exactly(pg_url, first + second)
        assert await w.close() is True
    finally:
        proxy.stop()


async def test_journal_survives_a_stop_and_is_replayed_on_start(url: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    if url.startswith("sqlite"):
        db = Path(make_url(url).database)
        db.mkdir()  # unavailable
        down_url = url
    else:
        down_url = make_url(url).set(port=1).render_as_string(hide_password=False)
    w = started(down_url, journal)
    records = lifecycle(25)
    for r in records:
        w.submit(r)
    pending = asyncio.ensure_future(w.flush())
    await wait_until(lambda: w.stats()["journaled"] == len(records), "journaled")
    assert await w.close(timeout=0.5) is False  # journaled only
    with pytest.raises(WriterStopped):
        await pending

    seg = sorted(journal.glob("seg-*.jsonl"))[-1]
    with open(seg, "ab") as f:
        f.write(b'{"seq": 999, "record": {"linkedid": "torn')  # and a crash mid-write
    if url.startswith("sqlite"):
        shutil.rmtree(db)
    w2 = started(url, journal)
    more = lifecycle(5, start=25)
    for r in more:
        w2.submit(r)
    async with asyncio.timeout(30):
        await w2.flush()
    assert_stored_exactly(url, records + more)
    assert await w2.close() is True


async def test_submit_does_not_wait_for_a_stuck_database(tmp_path: Path) -> None:
    """While the writer thread sits in a long busy wait, submit still returns at once."""
    db = tmp_path / "store.db"
    url = f"sqlite:///{db}"
    w = started(url, tmp_path / "journal", busy_timeout_ms=60_000)
    await w.flush()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    w.submit(lifecycle(1)[0])
    await wait_until(lambda: w.stats()["journaled"] == 1, "first record journaled")
    records = lifecycle(200, start=1)
    for r in records:
        w.submit(r)  # the writer thread is blocked in the database: this must not be
    assert w.stats()["submitted"] == 1 + len(records)
    holder.execute("ROLLBACK")
    holder.close()
    async with asyncio.timeout(60):
        await w.flush()
    engine = make_engine(url)
    assert get_call(engine, records[-1].linkedid) == clean_record(records[-1])
    engine.dispose()
    await w.close()


async def test_a_journal_write_error_keeps_the_records_and_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_append = Journal.append
    failures = []

    def flaky_append(self: Journal, records: list[dict]) -> int:
        if len(failures) < 2:
            failures.append(len(records))
            raise OSError(28, "No space left on device")
        return real_append(self, records)

    monkeypatch.setattr(Journal, "append", flaky_append)
    url = f"sqlite:///{tmp_path}/store.db"
    w = started(url, tmp_path / "journal")
    records = lifecycle(20)
    for r in records:
        w.submit(r)
    async with asyncio.timeout(30):
        await w.flush()
    assert len(failures) == 2 and "No space left" in w.health()["last_error"]
    assert_stored_exactly(url, records)
    await w.close()


async def test_readers_wait_for_the_schema_on_a_fresh_store(tmp_path: Path) -> None:
    """A fresh instance: nothing reads a table before the writer's migrations made it."""
    url = f"sqlite:///{tmp_path}/fresh.db"
    w = StoreWriter(url, tmp_path / "journal")
    assert not w.wait_for_schema(0)
    w.start()
    assert await asyncio.to_thread(w.wait_for_schema, 10)
    read = make_engine(url)
    try:
        assert query_calls(read) == []
    finally:
        read.dispose()
        await w.close()

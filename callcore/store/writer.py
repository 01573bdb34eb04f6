"""The store writer: call records from the event loop to the journal and the database.

The event loop must never wait on disk or database, and the database may be away (SQLite
locked, PostgreSQL restarting) while calls go on. So `submit` only puts the record on a
thread-safe queue, and one writer thread does the rest, in turns:

1. take what is queued (up to `batch_size` records), clean it (`rows.clean_row`; an
   unstorable record goes to `rejected.jsonl` in the journal folder instead);
2. append it to the journal with one fsync: from here on it survives a crash;
3. upsert one chunk of unapplied entries into the database in one transaction, then move
   the journal checkpoint past it.

While the database fails, step 3 is retried with exponential backoff (capped at
`max_backoff`), steps 1-2 go on, and the journal grows; when it returns, the entries are
applied in sequence order. The upsert keeps the row with the newest `as_of`, so an entry
applied twice (crash between the database commit and the checkpoint) changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, InvalidStateError
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError

from callcore.records import CallRecord
from callcore.store.db import make_engine, upgrade
from callcore.store.journal import Entry, Journal
from callcore.store.kinds import clean_any, upsert_any
from callcore.store.rows import RejectedRecord

log = logging.getLogger(__name__)

_STOP = object()
# Errors that condemn the records, not the database: set them aside instead of retrying.
_RECORD_ERRORS = (IntegrityError, DataError, RejectedRecord)


class _Flush:
    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: Future[None] = Future()


class WriterStopped(RuntimeError):
    """The writer stopped before the flushed records reached the database (they are journaled)."""


class StoreWriter:
    """Journal-then-database writer of call records; see the module docstring."""

    def __init__(
        self,
        url: str,
        journal_dir: str | Path,
        *,
        batch_size: int = 1000,
        max_backoff: float = 3.0,
        min_backoff: float = 0.05,
        busy_timeout_ms: int = 2000,
        statement_timeout_ms: int = 10_000,
        segment_bytes: int = 16 << 20,
        memory_limit: int = 10_000,
    ) -> None:
        self.url = url
        self.journal_dir = Path(journal_dir)
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.min_backoff = min_backoff
        self.busy_timeout_ms = busy_timeout_ms  # SQLite: how long to wait for a lock
        # PostgreSQL: bound on one write, so a blocked server cannot hold up the journaling.
        self.statement_timeout_ms = statement_timeout_ms
        self.segment_bytes = segment_bytes
        self.memory_limit = memory_limit  # unapplied records kept in memory, else re-read

        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._journal: Journal | None = None
        self._closing = False
        self._stopping = False  # the writer thread has taken the stop marker
        self._abort = threading.Event()
        self._deadline = float("inf")
        self._close_result: bool | None = None

        # Writer-thread state.
        self._carry: list[dict[str, Any]] = []  # taken and cleaned rows, not yet journaled
        self._mem: list[tuple[int, dict[str, Any]]] = []  # journaled, not applied, in order
        self._spilled = False  # True: the unapplied entries must be read from the journal
        self._replay: Iterator[Entry] | None = None
        self._migrated = False
        self._schema_ready = threading.Event()  # the schema is migrated: readers may read
        self._next_try = 0.0  # next database attempt (monotonic)
        self._backoff = min_backoff
        self._journal_retry_at = 0.0  # next journal append attempt after a disk error
        self._flush_unassigned: list[Future[None]] = []
        self._flush_waiting: list[tuple[int, Future[None]]] = []

        # Shared, read by health()/stats() (plain ints and strings: atomic under the GIL).
        self._submitted = 0
        self._taken = 0
        self._db_ok = True
        self._last_error: str | None = None
        self._last_write: datetime | None = None
        self.counters: dict[str, int] = {
            "submitted": 0,
            "journaled": 0,
            "written": 0,  # journal entries applied to the database
            "rows": 0,  # rows sent after collapsing snapshots of the same call
            "batches": 0,
            "retries": 0,
            "rejected": 0,
        }

    # -- the event loop's side -------------------------------------------------------------

    def start(self) -> None:
        """Open the journal (recovering a torn tail) and start the writer thread.

        The thread's first work is to migrate the schema (`db.upgrade`) and replay what the
        journal holds from an earlier run; if the database is away that is retried like any
        write, so start never blocks on the database. Raises JournalLocked if another
        writer uses the journal folder.
        """
        if self._thread is not None:
            raise RuntimeError("StoreWriter already started")
        self._journal = Journal(self.journal_dir, segment_bytes=self.segment_bytes)
        self._engine = make_engine(self.url, busy_timeout_ms=self.busy_timeout_ms)
        self._spilled = self._journal.backlog > 0
        if self._spilled:
            log.info("store: %d journaled records to replay", self._journal.backlog)
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def wait_for_schema(self, timeout: float) -> bool:
        """Block (in a thread, never on the loop) until the writer has migrated the schema;
        readers wait on this so they never query tables that do not exist yet."""
        return self._schema_ready.wait(timeout)

    def submit(self, record: CallRecord | Any) -> None:
        """Queue a record for the store; never blocks. The record must not be mutated later.

        Besides call records, any record kind of `store.kinds` (seat changes, call legs,
        audits, ...) takes the same journaled path.
        """
        if self._closing:
            raise RuntimeError("StoreWriter is closed")
        self._submitted += 1
        self.counters["submitted"] = self._submitted
        self._queue.put(record)

    async def flush(self) -> None:
        """Resolve once every record submitted before this call is in the database.

        Waits as long as the database is away; bound it with `asyncio.timeout`. Raises
        WriterStopped if the writer closes first.
        """
        if self._thread is None or self._closing:
            raise RuntimeError("StoreWriter is not running")
        marker = _Flush()
        self._queue.put(marker)
        await asyncio.wrap_future(marker.future)

    async def close(self, timeout: float = 10.0) -> bool:
        """Stop after draining: True if everything reached the database.

        Everything submitted before `close` is journaled first; the thread then keeps trying
        the database until `timeout`. False means some records are only in the journal (they
        are replayed on the next start), nothing is lost either way.
        """
        if self._close_result is not None:
            return self._close_result
        if self._thread is None:
            self._closing = True
            if not self._queue.empty():
                log.error("store: closed before start; %d submitted records dropped", self.backlog)
            return self._queue.empty()
        self._closing = True
        self._deadline = time.monotonic() + timeout
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join, timeout + 1.0)
        if self._thread.is_alive():  # stuck in a database call: let it go at the next check
            self._abort.set()
            await asyncio.to_thread(self._thread.join, 10.0)
        self._close_result = self.backlog == 0 and not self._thread.is_alive()
        return self._close_result

    @property
    def engine(self) -> Engine:
        """The writer's engine, for reads (e.g. `asyncio.to_thread(query_calls, w.engine)`)."""
        if self._engine is None:
            raise RuntimeError("StoreWriter is not started")
        return self._engine

    @property
    def backlog(self) -> int:
        """Records submitted but not yet in the database."""
        journaled = self._journal.backlog if self._journal else 0
        return self._submitted - self._taken + len(self._carry) + journaled

    def health(self) -> dict[str, Any]:
        """Database state, backlog, last error and time of the last successful write."""
        return {
            "database": "ok" if self._db_ok else "unavailable",
            "backlog": self.backlog,
            "last_error": self._last_error,
            "last_write": self._last_write.isoformat() if self._last_write else None,
        }

    def stats(self) -> dict[str, int]:
        """Counters for metrics: submitted, journaled, written, rows, batches, retries, rejected."""
        return dict(self.counters) | {"backlog": self.backlog}

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._abort.is_set():
                try:
                    self._turn()
                except Exception as e:  # a bug must not kill the thread
                    log.exception("store writer: unexpected error")
                    self._last_error = f"{type(e).__name__}: {e}"
                    self._abort.wait(min(self.max_backoff, 1.0))
                if self._stopping and self._drained():
                    break
        finally:
            self._finish()

    def _drained(self) -> bool:
        if self.backlog == 0 and self._queue.empty():
            return True
        if time.monotonic() < self._deadline:
            return False
        if self._carry or not self._queue.empty():
            log.error("store: closing with %d records neither journaled nor stored", self.backlog)
        else:
            left = self._journal.backlog if self._journal else 0
            log.warning("store: closing with %d records journaled only (replayed at start)", left)
        return True

    def _turn(self) -> None:
        """One round: take, journal, apply one chunk, settle flushes."""
        for item in self._take(self._wait_time()):
            if item is _STOP:
                self._stopping = True
            elif isinstance(item, _Flush):
                self._flush_unassigned.append(item.future)
            else:
                self._taken += 1
                try:
                    self._carry.append(clean_any(item))
                except (RejectedRecord, TypeError, ValueError, AttributeError) as e:
                    self._reject(item, e)
        self._journal_carry()
        if self._db_due():
            self._apply_chunk()
        self._settle_flushes()

    def _wait_time(self) -> float | None:
        """How long to wait for the queue: until the next retry is due, or forever if idle."""
        now = time.monotonic()
        due = []
        if self._carry:
            due.append(self._journal_retry_at)
        if self._db_work():
            due.append(self._next_try)
        wait = max(0.0, min(due) - now) if due else None
        if self._stopping:
            wait = max(0.0, min(wait if wait is not None else 0.0, self._deadline - now))
        return wait

    def _take(self, timeout: float | None) -> list[Any]:
        try:
            first = self._queue.get(timeout=timeout) if timeout != 0 else self._queue.get_nowait()
        except queue.Empty:
            return []
        items, n = [first], 1
        while n < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            items.append(item)
            n += item is not _STOP and not isinstance(item, _Flush)
        return items

    def _journal_carry(self) -> None:
        """Append the cleaned records to the journal; on a disk error keep them and retry."""
        assert self._journal is not None
        if self._carry:
            if time.monotonic() < self._journal_retry_at:
                return
            first = self._journal.last_seq + 1
            try:
                last = self._journal.append(self._carry)
            except OSError as e:
                self._last_error = f"journal: {type(e).__name__}: {e}"
                self.counters["retries"] += 1
                log.error("store: %s (records kept in memory, retrying)", self._last_error)
                self._journal_retry_at = time.monotonic() + self.max_backoff
                return
            self.counters["journaled"] += len(self._carry)
            if not self._spilled:
                self._mem.extend(zip(range(first, last + 1), self._carry, strict=True))
                if len(self._mem) > self.memory_limit:
                    self._mem.clear()
                    self._spilled = True
            self._carry = []
        # Flushes taken so far wait for everything journaled up to here.
        last_seq = self._journal.last_seq
        self._flush_waiting.extend((last_seq, f) for f in self._flush_unassigned)
        self._flush_unassigned = []

    def _db_work(self) -> bool:
        return not self._migrated or (self._journal is not None and self._journal.backlog > 0)

    def _db_due(self) -> bool:
        return self._db_work() and time.monotonic() >= self._next_try

    def _apply_chunk(self) -> None:
        """Migrate if needed, then apply the next chunk of unapplied entries."""
        assert self._journal is not None and self._engine is not None
        try:
            if not self._migrated:
                upgrade(self._engine)
                self._migrated = True
                self._schema_ready.set()
            chunk, from_mem = self._next_chunk()
            if chunk:
                self._write(chunk, clean=from_mem)
        except Exception as e:
            self._failed(e)
            return
        if from_mem:
            del self._mem[: len(chunk)]
        elif self._journal.backlog == 0:
            self._spilled, self._replay = False, None  # caught up: back to memory
        if not self._db_ok:
            log.info("store: database is back (%d records to catch up)", self._journal.backlog)
        self._db_ok = True
        self._backoff = self.min_backoff
        self._next_try = 0.0

    def _next_chunk(self) -> tuple[list[tuple[int, Any]], bool]:
        """Up to batch_size unapplied entries, in order, and whether they came from memory."""
        assert self._journal is not None
        if not self._spilled and (self._mem or self._journal.backlog == 0):
            return self._mem[: self.batch_size], True
        self._spilled = True
        chunk: list[tuple[int, Any]] = []
        for attempt in range(2):  # a reader that reached the end may have missed appends
            if self._replay is None or attempt:
                self._replay = self._journal.pending()
            for entry in self._replay:
                chunk.append((entry.seq, entry.record))
                if len(chunk) >= self.batch_size:
                    return chunk, False
            self._replay = None
            if chunk:
                break
        if not chunk and self._journal.backlog > 0:  # only unreadable lines left (logged)
            log.warning("store: skipping %d unreadable journal entries", self._journal.backlog)
            self._journal.commit(self._journal.last_seq)
        return chunk, False

    def _write(self, chunk: list[tuple[int, dict[str, Any]]], clean: bool) -> None:
        """Upsert a chunk in one transaction, then move the checkpoint past it."""
        assert self._journal is not None
        rows, rejects = [], []
        if clean:
            rows = [row for _, row in chunk]
        else:  # journal entries: written clean, but maybe by another version or by hand
            for _, entry in chunk:
                try:
                    rows.append(clean_any(entry))
                except (RejectedRecord, TypeError, ValueError, AttributeError) as e:
                    rejects.append((entry, e))
        try:
            sent = self._upsert(rows)
        except _RECORD_ERRORS:
            sent = 0
            for row in rows:  # find the rows the database refuses, write the others
                try:
                    sent += self._upsert([row])
                except _RECORD_ERRORS as e:
                    rejects.append((row, e))
        for record, error in rejects:  # only once the chunk is through (no doubles on retry)
            self._reject(record, error)
        self._journal.commit(chunk[-1][0])
        self.counters["written"] += len(chunk) - len(rejects)
        self.counters["rows"] += sent
        self.counters["batches"] += 1
        self._last_write = datetime.now(UTC)

    def _upsert(self, rows: list[dict[str, Any]]) -> int:
        assert self._engine is not None
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                timeout = int(self.statement_timeout_ms)
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout}")
            return upsert_any(conn, rows)

    def _failed(self, error: BaseException) -> None:
        """The database refused: back off, and start over cleanly on the next attempt."""
        self._last_error = f"{type(error).__name__}: {error}".splitlines()[0][:500]
        self.counters["retries"] += 1
        if self._db_ok:
            log.warning("store: database unavailable, journaling only: %s", self._last_error)
        else:
            log.debug("store: database still unavailable: %s", self._last_error)
        self._db_ok = False
        self._migrated = False  # a recreated database needs its schema again
        self._schema_ready.clear()
        self._replay = None
        if self._engine is not None:
            self._engine.dispose()  # drop connections to a dead server or a replaced file
        self._next_try = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self.max_backoff)

    def _reject(self, record: Any, error: BaseException) -> None:
        """Set an unstorable record aside in `rejected.jsonl` (kept for a human to look at)."""
        self.counters["rejected"] += 1
        log.error("store: record rejected (%s): %.200r", error, record)
        try:
            body = vars(record) if isinstance(record, CallRecord) else record
            line = json.dumps(
                {"error": str(error), "record": body}, ensure_ascii=False, default=str
            )
        except Exception:
            line = json.dumps({"error": str(error), "record": repr(record)}, ensure_ascii=False)
        try:
            with open(self.journal_dir / "rejected.jsonl", "a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            log.exception("store: could not write rejected.jsonl")

    def _settle_flushes(self) -> None:
        if not self._flush_waiting or self._journal is None:
            return
        done = self._journal.checkpoint
        still = []
        for target, fut in self._flush_waiting:
            if target <= done:
                with contextlib.suppress(InvalidStateError):  # cancelled by a flush timeout
                    fut.set_result(None)
            else:
                still.append((target, fut))
        self._flush_waiting = still

    def _finish(self) -> None:
        err = WriterStopped("store writer stopped; records are journaled, not yet in the database")
        for fut in self._flush_unassigned + [f for _, f in self._flush_waiting]:
            with contextlib.suppress(InvalidStateError):
                fut.set_exception(err)
        self._flush_unassigned, self._flush_waiting = [], []
        if self._journal is not None:
            self._journal.close()
        if self._engine is not None:
            self._engine.dispose()

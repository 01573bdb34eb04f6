"""A durable local journal of call records: what is written here survives a crash.

Layout of the folder:

- `seg-<first seq>.jsonl`: append-only segments, one JSON object per line,
  `{"seq": n, "record": {...}}`, sequence numbers increasing by one across segments;
  plain UTF-8 (no \\u escapes) so Chinese names stay readable with `less`; datetimes as
  ISO 8601. Encoded with orjson: the stdlib json module was a third of the writer's time.
- `checkpoint`: `{"seq": n}`, the last sequence number applied to the database, replaced
  atomically (write temp file, fsync, rename).
- `lock`: flock-ed while open, so two processes never append to the same journal.

`append` writes a whole batch with one `write` and one `fsync`. A crash can leave the last
line torn; opening the journal detects it, logs a warning and cuts it off (the batch it
belonged to was never acknowledged). Segments rotate at `segment_bytes`; `commit` deletes
segments whose every entry is applied. The journal is not thread-safe: one thread (the
store writer) owns it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

_PREFIX, _SUFFIX = "seg-", ".jsonl"


class JournalLocked(RuntimeError):
    """Another process (or Journal object) holds this journal folder."""


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    record: dict[str, Any]


def _parse(line: bytes) -> Entry | None:
    try:
        obj = orjson.loads(line)
        return Entry(int(obj["seq"]), obj["record"])
    except (ValueError, KeyError, TypeError):  # orjson.JSONDecodeError is a ValueError
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Append-only JSON-lines journal with an applied-up-to checkpoint (see module doc)."""

    def __init__(self, folder: str | Path, *, segment_bytes: int = 16 << 20, fsync: bool = True):
        self.folder = Path(folder)
        self.segment_bytes = segment_bytes
        self._fsync = fsync
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            os.close(self._lock_fd)
            raise JournalLocked(f"journal {self.folder} is in use by another writer") from e
        self._segments: list[int] = sorted(self._scan())  # first seq of each segment
        self._checkpoint = self._read_checkpoint()
        self._last_seq = self._recover_tail()
        self._file: Any = None  # the open tail segment, opened on first append

    # -- opening ---------------------------------------------------------------------------

    def _scan(self) -> Iterator[int]:
        for p in self.folder.glob(f"{_PREFIX}*{_SUFFIX}"):
            try:
                yield int(p.name[len(_PREFIX) : -len(_SUFFIX)])
            except ValueError:
                log.warning("journal: ignoring stray file %s", p)

    def _path(self, first_seq: int) -> Path:
        return self.folder / f"{_PREFIX}{first_seq:016d}{_SUFFIX}"

    def _read_checkpoint(self) -> int:
        path = self.folder / "checkpoint"
        try:
            return int(json.loads(path.read_bytes())["seq"])
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError, OSError) as e:
            # Only re-applying is at stake (the store is idempotent), never losing.
            log.warning("journal: unreadable checkpoint (%s), replaying all segments", e)
        return self._segments[0] - 1 if self._segments else 0

    def _recover_tail(self) -> int:
        """The last sequence number written; cuts off a torn or garbled tail of the last segment."""
        last = self._checkpoint
        if not self._segments:
            return last
        first = self._segments[-1]
        path = self._path(first)
        data = path.read_bytes()
        good = len(data)
        end_seq: int | None = None
        while good > 0:
            if data[good - 1 : good] != b"\n":
                cut, what = data.rfind(b"\n", 0, good) + 1, "torn"
            else:
                cut, what = data.rfind(b"\n", 0, good - 1) + 1, "garbled"
                entry = _parse(data[cut:good])
                if entry is not None:
                    end_seq = entry.seq
                    break
            log.warning(
                "journal: %s: skipping a %s last line (%d bytes at offset %d; crash mid-write?)",
                path.name, what, good - cut, cut,
            )  # fmt: skip
            good = cut
        if good < len(data):
            with open(path, "r+b") as f:
                f.truncate(good)
                os.fsync(f.fileno())
        return max(last, end_seq if end_seq is not None else first - 1)

    # -- state -----------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest entry (0 for a new journal)."""
        return self._last_seq

    @property
    def checkpoint(self) -> int:
        """Sequence number of the newest entry applied to the database."""
        return self._checkpoint

    @property
    def backlog(self) -> int:
        """Entries written but not yet applied."""
        return self._last_seq - self._checkpoint

    # -- writing ---------------------------------------------------------------------------

    def append(self, records: Iterable[dict[str, Any]]) -> int:
        """Append records as consecutive entries, durably (one write, one fsync); last seq.

        On failure (disk full, I/O error) the segment is cut back to where it was, so the
        journal stays consistent and the same batch can be appended again.
        """
        seq = self._last_seq
        lines = []
        for rec in records:
            seq += 1
            lines.append(orjson.dumps({"seq": seq, "record": rec}, default=str))
        if not lines:
            return self._last_seq
        lines.append(b"")
        data = b"\n".join(lines)
        f = self._tail(self._last_seq + 1)
        start = f.tell()
        try:
            f.write(data)
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())
        except BaseException:
            self._close_file()
            try:
                with open(self._path(self._segments[-1]), "r+b") as g:
                    g.truncate(start)
            except OSError:
                log.exception("journal: could not cut back a failed append")
            raise
        self._last_seq = seq
        return seq

    def _tail(self, next_seq: int) -> Any:
        """The segment to append to, rotating to a new one past the size bound."""
        if self._file is None and self._segments:
            self._file = open(self._path(self._segments[-1]), "ab")
        if self._file is None or self._file.tell() >= self.segment_bytes:
            self._close_file()
            self._new_segment(next_seq)
            self._file = open(self._path(next_seq), "ab")
        return self._file

    def _new_segment(self, first_seq: int) -> None:
        path = self._path(first_seq)
        path.touch(exist_ok=True)
        if self._fsync:
            _fsync_dir(self.folder)
        self._segments.append(first_seq)

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None

    # -- reading and committing ------------------------------------------------------------

    def pending(self) -> Iterator[Entry]:
        """Entries after the checkpoint, in sequence order (garbled lines skipped, logged)."""
        after = self._checkpoint
        segments = list(self._segments)
        for i, first in enumerate(segments):
            nxt = segments[i + 1] if i + 1 < len(segments) else None
            if nxt is not None and nxt - 1 <= after:
                continue  # every entry in it is applied
            try:
                f = open(self._path(first), "rb")
            except FileNotFoundError:
                continue
            with f:
                for n, line in enumerate(f, 1):
                    entry = _parse(line) if line.endswith(b"\n") else None
                    if entry is None:
                        if line.strip():
                            log.warning("journal: %s line %d is garbled, skipped", f.name, n)
                        continue
                    if entry.seq > after and entry.seq <= self._last_seq:
                        yield entry

    def commit(self, seq: int) -> None:
        """Record that every entry up to `seq` is in the database; drop applied segments."""
        seq = min(seq, self._last_seq)
        if seq <= self._checkpoint:
            return
        path = self.folder / "checkpoint"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(json.dumps({"seq": seq}).encode())
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        self._checkpoint = seq
        # Every segment but the open tail whose last entry (next segment's first - 1) is applied.
        while len(self._segments) > 1 and self._segments[1] - 1 <= seq:
            first = self._segments.pop(0)
            try:
                self._path(first).unlink()
            except FileNotFoundError:
                pass

    def close(self) -> None:
        """Close the tail segment and release the folder lock."""
        self._close_file()
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Recordings after the call: off the call's path and off the event loop.

Asterisk writes each leg's recording into the spool (`<home>/spool/recordings/`) and
renames it `.done` when the leg ends. One worker thread of the engine picks finished
files up, compresses each with opusenc (or sox to FLAC) in a subprocess into the dated
store folder, checksums it, and hands the row to the store writer; only then is the spool
file removed, so a crash at any point loses nothing (the next start does it again, and
the row is the same). A `.raw` file that Asterisk can no longer be writing (Asterisk
restarted since it was last touched) is taken as finished too.

The same thread watches the store's disk: free space under `min_free_mb` or a folder it
cannot write makes `health()` say recordings are at risk (the engine's heartbeat and
`/healthz` show it). Calls never wait for any of this.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, or_, select

from callcore.features.recordings.model import (
    CHANNELS,
    RATE,
    RecordingRecord,
    SpoolName,
    duration_of,
    retention_cutoff,
    stored_path,
)
from callcore.features.recordings.tables import Recording
from callcore.store import audit
from callcore.store.kinds import KIND
from callcore.store.models import CallLeg
from config.schema import SiteConfig

log = logging.getLogger(__name__)
SCAN_SECONDS = 1.0  # how often the spool is looked at
DISK_SECONDS = 5.0  # how often the store's disk is checked
RETRY_SECONDS = 30.0  # a file that failed to compress is tried again after this
ENCODE_TIMEOUT = 600.0
rec_t = Recording.__table__
legs_t = CallLeg.__table__


class RecordingError(RuntimeError):
    """A recording that could not be compressed or stored (the call was not affected)."""


def encoder_command(codec: str, bitrate_kbps: int, raw: Path, out: Path) -> list[str]:
    """The argv that compresses a raw two-channel 8 kHz file into `out`."""
    if codec == "opus":
        return [
            "opusenc", "--quiet", "--raw", f"--raw-rate={RATE}", f"--raw-chan={CHANNELS}",
            "--raw-bits=16", "--bitrate", str(bitrate_kbps), "--cvbr", "--comp", "10",
            str(raw), str(out),
        ]  # fmt: skip
    return [
        "sox", "-t", "raw", "-r", str(RATE), "-e", "signed-integer", "-b", "16",
        "-c", str(CHANNELS), "-L", str(raw), "-t", "flac", str(out),
    ]  # fmt: skip


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def audit_entry(
    actor: str, role: str, action: str, target: str, detail: dict[str, Any], error: str = ""
) -> dict[str, Any]:
    """An `audit` row (the store's kind) for an access to recordings."""
    return {KIND: "audit", **audit.row(actor, role, action, target, detail, error)}


class RecordingService:
    """The recordings store of one instance: the worker, disk health, purges, reads."""

    def __init__(
        self,
        config: Callable[[], SiteConfig],
        home: Path,
        submit: Callable[[Any], None],
        db: Callable[[], Engine],
        asterisk_pid_file: Path | None = None,
    ):
        self.config = config
        self.home = home
        self.spool = home / "spool" / "recordings"
        self.submit = submit
        self.db = db
        self.asterisk_pid_file = asterisk_pid_file
        self._health: dict[str, Any] = {"status": "ok"}
        self._failed: dict[str, float] = {}  # spool file -> when to try again
        self.stored = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- where things are --------------------------------------------------------------------
    @property
    def root(self) -> Path:
        """The recordings folder: the config's `recordings.path`, or <home>/recordings."""
        p = self.config().recordings.path
        if not p:
            return self.home / "recordings"
        path = Path(p)
        return path if path.is_absolute() else self.home / path

    def file_of(self, row: dict[str, Any]) -> Path:
        return self.root / row["path"]

    # -- the worker --------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._make_spool()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="recordings", daemon=True)
        self._thread.start()

    def _make_spool(self) -> None:
        """The spool Asterisk writes into, owned like the spool folder it is in (Asterisk
        runs as its own user; the engine may be root)."""
        try:
            self.spool.mkdir(parents=True, exist_ok=True)
            parent = self.spool.parent.stat()
            if os.geteuid() == 0 and self.spool.stat().st_uid != parent.st_uid:
                os.chown(self.spool, parent.st_uid, parent.st_gid)
        except OSError as exc:
            log.error("recordings spool %s cannot be made: %s", self.spool, exc)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        next_disk = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_disk:
                self._health = self.check_disk()
                next_disk = now + DISK_SECONDS
            try:
                self.collect()
            except Exception:  # the worker keeps going; the file is tried again later
                log.exception("recordings: collecting the spool failed")
            self._stop.wait(SCAN_SECONDS)

    def finished_files(self) -> list[Path]:
        """Spool files whose recording has ended: `.done`, or `.raw` left by an Asterisk
        that has restarted since (or is not running)."""
        try:
            entries = list(os.scandir(self.spool))
        except OSError:
            return []
        started = self._asterisk_started()
        out = []
        for e in entries:
            if e.name.endswith(".done"):
                out.append(Path(e.path))
            elif e.name.endswith(".raw") and started is not None:
                try:
                    if e.stat().st_mtime < started:
                        out.append(Path(e.path))
                except OSError:
                    continue
        return sorted(out)

    def _asterisk_started(self) -> float | None:
        """When the running Asterisk started (its pid file); None if unknown."""
        if self.asterisk_pid_file is None:
            return None
        try:
            return self.asterisk_pid_file.stat().st_mtime - 1.0
        except OSError:
            return None

    def collect(self) -> int:
        """Store every finished file in the spool, several at once (`recordings.encoders`);
        returns how many were stored."""
        rec_cfg = self.config().recordings
        if not rec_cfg.enabled and not self.finished_files():
            return 0
        now = time.monotonic()
        due = [p for p in self.finished_files() if self._failed.get(p.name, 0.0) <= now]
        if not due:
            return 0
        workers = min(len(due), rec_cfg.encoders or os.cpu_count() or 1)
        with ThreadPoolExecutor(workers, thread_name_prefix="recordings-encode") as pool:
            return sum(pool.map(self._collect_one, due))

    def _collect_one(self, path: Path) -> int:
        if self._stop.is_set():
            return 0
        try:
            if self.store_file(path) is None:
                return 0
        except (RecordingError, OSError) as exc:
            self._failed[path.name] = time.monotonic() + RETRY_SECONDS
            log.error("recording %s not stored yet (will retry): %s", path.name, exc)
            return 0
        self._failed.pop(path.name, None)
        return 1

    def store_file(self, path: Path) -> RecordingRecord | None:
        """Compress one finished spool file into the store and submit its row."""
        stem = path.name.rsplit(".", 1)[0]
        try:
            name = SpoolName.parse(stem)
        except ValueError:
            log.error("recordings: %s is not a recording's name; left in the spool", path.name)
            self._failed[path.name] = float("inf")
            return None
        raw_size = path.stat().st_size
        if raw_size == 0:  # the leg ended before any audio: nothing to keep
            path.unlink(missing_ok=True)
            return None
        rec_cfg = self.config().recordings
        day = name.started_at.astimezone(ZoneInfo(self.config().site.timezone)).date()
        rel = stored_path(name, rec_cfg.codec, day)
        out = self.root / rel
        self._encode(path, out, rec_cfg.codec, rec_cfg.bitrate_kbps)
        record = RecordingRecord(
            id=name.id,
            linkedid=name.linkedid,
            leg=name.leg,
            seat=self._party(name),
            endpoint=name.endpoint,
            started_at=name.started_at,
            duration=duration_of(raw_size),
            size=out.stat().st_size,
            sha256=sha256_of(out),
            codec=rec_cfg.codec,
            path=rel,
            as_of=time.time(),
        )
        self.submit(record)  # journaled before it is written: the spool file may go now
        path.unlink(missing_ok=True)
        self.stored += 1
        return record

    def _encode(self, raw: Path, out: Path, codec: str, bitrate: int) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_name(out.name + ".part")
        cmd = encoder_command(codec, bitrate, raw, part)
        if shutil.which(cmd[0]) is None:
            raise RecordingError(f"{cmd[0]} is missing (scripts/install-deps.sh installs it)")
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=ENCODE_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            part.unlink(missing_ok=True)
            raise RecordingError(f"{cmd[0]} took over {ENCODE_TIMEOUT:.0f} s") from exc
        if res.returncode != 0:
            part.unlink(missing_ok=True)
            raise RecordingError(f"{cmd[0]} failed: {res.stderr.strip()[:300]}")
        with part.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(part, out)

    def _party(self, name: SpoolName) -> str:
        """Who served the leg on 12345's side: the seat (or supervisor) of the endpoint's
        extension, else the endpoint itself (a trunk's id)."""
        cfg = self.config()
        for s in cfg.seats:
            if s.extension == name.endpoint:
                return s.id
        for sup in cfg.supervisors:
            if sup.extension == name.endpoint:
                return sup.id
        return name.endpoint

    # -- disk health -------------------------------------------------------------------------
    def check_disk(self) -> dict[str, Any]:
        """The store's free space and whether it can be written (blocking: worker thread)."""
        cfg = self.config().recordings
        if not cfg.enabled:
            return {"status": "off"}
        root = self.root
        out: dict[str, Any] = {"status": "ok", "path": str(root), "pending": self._pending()}
        problem = self._writable(root)
        if problem is None:
            st = os.statvfs(root)
            free_mb = st.f_bavail * st.f_frsize // (1 << 20)
            out["free_mb"] = free_mb
            if free_mb < cfg.min_free_mb:
                problem = f"{free_mb} MiB free, under the {cfg.min_free_mb} MiB threshold"
        if problem is not None:
            out.update(status="degraded", problem=problem)
        return out

    def _pending(self) -> int:
        try:
            return sum(1 for e in os.scandir(self.spool) if e.name.endswith((".done", ".raw")))
        except OSError:
            return 0

    @staticmethod
    def _writable(root: Path) -> str | None:
        """None if a file can be created in the folder, else what went wrong."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = root / f".probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            return f"cannot write {root}: {exc.strerror or exc}"
        return None

    def health(self) -> dict[str, Any]:
        """The last disk check (never touches the disk: the event loop may call it)."""
        return dict(self._health)

    # -- reads ---------------------------------------------------------------------------------
    def for_call(self, linkedid: str) -> list[dict[str, Any]]:
        with self.db().connect() as conn:
            q = select(rec_t).where(rec_t.c.linkedid == linkedid).order_by(rec_t.c.started_at)
            return [dict(r) for r in conn.execute(q).mappings()]

    def get(self, rec_id: str) -> dict[str, Any] | None:
        with self.db().connect() as conn:
            row = conn.execute(select(rec_t).where(rec_t.c.id == rec_id)).mappings().first()
            return dict(row) if row is not None else None

    def list(self, since: datetime | None = None, seat: str | None = None, limit: int = 100):
        q = select(rec_t).order_by(rec_t.c.started_at.desc()).limit(limit)
        if since is not None:
            q = q.where(rec_t.c.started_at >= since)
        if seat is not None:
            q = q.where(rec_t.c.seat == seat)
        with self.db().connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def seat_served(self, seat: str, linkedid: str) -> bool:
        """Whether the seat served a leg of the call (a recording of it, or a call leg)."""
        with self.db().connect() as conn:
            q = select(rec_t.c.id).where(rec_t.c.linkedid == linkedid, rec_t.c.seat == seat)
            if conn.execute(q.limit(1)).first() is not None:
                return True
            q2 = select(legs_t.c.id).where(
                legs_t.c.linkedid == linkedid,
                or_(legs_t.c.seat == seat, legs_t.c.from_seat == seat),
            )
            return conn.execute(q2.limit(1)).first() is not None

    def audit(self, actor: str, role: str, action: str, target: str, **detail: Any) -> None:
        """Who touched which recording, when (the store's audit, journaled)."""
        error = str(detail.pop("error", "") or "")
        self.submit(audit_entry(actor, role, action, target, detail, error))

    # -- retention ---------------------------------------------------------------------------------
    def purge(self, now: datetime | None = None, actor: str = "retention") -> list[dict]:
        """Delete recordings past the retention (files, then rows); each one audited."""
        now = now or datetime.now(UTC)
        cutoff = retention_cutoff(now, self.config().recordings.retention_days)
        if cutoff is None:
            return []
        with self.db().connect() as conn:
            rows = [
                dict(r)
                for r in conn.execute(select(rec_t).where(rec_t.c.started_at < cutoff)).mappings()
            ]
        done = []
        for row in rows:
            try:
                self.file_of(row).unlink(missing_ok=True)
            except OSError as exc:
                log.error("recording %s not purged: %s", row["id"], exc)
                continue
            with self.db().begin() as conn:
                conn.execute(delete(rec_t).where(rec_t.c.id == row["id"]))
            self.audit(
                actor, "system", "recording_purge", row["id"],
                linkedid=row["linkedid"], path=row["path"], started_at=row["started_at"],
                retention_days=self.config().recordings.retention_days,
            )  # fmt: skip
            done.append(row)
        return done

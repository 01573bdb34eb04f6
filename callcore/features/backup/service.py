"""Taking a backup and restoring it.

A backup is a folder: the store (SQLite's online backup API, or `pg_dump -Fc` for
PostgreSQL), the secrets file, the journal (its checkpoint and segments) and a manifest with
the rows per table and a checksum per file. The store is copied first and the journal
after it, so whatever the writer had not yet applied when the store was copied is in the
journal copy: a restored engine replays it on start (records are idempotent upserts, so an
entry applied twice is harmless). The recordings' index is a table of the store and comes
with it; the audio files are copied only when asked (they are large and usually kept on
their own storage).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, func, inspect, select, text
from sqlalchemy.engine import make_url

from callcore.instance import Instance
from callcore.store import db

MANIFEST = "manifest.json"
FORMAT = 1


class BackupError(Exception):
    """A backup or restore that cannot be done, with what to do about it."""


@dataclass
class Manifest:
    created_at: str
    store: str  # "sqlite" or "postgresql"
    revision: str | None
    rows: dict[str, int]
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    format: int = FORMAT

    def write(self, folder: Path) -> None:
        (folder / MANIFEST).write_text(
            json.dumps(vars(self), ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8"
        )

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise BackupError(f"{folder}: not a callcore backup ({MANIFEST}: {exc})") from exc


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table of the store (every table, the migrations' own included)."""
    with engine.connect() as conn:
        return _counts(conn)


def _counts(conn: Connection) -> dict[str, int]:
    meta = MetaData()
    meta.reflect(conn)
    return {
        name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in sorted(meta.tables.items())
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            yield path


def _pg_uri(url: str) -> str:
    """libpq's URI for a SQLAlchemy URL (postgresql+psycopg://… -> postgresql://…)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run(argv: list[str], what: str) -> None:
    exe = shutil.which(argv[0])
    if exe is None:
        raise BackupError(f"{what} needs {argv[0]} (apt-get install postgresql-client)")
    res = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        # the URI (with its password) is never echoed: only the tool's own message
        raise BackupError(f"{what} failed: {res.stderr.strip()[-500:]}")


def _copy_sqlite(url: str, dest: Path) -> None:
    """SQLite's online backup: a consistent copy while the writer goes on."""
    src_path = make_url(url).database
    if not src_path or not Path(src_path).exists():
        raise BackupError(f"the store {src_path!r} does not exist")
    src = sqlite3.connect(f"file:{src_path}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(dest)
        try:
            src.backup(out, pages=4096)
        finally:
            out.close()
    finally:
        src.close()


def _dump_postgresql(engine: Engine, url: str, dest: Path) -> dict[str, int]:
    """pg_dump in the snapshot the rows are counted in, so the manifest's counts are the
    dump's own while the writer goes on."""
    argv = ["pg_dump", "-Fc", "-f", str(dest)]
    schema = _search_path(url)
    if schema:
        argv += ["-n", schema]
    with engine.connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        rows = _counts(conn)
        _run([*argv, f"--snapshot={snapshot}", _pg_uri(url)], "pg_dump")
        conn.rollback()
    return rows


def _search_path(url: str) -> str | None:
    """The schema a URL's connections use (`options=-csearch_path=<schema>`), if any."""
    options = str(make_url(url).query.get("options", ""))
    key = "-csearch_path="
    return options.split(key, 1)[1].split()[0].split(",")[0] if key in options else None


def _copy_journal(src: Path, dest: Path) -> None:
    """The checkpoint first, then the segments: a segment copied while the writer appends
    may end in a torn line, which opening the journal cuts off (that batch is also in the
    live journal, and in the store once applied)."""
    dest.mkdir(parents=True, exist_ok=True)
    names = ["checkpoint", *sorted(p.name for p in src.glob("seg-*.jsonl"))] if src.exists() else []
    for name in names:
        path = src / name
        if path.exists():
            shutil.copy2(path, dest / name)


def backup(inst: Instance, target: Path | None = None, *, recordings: Path | None = None) -> Path:
    """Take a backup of `inst` into a new folder under `target` (default
    `<home>/backups`); returns the folder."""
    url = inst.db_url
    engine = db.make_engine(url)
    try:
        revision = db.schema_revision(engine)
        if revision is None:
            raise BackupError(f"the store at {make_url(url).render_as_string()} has no schema yet")
        stamp = datetime.now(UTC)
        folder = (target or inst.home / "backups") / f"callcore-{stamp:%Y%m%dT%H%M%SZ}"
        folder.mkdir(parents=True, exist_ok=False)
        os.chmod(folder, 0o700)  # it holds the secrets
        kind = engine.dialect.name
        if kind == "sqlite":
            _copy_sqlite(url, folder / "store.db")
            copy = db.make_engine(f"sqlite:///{folder / 'store.db'}")
            rows = row_counts(copy)
            copy.dispose()
        else:
            rows = _dump_postgresql(engine, url, folder / "store.pgdump")
    finally:
        engine.dispose()
    if inst.secrets_file.exists():
        shutil.copy2(inst.secrets_file, folder / "secrets.yaml")
        os.chmod(folder / "secrets.yaml", 0o600)
    _copy_journal(inst.journal, folder / "journal")
    if recordings is not None and recordings.exists():
        shutil.copytree(recordings, folder / "recordings")
    manifest = Manifest(stamp.isoformat(), kind, revision, rows)
    manifest.files = {str(p.relative_to(folder)): _sha256(p) for p in _files(folder)}
    manifest.write(folder)
    return folder


def verify(folder: Path) -> Manifest:
    """The manifest of a backup whose files are all there and unchanged."""
    manifest = Manifest.read(folder)
    if manifest.format != FORMAT:
        raise BackupError(
            f"{folder}: backup format {manifest.format}, this callcore reads {FORMAT}"
        )
    for rel, digest in manifest.files.items():
        path = folder / rel
        if not path.exists():
            raise BackupError(f"{folder}: {rel} is missing")
        if _sha256(path) != digest:
            raise BackupError(f"{folder}: {rel} is damaged (checksum differs)")
    return manifest


def _fresh(inst: Instance, engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    if tables - {"alembic_version"}:
        raise BackupError(
            f"the store for {inst.home} already has tables: restore into a fresh home "
            "(and an empty database)"
        )
    if inst.journal.exists() and any(inst.journal.iterdir()):
        raise BackupError(f"{inst.journal} is not empty: restore into a fresh home")


def restore(folder: Path, inst: Instance) -> dict[str, Any]:
    """Restore a verified backup into a fresh instance home; returns the manifest's and the
    restored store's rows per table, which must agree."""
    manifest = verify(folder)
    inst.home.mkdir(parents=True, exist_ok=True)
    url = inst.db_url
    engine = db.make_engine(url)
    try:
        _fresh(inst, engine)
        kind = engine.dialect.name
        if kind != manifest.store:
            raise BackupError(f"the backup holds a {manifest.store} store, this home uses {kind}")
        if kind == "sqlite":
            engine.dispose()
            dest = Path(make_url(url).database or inst.home / "callcore.db")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{dest}{suffix}").unlink(missing_ok=True)
            shutil.copy2(folder / "store.db", dest)
        else:
            _run(["pg_restore", "--no-owner", "-d", _pg_uri(url), str(folder / "store.pgdump")],
                 "pg_restore")
        rows = row_counts(engine)
    finally:
        engine.dispose()
    if (folder / "secrets.yaml").exists():
        shutil.copy2(folder / "secrets.yaml", inst.secrets_file)
        os.chmod(inst.secrets_file, 0o600)
    if (folder / "journal").exists():
        shutil.copytree(folder / "journal", inst.journal, dirs_exist_ok=True)
    return {"expected": manifest.rows, "restored": rows, "revision": manifest.revision}

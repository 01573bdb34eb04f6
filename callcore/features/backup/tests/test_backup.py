"""Backups taken while the writer goes on restore into a fresh home with the same rows, on
SQLite and on PostgreSQL; a damaged backup or a home that is not fresh is refused."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callcore.features.backup.service import BackupError, backup, restore, row_counts, verify
from callcore.instance import Instance
from callcore.records import CallRecord, Outcome, from_epoch
from callcore.store.db import make_engine, query_calls, upgrade
from callcore.store.fixtures import pg_base  # noqa: F401 - fixture
from callcore.store.testing import DEFAULT_PG_URL, temporary_pg_schema
from callcore.store.writer import StoreWriter

PG_URL = os.environ.get("CALLCORE_TEST_PG_URL", DEFAULT_PG_URL)
T0 = 1_760_000_000.0


def calls(n: int, start: int = 0) -> list[CallRecord]:
    return [
        CallRecord(
            linkedid=f"{T0 + i:.0f}.{i}",
            caller_name=f"市民{i}",
            entered_at=from_epoch(T0 + i),
            answered_at=from_epoch(T0 + i + 5),
            ended_at=from_epoch(T0 + i + 60),
            seat=f"G{i % 9:02d}",
            outcome=Outcome.ANSWERED,
            as_of=T0 + i + 60,
        )
        for i in range(start, start + n)
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(the instance, its store URL); PostgreSQL in a schema of its own."""
    if request.param == "sqlite":
        inst = Instance(tmp_path / "home")
        monkeypatch.delenv("CALLCORE_DB_URL", raising=False)
        yield inst, inst.db_url
        return
    request.getfixturevalue("pg_base")
    with temporary_pg_schema(PG_URL) as url:
        monkeypatch.setenv("CALLCORE_DB_URL", url)
        yield Instance(tmp_path / "home"), url


async def test_a_backup_under_writes_restores_the_same_rows(store, tmp_path: Path):
    inst, url = store
    inst.ensure_dirs()
    inst.secrets()
    upgrade(url)
    writer = StoreWriter(url, inst.journal, min_backoff=0.01, max_backoff=0.2)
    writer.start()
    first = calls(300)
    for r in first:
        writer.submit(r)
    await writer.flush()

    async def keep_writing() -> list[CallRecord]:
        more = calls(400, start=300)
        for i, r in enumerate(more):
            writer.submit(r)
            if i % 20 == 0:
                await asyncio.sleep(0.005)
        return more

    writing = asyncio.create_task(keep_writing())
    folder = await asyncio.to_thread(backup, inst, tmp_path / "backups")
    more = await writing
    await writer.close()

    manifest = verify(folder)
    assert manifest.rows["calls"] >= len(first)
    assert (folder / "secrets.yaml").stat().st_mode & 0o777 == 0o600
    original = {c.linkedid for c in query_calls(make_engine(url))}
    assert original == {r.linkedid for r in first + more}

    if make_url(url).get_backend_name() == "postgresql":
        engine = make_engine(PG_URL)
        schema = make_url(url).query["options"].split("=", 1)[1]
        with engine.begin() as conn:  # the database the backup came from is gone
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
    fresh = Instance(tmp_path / "fresh")
    out = restore(folder, fresh)
    assert out["restored"] == out["expected"] == manifest.rows
    assert yaml.safe_load(fresh.secrets_file.read_text()) == yaml.safe_load(
        inst.secrets_file.read_text()
    )
    # the restored engine replays what the journal held beyond the store's copy
    replay = StoreWriter(fresh.db_url, fresh.journal, min_backoff=0.01, max_backoff=0.2)
    replay.start()
    await replay.close()
    restored = {c.linkedid for c in query_calls(make_engine(fresh.db_url))}
    assert {r.linkedid for r in first} <= restored <= original
    assert len(restored) >= manifest.rows["calls"]


def test_a_damaged_backup_and_a_used_home_are_refused(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CALLCORE_DB_URL", raising=False)
    inst = Instance(tmp_path / "home")
    inst.ensure_dirs()
    upgrade(inst.db_url)
    folder = backup(inst, tmp_path / "b")
    assert row_counts(make_engine(inst.db_url))["calls"] == 0
    with pytest.raises(BackupError, match="fresh home"):
        restore(folder, inst)  # the home it came from is not fresh
    (folder / "store.db").write_bytes(b"not a database")
    with pytest.raises(BackupError, match="damaged"):
        verify(folder)
    with pytest.raises(BackupError, match="not a callcore backup"):
        verify(tmp_path)


def test_the_commands_back_up_and_restore(tmp_path: Path, monkeypatch):
    from click.testing import CliRunner

    from callcore.commands import Context
    from callcore.features.backup.cli import backup_cmd, restore_cmd

    monkeypatch.delenv("CALLCORE_DB_URL", raising=False)
    home, fresh = str(tmp_path / "home"), str(tmp_path / "fresh")
    Instance(home).ensure_dirs()
    upgrade(Instance(home).db_url)
    runner = CliRunner()
    out = runner.invoke(backup_cmd, ["--to", str(tmp_path / "b")], obj=Context(home, None))
    assert out.exit_code == 0, out.output
    folder = Path(out.output.splitlines()[0])
    assert "calls" in out.output and folder.is_dir()
    out = runner.invoke(backup_cmd, ["--check", str(folder)], obj=Context(home, None))
    assert out.exit_code == 0 and "ok" in out.output
    out = runner.invoke(restore_cmd, [str(folder)], obj=Context(fresh, None))
    assert out.exit_code == 0, out.output
    assert "restored" in out.output
    out = runner.invoke(restore_cmd, [str(folder)], obj=Context(fresh, None))
    assert out.exit_code == 1 and "fresh home" in out.output

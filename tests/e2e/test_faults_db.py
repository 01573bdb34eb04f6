"""The database away under traffic: SQLite locked, PostgreSQL stopped (a private cluster).

Records go to the journal while the database is away, are replayed in order when it
returns, nothing lost and nothing doubled; the engine says the store is degraded meanwhile.
The outage lasts a minute (CALLCORE_FAULT_SECONDS, default 60).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from callcore.sim.site import SimSite
from tests.e2e.conftest import BASE
from tests.e2e.faults import (
    check_traffic,
    engine_stats,
    health,
    monitor_once,
    start_traffic,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(600)]

OUTAGE = float(os.environ.get("CALLCORE_FAULT_SECONDS", "60"))
PG_PORT = BASE + 900


async def _outage(site: SimSite, fault: str, stop, start) -> None:
    """Traffic across an outage made by `stop()`/`start()`; the checks and figures."""
    n = int(OUTAGE + 16)
    traffic = start_traffic(site, n, 1.0, name=fault.replace(" ", "-"))
    await asyncio.sleep(4)
    await stop()
    down_at = time.monotonic()
    seen = await wait_for(
        lambda: _degraded(site), 20, "the engine to report the database unavailable", 0.5
    )
    assert seen["database"]["status"] != "ok"
    screen = await wait_for(
        lambda: _monitor_degraded(site), 20, "the monitor to show the database degraded", 0.5
    )
    assert screen["available"] and screen["totals"]["today"]["offered"] > 0
    await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
    backlog = (await health(site))["database"].get("backlog", 0)
    await start()
    t0 = time.monotonic()
    await wait_for(lambda: _caught_up(site), 90, "the journal to be replayed", 0.5)
    recover_s = time.monotonic() - t0
    results, _, fig = await check_traffic(site, traffic, fault, timeout=90)
    fig.recover_s = round(recover_s, 2)
    print(fig.show(), {"backlog_at_end_of_outage": backlog, "health_source": seen["source"]})
    assert [r.outcome for r in results].count("answered") == len(results)
    assert backlog > 0, "no record waited in the journal during the outage"


async def _degraded(site: SimSite) -> dict | None:
    h = await health(site)
    return h if h["database"].get("status") not in ("ok", None) else None


async def _monitor_degraded(site: SimSite) -> dict | None:
    snap = await monitor_once(site)
    return snap if "database" in snap.get("degraded", {}) else None


async def _caught_up(site: SimSite) -> bool:
    h = await health(site)
    return h["database"].get("status") == "ok" and h["database"].get("backlog", 1) == 0


async def test_sqlite_locked_under_traffic(site: SimSite):
    path = Path(site.inst.db_url.removeprefix("sqlite:///"))
    holder: list[sqlite3.Connection] = []

    async def lock() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        conn.execute("BEGIN EXCLUSIVE")  # every other writer now gets SQLITE_BUSY
        holder.append(conn)

    async def unlock() -> None:
        conn = holder.pop()
        conn.execute("ROLLBACK")
        conn.close()

    try:
        await _outage(site, "sqlite locked", lock, unlock)
    finally:
        for conn in holder:
            conn.close()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.skip(f"PostgreSQL server binaries ({name}) are not installed")
    return found[-1]


@contextlib.contextmanager
def private_postgres(port: int) -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A throw-away PostgreSQL cluster of our own (never the machine's shared one)."""
    data = Path(tempfile.mkdtemp(prefix="callcore-pg-"))
    os.chmod(data, 0o755)
    shutil.chown(data, "postgres", "postgres")
    pgdata = data / "data"
    as_pg = ["runuser", "-u", "postgres", "--"]

    def run(*argv: str) -> None:
        subprocess.run([*as_pg, *argv], check=True, capture_output=True, timeout=60)

    ctl = _pg_bin("pg_ctl")
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=on"
    run(_pg_bin("initdb"), "-D", str(pgdata), "-A", "trust", "-U", "postgres", "-E", "UTF8")

    def start() -> None:
        run(ctl, "-D", str(pgdata), "-o", opts, "-l", str(data / "log"), "-w", "start")

    def stop() -> None:
        run(ctl, "-D", str(pgdata), "-m", "fast", "-w", "stop")

    try:
        start()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres", start, stop
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            stop()
        shutil.rmtree(data, ignore_errors=True)


async def test_postgresql_stopped_under_traffic(site: SimSite, monkeypatch: pytest.MonkeyPatch):
    with private_postgres(PG_PORT) as (url, start, stop):
        monkeypatch.setenv("CALLCORE_DB_URL", url)
        site._db = None  # the site reads the store from PostgreSQL too
        await site.stop_engine()
        await site.start_engine()
        try:
            await wait_for(lambda: (s := engine_stats(site)) and s["store"]["database"] == "ok",
                           20, "the engine on PostgreSQL")
            await _outage(site, "postgresql stopped", lambda: asyncio.to_thread(stop),
                          lambda: asyncio.to_thread(start))
        finally:
            await site.stop_engine()
            if site._db is not None:
                site._db.dispose()
            site._db = None
            monkeypatch.delenv("CALLCORE_DB_URL")
            await site.start_engine()

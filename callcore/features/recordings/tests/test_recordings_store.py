"""The recordings store on a real database and real encoders: a finished spool file
becomes a compressed file in the dated folder and its row; a file left by a crash is
picked up; retention deletes and audits; the disk check; the API's access rules, Range
replies and audit rows."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, insert, select

from callcore.api.app import make_app
from callcore.api.auth import TokenBook
from callcore.api.events import EventHub
from callcore.features.recordings import api as recordings_api
from callcore.features.recordings import kinds as _kinds  # noqa: F401
from callcore.features.recordings.model import RATE
from callcore.features.recordings.service import RecordingService
from callcore.features.recordings.tables import Recording
from callcore.store.kinds import clean_any, upsert_any
from callcore.store.models import AuditEntry, CallLeg
from callcore.wiring.services import ApiServices
from config.loader import load
from config.schema import SiteConfig

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("opusenc") is None, reason="opus-tools is not installed"),
]
CFG = load()
SEAT = CFG.seats[0]
OTHER = CFG.seats[1]
TOKENS = {
    "sup": {"role": "supervisor", "name": "钱主管"},
    "qa": {"role": "qa", "name": "质检员"},
    "mine": {"role": "seat", "name": "王芳", "seat": SEAT.id},
    "other": {"role": "seat", "name": "李明", "seat": OTHER.id},
}
rec_t = Recording.__table__
audit_t = AuditEntry.__table__


def raw_audio(path: Path, seconds: float, left_hz: float = 440, right_hz: float = 1000) -> Path:
    """Two-channel 8 kHz raw audio as MixMonitor's D option writes it: a tone per side."""
    frames = []
    for i in range(int(seconds * RATE)):
        t = i / RATE
        frames.append(
            struct.pack(
                "<hh",
                int(8000 * math.sin(2 * math.pi * left_hz * t)),
                int(8000 * math.sin(2 * math.pi * right_hz * t)),
            )
        )
    path.write_bytes(b"".join(frames))
    return path


class Env:
    def __init__(self, engine: Engine, home: Path, cfg: SiteConfig):
        self.engine = engine
        self.home = home
        self.cfg = cfg
        self.svc = RecordingService(
            lambda: self.cfg, home, self.submit, lambda: engine, home / "run" / "ast.pid"
        )
        self.svc.spool.mkdir(parents=True, exist_ok=True)

    def submit(self, item: Any) -> None:
        with self.engine.begin() as conn:
            upsert_any(conn, [clean_any(item)])

    def spool_file(self, stem: str, seconds: float, ext: str = ".done") -> Path:
        return raw_audio(self.svc.spool / f"{stem}{ext}", seconds)

    def rows(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(rec_t)).mappings()]

    def audits(self) -> list[dict]:
        with self.engine.connect() as conn:
            q = select(audit_t).order_by(audit_t.c.as_of)
            return [dict(r) for r in conn.execute(q).mappings()]


@pytest.fixture
def env(engine: Engine, tmp_path: Path) -> Iterator[Env]:
    yield Env(engine, tmp_path / "home", CFG)


def stem(linkedid: str, uniqueid: str, leg: str = "seat", ext: str = SEAT.extension) -> str:
    return f"{linkedid}+{leg}+{ext}+{uniqueid}+{int(time.time())}"


def test_a_finished_file_is_compressed_into_the_dated_store(env: Env):
    src = env.spool_file(stem("1800000000.1", "1800000001.2"), 3.0)
    assert env.svc.collect() == 1
    assert not src.exists()  # stored, so gone from the spool
    [row] = env.rows()
    assert (row["id"], row["linkedid"], row["leg"], row["seat"], row["endpoint"]) == (
        "1800000001.2",
        "1800000000.1",
        "seat",
        SEAT.id,
        SEAT.extension,
    )
    assert row["duration"] == 3.0 and row["codec"] == "opus"
    stored = env.svc.file_of(row)
    day = row["started_at"].astimezone().strftime("%Y")
    assert stored.is_file() and stored.relative_to(env.svc.root).parts[0] == day
    assert row["size"] == stored.stat().st_size
    assert row["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert stored.read_bytes()[:4] == b"OggS"
    assert row["size"] < 3.0 * RATE * 4 / 5  # far smaller than the raw audio
    # the same file again (a crash before the spool file went) is the same one row
    env.spool_file(stem("1800000000.1", "1800000001.2"), 3.0)
    env.svc.collect()
    assert len(env.rows()) == 1


def test_several_files_are_compressed_at_once(env: Env):
    """A busy hour ends many calls at a time: the encoders work side by side, each file
    stored once."""
    three = CFG.recordings.model_copy(update={"encoders": 3})
    env.cfg = CFG.model_copy(update={"recordings": three})
    for i in range(6):
        env.spool_file(stem(f"1800000100.{i}", f"1800000101.{i}"), 1.0)
    busy, most = set(), []
    encode = env.svc._encode

    def watched(*args: Any) -> None:
        busy.add(threading.get_ident())
        most.append(len(busy))
        try:
            encode(*args)
            time.sleep(0.05)
        finally:
            busy.discard(threading.get_ident())

    env.svc._encode = watched  # type: ignore[method-assign]
    assert env.svc.collect() == 6
    assert len(env.rows()) == 6 and not list(env.svc.spool.iterdir())
    assert max(most) > 1


def test_flac_when_the_site_wants_it_lossless(env: Env):
    env.cfg = CFG.model_copy(
        update={"recordings": CFG.recordings.model_copy(update={"codec": "flac"})}
    )
    env.spool_file(stem("1800000000.3", "1800000003.4", "trunk", "tax12366"), 1.0)
    env.svc.collect()
    [row] = env.rows()
    assert row["codec"] == "flac" and row["seat"] == "tax12366" and row["leg"] == "trunk"
    assert env.svc.file_of(row).read_bytes()[:4] == b"fLaC"


def test_a_raw_file_left_by_a_crashed_asterisk_is_picked_up(env: Env):
    pid = env.home / "run" / "ast.pid"
    pid.parent.mkdir(parents=True)
    pid.write_text("1\n")
    old = env.spool_file(stem("1800000000.5", "1800000005.6"), 1.0, ext=".raw")
    past = time.time() - 60
    os.utime(old, (past, past))  # last written before this Asterisk started
    live = env.spool_file(stem("1800000000.7", "1800000007.8"), 1.0, ext=".raw")
    assert env.svc.collect() == 1
    assert [r["id"] for r in env.rows()] == ["1800000005.6"]
    assert live.exists()  # still being written: left alone


def test_a_name_that_is_not_a_recording_is_left_alone(env: Env):
    odd = env.spool_file("not-a-recording", 0.1)
    assert env.svc.collect() == 0 and odd.exists() and env.rows() == []


def test_retention_deletes_expired_recordings_and_audits_each(env: Env):
    env.spool_file(stem("1800000000.9", "1800000009.1"), 0.5)
    env.spool_file(stem("1800000000.9", "1800000009.2"), 0.5)
    env.svc.collect()
    keep, expire = sorted(env.rows(), key=lambda r: r["id"])
    with env.engine.begin() as conn:
        old = datetime.now(UTC) - timedelta(days=CFG.recordings.retention_days + 1)
        conn.execute(rec_t.update().where(rec_t.c.id == expire["id"]).values(started_at=old))
    gone = env.svc.purge()
    assert [g["id"] for g in gone] == [expire["id"]]
    assert [r["id"] for r in env.rows()] == [keep["id"]]
    assert not env.svc.file_of(expire).exists() and env.svc.file_of(keep).exists()
    [audit] = env.audits()
    assert (audit["action"], audit["target"], audit["result"]) == (
        "recording_purge",
        expire["id"],
        "ok",
    )
    assert json.loads(audit["detail"])["linkedid"] == "1800000000.9"
    assert env.svc.purge() == []  # nothing left to expire


def test_the_disk_check_says_when_recordings_are_at_risk(env: Env):
    assert env.svc.check_disk()["status"] == "ok"
    env.cfg = CFG.model_copy(
        update={"recordings": CFG.recordings.model_copy(update={"min_free_mb": 10**8})}
    )
    h = env.svc.check_disk()
    assert h["status"] == "degraded" and "threshold" in h["problem"]
    blocker = env.home / "not-a-folder"
    blocker.write_text("x")
    env.cfg = CFG.model_copy(
        update={"recordings": CFG.recordings.model_copy(update={"path": str(blocker)})}
    )
    h = env.svc.check_disk()
    assert h["status"] == "degraded" and "cannot write" in h["problem"]
    env.spool_file(stem("1800000001.1", "1800000001.3"), 0.2)
    assert env.svc.collect() == 0  # kept in the spool until the store can take it
    assert env.svc.check_disk()["pending"] == 1


# -- the API --------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def client(env: Env) -> AsyncIterator[TestClient]:
    env.spool_file(stem("1800000002.1", "1800000002.2"), 2.0)
    env.svc.collect()
    with env.engine.begin() as conn:  # the other seat served another call
        conn.execute(
            insert(CallLeg.__table__),
            {
                "id": "1800000003.1/1", "linkedid": "1800000003.1", "seq": 1, "kind": "queue",
                "seat": OTHER.id, "as_of": 1.0,
            },
        )  # fmt: skip
    services = ApiServices(
        config=lambda: env.cfg, db=env.engine, hub=EventHub(), recordings=env.svc
    )
    app = make_app(services, TokenBook(tokens=TOKENS), apis=[recordings_api.api])
    async with TestClient(TestServer(app)) as c:
        yield c


def auth(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


async def test_the_seat_that_served_a_call_hears_it(client: TestClient, env: Env):
    r = await client.get("/api/v1/calls/1800000002.1/recordings", headers=auth("mine"))
    assert r.status == 200
    [one] = (await r.json())["recordings"]
    assert one["url"] == "/api/v1/recordings/1800000002.2" and one["duration"] == 2.0
    r = await client.get(one["url"], headers=auth("mine"))
    body = await r.read()
    assert r.status == 200 and r.headers["Content-Type"] == "audio/ogg; codecs=opus"
    assert r.headers["Accept-Ranges"] == "bytes" and len(body) == one["size"]
    assert hashlib.sha256(body).hexdigest() == one["sha256"]


async def test_range_requests_get_206(client: TestClient):
    url = "/api/v1/recordings/1800000002.2"
    whole = await (await client.get(url, headers=auth("sup"))).read()
    r = await client.get(url, headers=auth("sup", Range="bytes=10-109"))
    assert r.status == 206 and r.headers["Content-Range"] == f"bytes 10-109/{len(whole)}"
    assert await r.read() == whole[10:110]
    r = await client.get(url, headers=auth("qa", Range="bytes=-20"))
    assert r.status == 206 and await r.read() == whole[-20:]
    r = await client.get(url, headers=auth("sup", Range=f"bytes={len(whole)}-"))
    assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{len(whole)}"
    assert (await r.json())["error"] == "bad_range"


async def test_another_seat_cannot_fetch_and_every_access_is_audited(client: TestClient, env: Env):
    r = await client.get("/api/v1/recordings/1800000002.2", headers=auth("other"))
    assert r.status == 403 and "本座席" in (await r.json())["message"]
    r = await client.get("/api/v1/calls/1800000002.1/recordings", headers=auth("other"))
    assert r.status == 403
    r = await client.get("/api/v1/recordings/1800000002.2", headers=auth("qa"))
    assert r.status == 200
    r = await client.get("/api/v1/recordings/nope", headers=auth("sup"))
    assert r.status == 404
    r = await client.get("/api/v1/calls/1800000003.1/recordings", headers=auth("other"))
    assert r.status == 404  # its own call, with nothing recorded
    seen = [(a["actor"], a["action"], a["target"], a["result"]) for a in env.audits()]
    assert seen == [
        ("李明", "recording_get", "1800000002.2", "error"),
        ("李明", "recording_list", "1800000002.1", "error"),
        ("质检员", "recording_get", "1800000002.2", "ok"),
        ("钱主管", "recording_get", "nope", "error"),
        ("李明", "recording_list", "1800000003.1", "ok"),
    ]
    assert all(a["at"] is not None for a in env.audits())


async def test_without_a_token_or_the_service(client: TestClient, env: Env):
    r = await client.get("/api/v1/recordings/1800000002.2")
    assert r.status == 401
    services = ApiServices(config=lambda: env.cfg, db=env.engine, hub=EventHub())
    app = make_app(services, TokenBook(tokens=TOKENS), apis=[recordings_api.api])
    async with TestClient(TestServer(app)) as c:
        r = await c.get("/api/v1/recordings/1800000002.2", headers=auth("sup"))
        assert r.status == 503

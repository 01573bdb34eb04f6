"""The HTTP API on real parts (SQLite store with its writer, Redis live state, token file):
the OpenAPI description is valid and true to the routes and replies, roles are enforced,
a seat sees its own calls only, actions are audited, the event stream filters by seat and
pops the caller's history, health and metrics report each part."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate
from sqlalchemy import Engine, insert

from callcore.ami import AmiError
from callcore.api.app import ENDPOINTS, SPEC, make_app
from callcore.api.auth import (
    FailedAuth,
    Role,
    TokenBook,
    add_token,
    fingerprint,
    hashed_key,
    list_tokens,
    remove_tokens,
)
from callcore.api.events import EventHub
from callcore.api.openapi import openapi_path
from callcore.features.calls import present
from callcore.features.calls.api import CallOut
from callcore.features.callsout.service import CallsOut
from callcore.features.guard.model import BanFile
from callcore.features.guard.service import GuardService
from callcore.features.knowledge.model import ArticleIn
from callcore.features.knowledge.service import KnowledgeService
from callcore.features.live.state import LiveState
from callcore.features.quality.service import QualityService
from callcore.features.quality.tables import QaSample
from callcore.features.ratings.tables import Rating
from callcore.features.recordings.service import RecordingService
from callcore.features.recordings.tables import Recording
from callcore.features.supervisors.actions import Supervisor
from callcore.features.workorders.service import WorkOrderService
from callcore.records import PUBLIC_FIELDS, Outcome
from callcore.store import db
from callcore.store.writer import StoreWriter
from callcore.wiring.endpoints import APIS
from callcore.wiring.services import ApiServices
from seats.sessions import SeatSessions
from seats.states import SeatBoard
from tests.unit.supervisors_helpers import CFG, REDIS_URL, ago, call, namespace, redis_or_skip

pytestmark = pytest.mark.timeout(120)

TOKENS = {
    "adm-token": {"role": "admin", "name": "管理员"},
    "sup-token": {"role": "supervisor", "name": "钱主管"},
    "g01-token": {"role": "seat", "name": "王芳", "seat": "G01"},
    "g02-token": {"role": "seat", "name": "李娜", "seat": "G02"},
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class FakeAsterisk:
    """Asterisk's side of the AMI actions the supervisor makes, for unit tests (the
    end-to-end tests use the real one): queue members per interface, channels, spies."""

    def __init__(self) -> None:
        self.members: dict[str, dict[str, dict[str, str]]] = {}  # interface -> queue -> entry
        self.channels: list[dict[str, str]] = []
        self.actions: list[dict[str, Any]] = []
        self.supervisor: Supervisor | None = None
        self.answer_spy = True
        self.connected = True
        self.stats = SimpleNamespace(reconnects=0, events=0)

    def login(self, iface: str, name: str, queues: dict[str, int]) -> None:
        self.members[iface] = {
            q: {
                "Queue": q,
                "Name": name,
                "Location": iface,
                "Penalty": str(p),
                "Paused": "0",
                "PausedReason": "",
            }
            for q, p in queues.items()
        }

    async def action(self, fields: dict[str, Any], *, timeout: float | None = None) -> dict:
        self.actions.append(dict(fields))
        a = fields["Action"]
        iface = fields.get("Interface", "")
        if a == "QueuePause":
            if not self.members.get(iface):
                raise AmiError("Interface not found", {"Message": "Interface not found"})
            for e in self.members[iface].values():
                e["Paused"] = "1" if fields["Paused"] == "true" else "0"
                e["PausedReason"] = fields.get("Reason", "") if e["Paused"] == "1" else ""
        elif a == "QueueRemove":
            self.members.get(iface, {}).pop(fields["Queue"], None)
        elif a == "QueueAdd":
            self.members.setdefault(iface, {})[fields["Queue"]] = {
                "Queue": fields["Queue"],
                "Name": fields["MemberName"],
                "Location": iface,
                "Penalty": fields["Penalty"],
                "Paused": "1" if fields["Paused"] == "true" else "0",
                "PausedReason": fields.get("Reason", ""),
            }
        elif a == "QueuePenalty":
            self.members[iface][fields["Queue"]]["Penalty"] = fields["Penalty"]
        elif a == "Originate":
            asyncio.get_running_loop().call_later(0.05, self._spy_result, dict(fields))
        return {"Response": "Success"}

    def _spy_result(self, f: dict[str, Any]) -> None:
        assert self.supervisor is not None
        if self.answer_spy:
            self.supervisor.handle(
                {
                    "Event": "ChanSpyStart",
                    "SpyerUniqueid": f["ChannelId"],
                    "SpyerChannel": f"{f['Channel']}-00000009",
                }
            )
        else:
            self.supervisor.handle(
                {
                    "Event": "OriginateResponse",
                    "ActionID": f["ActionID"],
                    "Response": "Failure",
                    "Reason": "3",
                }
            )

    async def action_list(
        self, fields: dict[str, Any], *, complete_event: str, timeout: float | None = None
    ) -> tuple[dict, list[dict]]:
        if fields["Action"] == "QueueStatus":
            member = fields.get("Member")
            evs = [
                {"Event": "QueueMember", **e}
                for iface, qs in self.members.items()
                for e in qs.values()
                if member in (None, iface)
            ]
            return {"Response": "Success"}, evs
        return {"Response": "Success"}, [{"Event": "CoreShowChannel", **c} for c in self.channels]


@dataclass
class Env:
    client: TestClient
    app: web.Application
    services: ApiServices
    ami: FakeAsterisk
    writer: StoreWriter
    live: LiveState
    hub: EventHub
    secrets: Path
    board: SeatBoard
    linked: dict[str, str] = field(default_factory=dict)


def one_recording(read: Engine, home: Path) -> RecordingService:
    """The recordings service with one stored leg of L-g01-a (a row; its file is not read)."""
    with read.begin() as conn:
        conn.execute(
            insert(Recording.__table__),
            {
                "id": "R-g01-a", "linkedid": "L-g01-a", "leg": "seat", "seat": "G01",
                "endpoint": "8001", "started_at": datetime.now(UTC), "duration": 60.0,
                "size": 1, "sha256": "0" * 64, "codec": "opus", "path": "x.opus", "as_of": 1.0,
            },
        )  # fmt: skip
    return RecordingService(lambda: CFG, home, lambda item: None, lambda: read)


@pytest_asyncio.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    redis_or_skip()
    url = f"sqlite:///{tmp_path}/store.db"
    db.upgrade(url)
    read = db.make_engine(url)
    now = datetime.now(UTC)
    recs = [
        call(
            "L-g01-a",
            ago(30, now),
            wait=3,
            talk=60,
            outcome=Outcome.ANSWERED,
            seat="G01",
            caller="13900000001",
        ),
        call(
            "L-g01-b",
            ago(20, now),
            wait=30,
            talk=60,
            outcome=Outcome.ANSWERED,
            seat="G01",
            caller="13900000002",
            route="q-hrss",
            hotline="12333",
        ),
        call(
            "L-g02-a",
            ago(10, now),
            wait=2,
            talk=60,
            outcome=Outcome.ANSWERED,
            seat="G02",
            caller="13900000001",
        ),
        call("L-ab", ago(5, now), wait=9, outcome=Outcome.ABANDONED, caller="13900000003"),
    ]
    with read.begin() as conn:
        db.upsert_calls(conn, recs)
        conn.execute(insert(Rating.__table__), [{  # 一次一评: L-g01-a was rated 满意
            "linkedid": "L-g01-a", "seat": "G01", "legs": [], "hotline": "12345",
            "zone": "general", "request_id": "", "key": "2", "level": 2, "outcome": "rated",
            "at": ago(29, now), "source": "live", "as_of": 1.0,
        }])  # fmt: skip
    writer = StoreWriter(url, tmp_path / "journal")
    writer.start()
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(yaml.safe_dump({"api_tokens": TOKENS}, allow_unicode=True))
    ami = FakeAsterisk()
    ami.login("PJSIP/8001", "G01", {"q-general": 0, "q-hrss": 2})
    with namespace() as ns:
        hub = EventHub()
        live = LiveState(
            lambda: CFG,
            REDIS_URL,
            ns,
            on_event=hub.publish,
            load_records=lambda since: db.query_calls(read, since=since),
            flush_interval=0.02,
        )
        await live.start()
        board = SeatBoard(lambda: CFG, live.on_seat_change)
        live.model.seat_status = board.status
        sessions = SeatSessions(ami, lambda: CFG, board)
        sup = Supervisor(sessions, lambda: CFG, writer.submit, spy_timeout=2)
        ami.supervisor = sup

        async def history(caller: str, exclude: str) -> list[dict]:
            rows = await asyncio.to_thread(db.query_calls, read, None, None, caller)
            return [present.call_json(r, CFG.site.timezone) for r in rows if r.linkedid != exclude]

        hub.history = history
        services = ApiServices(
            config=lambda: CFG,
            db=read,
            hub=hub,
            ami=ami,
            agi=None,
            writer=writer,
            live=live,
            supervisor=sup,
            knowledge=knowledge_base(read),
            callsout=calls_out(ami, sessions, board, writer, read),
            guard=GuardService(lambda: CFG, BanFile(tmp_path / "bans.json"), _no_acl,
                               writer.submit),
            workorders=work_orders(read),
            quality=qa_desk(read),
            recordings=one_recording(read, tmp_path),
        )
        # every endpoint is tried with a wrong token (the guesser's limit has its own test)
        app = make_app(services, TokenBook(secrets), APIS, FailedAuth(limit=10_000))
        client = TestClient(TestServer(app))
        await client.start_server()
        for _ in range(100):
            if live.available:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # the first heartbeat and the re-applied store
        try:
            yield Env(client, app, services, ami, writer, live, hub, secrets, board)
        finally:
            await client.close()
            await live.close()
            await writer.close(5)
            read.dispose()


# -- the description is valid and true ------------------------------------------------------


async def test_openapi_is_valid_and_describes_every_route(env: Env):
    r = await env.client.get("/openapi.json")
    assert r.status == 200
    spec = await r.json()
    validate(spec)
    described = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    mounted = {
        (route.method, openapi_path(route.resource.canonical))
        for route in env.app.router.routes()
        if route.method != "HEAD" and route.resource.canonical != "/openapi.json"
    }
    assert described == mounted
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert op["summary"] and op["x-role"] in (
                "public", "seat", "supervisor", "admin", "subcentre", "department", "qa"
            )
            if op["x-role"] != "public":
                assert {"401", "403"} <= set(op["responses"]), path


def test_call_out_lists_the_public_fields():
    assert tuple(CallOut.model_fields) == PUBLIC_FIELDS


async def _no_acl(bans: list) -> None:
    """The guard's Asterisk side: no Asterisk here."""


def _schema(spec: dict, path: str, method: str, status: str) -> dict:
    op = spec["paths"][path][method]
    media = op["responses"][status]["content"]
    schema = next(iter(media.values()))["schema"]
    return {**schema, "components": spec["components"]}


async def test_every_reply_matches_its_schema(env: Env):
    spec = env.app[SPEC]
    cases = {
        "/healthz": "/healthz",
        "/api/v1/snapshot": "/api/v1/snapshot",
        "/api/v1/queues": "/api/v1/queues",
        "/api/v1/queues/{queue}": "/api/v1/queues/q-general",
        "/api/v1/seats": "/api/v1/seats",
        "/api/v1/seats/{seat}": "/api/v1/seats/G01",
        "/api/v1/figures": "/api/v1/figures?source=store",
        "/api/v1/calls": "/api/v1/calls?since=2h",
        "/api/v1/calls/{linkedid}": "/api/v1/calls/L-g01-a",
        "/api/v1/audit": "/api/v1/audit",
        # seats, transfers, requests, the sub-centre, the knowledge base
        "/api/v1/seats/{seat}/history": "/api/v1/seats/G01/history",
        "/api/v1/transfer-targets": "/api/v1/transfer-targets",
        "/api/v1/calls/{linkedid}/legs": "/api/v1/calls/L-g01-a/legs",
        "/api/v1/requests": "/api/v1/requests",
        "/api/v1/requests/{request_id}": "/api/v1/requests/L-g01-a",
        "/api/v1/requests/changes": "/api/v1/requests/changes",
        "/api/v1/requests/figures": "/api/v1/requests/figures",
        "/api/v1/department/requests": "/api/v1/department/requests",
        "/api/v1/department/requests/{request_id}": "/api/v1/department/requests/L-g01-a",
        "/api/v1/department/figures": "/api/v1/department/figures",
        "/api/v1/enterprises": "/api/v1/enterprises",
        "/api/v1/subcentre/calls": "/api/v1/subcentre/calls",
        "/api/v1/knowledge/search": "/api/v1/knowledge/search?q=公积金",
        "/api/v1/knowledge/articles": "/api/v1/knowledge/articles",
        "/api/v1/knowledge/articles/{article_id}": "/api/v1/knowledge/articles/gjj-tiqu",
        "/api/v1/reports": "/api/v1/reports",
        "/api/v1/reports/staffing": f"/api/v1/reports/staffing?day={date.today().isoformat()}",
        # calls out: the callback list, its figures, the calls placed
        "/api/v1/callbacks": "/api/v1/callbacks",
        "/api/v1/callbacks/figures": "/api/v1/callbacks/figures",
        "/api/v1/calls-out": "/api/v1/calls-out",
        "/api/v1/bans": "/api/v1/bans",
        # the QA desk
        "/api/v1/qa/samples": "/api/v1/qa/samples?reviewer=all",
        "/api/v1/qa/samples/{linkedid}": "/api/v1/qa/samples/L-g01-a",
        "/api/v1/qa/summary": f"/api/v1/qa/summary?since={date.today().isoformat()}",
        "/api/v1/qa/seats/{seat}/scores": f"/api/v1/qa/seats/G01/scores?since={date.today()}",
        "/api/v1/qa/seats/{seat}/summary": f"/api/v1/qa/seats/G01/summary?since={date.today()}",
        "/api/v1/calls/{linkedid}/recordings": "/api/v1/calls/L-g01-a/recordings",
        "/api/v1/workstation/profile": "/api/v1/workstation/profile",
        "/api/v1/ratings/figures": "/api/v1/ratings/figures?since=2h&by=seat",
        "/api/v1/ratings": "/api/v1/ratings?since=2h",
        "/api/v1/calls/{linkedid}/rating": "/api/v1/calls/L-g01-a/rating",
    }
    gets = {ep.path for ep in env.app[ENDPOINTS] if ep.method == "GET" and ep.response}
    assert gets == set(cases)
    for path, url in cases.items():
        r = await env.client.get(url, headers=auth("adm-token"))
        assert r.status == 200, (url, await r.text())
        body = await r.json()
        jsonschema.validate(body, _schema(spec, path, "get", "200"))
    r = await env.client.post(
        "/api/v1/seats/G01/pause", json={"reason": "meal"}, headers=auth("sup-token")
    )
    assert r.status == 200
    jsonschema.validate(await r.json(), _schema(spec, "/api/v1/seats/{seat}/pause", "post", "200"))
    r = await env.client.post("/api/v1/seats/G02/pause", json={}, headers=auth("sup-token"))
    assert r.status == 409
    jsonschema.validate(await r.json(), _schema(spec, "/api/v1/seats/{seat}/pause", "post", "409"))
    m = await env.client.get("/metrics")
    assert m.status == 200 and m.content_type == "text/plain"


def offered_today() -> int:
    """The env's four calls (30, 20, 10 and 5 minutes ago) that fall on the site's today:
    all of them, except in the half hour after midnight in Asia/Shanghai."""
    now = datetime.now(ZoneInfo(CFG.site.timezone))
    return sum((now - timedelta(minutes=m)).date() == now.date() for m in (30, 20, 10, 5))


def calls_out(ami: Any, sessions: Any, board: Any, writer: Any, read: Any) -> CallsOut:
    """Calls out on the test store (the GET endpoints read the callback list)."""
    seats = SimpleNamespace(sessions=sessions, board=board)
    return CallsOut(lambda: CFG, ami, seats, writer.submit, lambda: read)  # type: ignore[arg-type]
def work_orders(read: object) -> WorkOrderService:
    """The work orders on the test store, with the order of one answered call."""
    service = WorkOrderService(read, lambda: CFG)
    service.register_call("L-g01-a", seat="G01", caller_number="13800000001", hotline="12345")
    return service


def knowledge_base(read: object) -> KnowledgeService:
    """The knowledge base on the test store, with one article."""
    kb = KnowledgeService(read, clock=lambda: datetime.now(UTC), timezone=CFG.site.timezone)
    kb.create(ArticleIn(id="gjj-tiqu", title="住房公积金提取", body="提取公积金需要身份证。",
                        unit="gjj"), "test")  # fmt: skip
    return kb


def qa_desk(read: Any) -> QualityService:
    """The QA desk on the test store, with L-g01-a sampled for QA01."""
    with read.begin() as conn:
        conn.execute(insert(QaSample.__table__), [{
            "linkedid": "L-g01-a", "day": date.today(), "seat": "G01", "reasons": ["random"],
            "reviewer": "QA01", "scorecard": "standard", "drawn_at": datetime.now(UTC),
        }])  # fmt: skip
    return QualityService(read, lambda: CFG)


# -- roles ------------------------------------------------------------------------------------


async def test_roles_are_enforced(env: Env):
    c = env.client
    for ep in env.app[ENDPOINTS]:
        if ep.role is None or ep.method == "WS":
            continue
        path = (
            ep.path.replace("{seat}", "G01")
            .replace("{queue}", "q-general")
            .replace("{linkedid}", "L-g01-a")
            .replace("{request_id}", "L-g01-a")
            .replace("{number}", "051588001234")
            .replace("{article_id}", "gjj-tiqu")
            .replace("{task}", "no-such-task")
            .replace("{address}", "203.0.113.9")
            .replace("{action}", "sign")
            .replace("{recording_id}", "R-g01-a")
        )
        r = await c.request(ep.method, path)
        assert r.status == 401, (ep.method, path)
        r = await c.request(ep.method, path, headers=auth("no-such-token"))
        assert r.status == 401 and (await r.json())["error"] == "unauthorized"
        if ep.role is not Role.SEAT:
            r = await c.request(ep.method, path, headers=auth("g01-token"))
            assert r.status == 403, (ep.method, path)
            assert f"needs {ep.role.value}" in (await r.json())["message"]
    assert env.ami.actions == []  # nothing refused reached Asterisk
    r = await c.get("/healthz")
    assert r.status == 200  # public


async def test_a_seat_sees_its_own_calls_only(env: Env):
    c = env.client
    r = await c.get("/api/v1/calls?since=2h", headers=auth("g01-token"))
    assert {x["linkedid"] for x in (await r.json())["calls"]} == {"L-g01-a", "L-g01-b"}
    r = await c.get("/api/v1/calls?since=2h&seat=G02", headers=auth("g01-token"))
    assert r.status == 403
    r = await c.get("/api/v1/calls/L-g02-a", headers=auth("g01-token"))
    assert r.status == 404
    r = await c.get("/api/v1/calls/L-g01-b", headers=auth("g01-token"))
    assert r.status == 200 and (await r.json())["caller_name"] == "张三"
    r = await c.get("/api/v1/calls?since=2h", headers=auth("sup-token"))
    assert len((await r.json())["calls"]) == 4
    r = await c.get("/api/v1/calls?since=2h&queue=q-hrss&number=12333", headers=auth("sup-token"))
    assert [x["linkedid"] for x in (await r.json())["calls"]] == ["L-g01-b"]
    r = await c.get("/api/v1/calls?since=2h&outcome=abandoned", headers=auth("sup-token"))
    assert [x["linkedid"] for x in (await r.json())["calls"]] == ["L-ab"]
    r = await c.get("/api/v1/calls?since=yesterday", headers=auth("sup-token"))
    assert r.status == 400 and (await r.json())["error"] == "bad_query"
    r = await c.get("/api/v1/seats/G02", headers=auth("g01-token"))
    assert r.status == 403
    r = await c.get("/api/v1/queues", headers=auth("g01-token"))
    assert r.status == 200 and (await r.json())["waiting"] == []


async def test_figures_live_equal_figures_from_the_store(env: Env):
    live = await (
        await env.client.get("/api/v1/figures?source=live", headers=auth("g01-token"))
    ).json()
    store = await (
        await env.client.get("/api/v1/figures?source=store", headers=auth("g01-token"))
    ).json()
    assert live["source"] == "live" and store["source"] == "store"
    assert live["totals"] == store["totals"]
    assert live["totals"]["today"]["offered"] == offered_today()
    for q, f in store["queues"].items():
        assert live["queues"][q] == f, q
    assert live["numbers"] == store["numbers"]


# -- supervisor actions are audited ----------------------------------------------------------


async def test_actions_change_asterisk_and_are_audited(env: Env):
    c, ami = env.client, env.ami
    r = await c.post(
        "/api/v1/seats/G01/pause", json={"reason": "training"}, headers=auth("sup-token")
    )
    assert r.status == 200, await r.text()
    assert all(
        e["Paused"] == "1" and e["PausedReason"] == "training"
        for e in ami.members["PJSIP/8001"].values()
    )
    r = await c.post("/api/v1/seats/G01/pause", json={"reason": "nap"}, headers=auth("sup-token"))
    assert r.status == 400 and (await r.json())["error"] == "unknown_reason"
    r = await c.post("/api/v1/seats/G01/pause", json={"reason": "N A P"}, headers=auth("sup-token"))
    assert r.status == 400 and (await r.json())["error"] == "bad_body"  # not even audited
    r = await c.post("/api/v1/seats/G01/move", json={"zone": "medins"}, headers=auth("sup-token"))
    assert r.status == 200, await r.text()
    moved = ami.members["PJSIP/8001"]
    assert moved["q-medins"]["Penalty"] == "0" and "q-general" not in moved
    assert all(e["Paused"] == "1" for e in moved.values())  # still paused after the move
    r = await c.post("/api/v1/seats/G01/resume", headers=auth("adm-token"))
    assert r.status == 200
    r = await c.post("/api/v1/seats/G01/logoff", headers=auth("sup-token"))
    assert r.status == 200 and ami.members["PJSIP/8001"] == {}
    r = await c.post("/api/v1/seats/G01/resume", headers=auth("sup-token"))
    assert r.status == 409 and (await r.json())["error"] == "logged_off"
    r = await c.post("/api/v1/seats/G99/resume", headers=auth("sup-token"))
    assert r.status == 404
    r = await c.post(
        "/api/v1/seats/G01/spy",
        json={"mode": "listen", "supervisor": "S01"},
        headers=auth("sup-token"),
    )
    assert r.status == 409 and (await r.json())["error"] == "not_in_call"
    ami.channels = [
        {
            "Channel": "PJSIP/8001-0000000a",
            "ChannelStateDesc": "Up",
            "BridgeId": "b1",
            "Uniqueid": "1.10",
        }
    ]
    r = await c.post(
        "/api/v1/seats/G01/spy",
        json={"mode": "whisper", "supervisor": "S01"},
        headers=auth("sup-token"),
    )
    assert r.status == 200, await r.text()
    orig = [a for a in ami.actions if a["Action"] == "Originate"][-1]
    assert orig["Channel"] == "PJSIP/8901" and orig["Exten"] == "whisper"
    assert "CC_SPY_TARGET=PJSIP/8001-0000000a" in orig["Variable"]
    ami.answer_spy = False
    r = await c.post(
        "/api/v1/seats/G01/spy",
        json={"mode": "barge", "supervisor": "S01"},
        headers=auth("sup-token"),
    )
    assert r.status == 502 and (await r.json())["error"] == "supervisor_unreachable"
    await env.writer.flush()
    r = await c.get("/api/v1/audit?seat=G01", headers=auth("sup-token"))
    entries = (await r.json())["entries"]
    got = [(e["action"], e["result"], e["actor"]) for e in reversed(entries)]
    assert got == [
        ("pause", "ok", "钱主管"),
        ("pause", "error", "钱主管"),
        ("move", "ok", "钱主管"),
        ("resume", "ok", "管理员"),
        ("logoff", "ok", "钱主管"),
        ("resume", "error", "钱主管"),
        ("listen", "error", "钱主管"),
        ("whisper", "ok", "钱主管"),
        ("barge", "error", "钱主管"),
    ]
    assert entries[-1]["detail"]["params"] == {"reason": "training"}
    assert entries[-1]["role"] == "supervisor"
    assert "not logged in" in entries[-6]["error"] and "nap" in entries[-2]["error"]


# -- the event stream -----------------------------------------------------------------------------


async def _next(ws, kind: str) -> dict:
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        if msg["type"] == kind:
            return msg


async def _collect(ws, kinds: set[str], each: int = 1, quiet: float = 0.5) -> dict[str, list]:
    """Messages of these kinds until each has `each`, then whatever else comes within
    `quiet` seconds (to see that nothing unwanted follows)."""
    out: dict[str, list] = {k: [] for k in kinds}
    while True:
        done = all(len(v) >= each for v in out.values())
        try:
            msg = await asyncio.wait_for(ws.receive_json(), quiet if done else 5)
        except TimeoutError:
            if done:
                return out
            raise
        if msg["type"] in out:
            out[msg["type"]].append(msg)


async def test_event_stream_filters_by_seat_and_pops_history(env: Env):
    c = env.client
    sup = await c.ws_connect("/api/v1/events", headers=auth("sup-token"))
    g01 = await c.ws_connect("/api/v1/events?access_token=g01-token")
    assert (await _next(sup, "hello"))["data"]["role"] == "supervisor"
    assert (await _next(g01, "hello"))["data"]["seat"] == "G01"

    def both(ev: dict) -> None:  # the engine's order: the seats' board, then the live view
        env.board.handle(ev)
        env.live.handle(ev)

    for seat, ext in (("G02", "8002"), ("G01", "8001")):
        both(
            {
                "Event": "QueueMemberAdded",
                "MemberName": seat,
                "Queue": "q-general",
                "Interface": f"PJSIP/{ext}",
                "Penalty": "0",
                "Paused": "0",
                "Status": "1",
                "InCall": "0",
                "Timestamp": "999",
            }
        )
    for seat, ext in (("G02", "8002"), ("G01", "8001")):
        both(
            {
                "Event": "AgentCalled",
                "MemberName": seat,
                "Linkedid": f"new-{seat}",
                "CallerIDNum": "13900000001",
                "CallerIDName": "张三",
                "Queue": "q-general",
                "Timestamp": "1000",
            }
        )
        both(
            {
                "Event": "QueueMemberStatus",
                "MemberName": seat,
                "Queue": "q-general",
                "Interface": f"PJSIP/{ext}",
                "Paused": "0",
                "Status": "6",
                "Timestamp": "1000.1",
            }
        )
    mine = await _collect(g01, {"seat.offered", "seat.state"}, 1)
    got = mine["seat.offered"]
    assert [g["data"]["linkedid"] for g in got] == ["new-G01"]  # not G02's call
    previous = {p["linkedid"] for p in got[0]["data"]["previous_calls"]}
    assert previous == {"L-g01-a", "L-g02-a"}  # the caller's earlier calls, whoever took them
    assert [(s["data"]["seat"], s["data"]["state"]) for s in mine["seat.state"]] == [
        ("G01", "available"),
        ("G01", "ringing"),
    ]
    seen = (await _collect(sup, {"seat.offered"}, 2))["seat.offered"]
    assert {s["data"]["seat"] for s in seen} == {"G01", "G02"}
    r = await c.get("/api/v1/events?types=nonsense", headers=auth("sup-token"))
    assert r.status == 400
    await sup.close()
    await g01.close()


# -- health, metrics, tokens ---------------------------------------------------------------------


async def test_health_reports_each_part(env: Env):
    h = await (await env.client.get("/healthz")).json()
    assert h["redis"]["status"] == "ok" and h["database"]["status"] == "ok"
    assert h["fastagi"]["status"] == "down" and h["status"] == "degraded"
    env.services.agi_expected = False
    assert (await (await env.client.get("/healthz")).json())["status"] in ("ok", "degraded")
    env.live.available = False
    h = await (await env.client.get("/healthz")).json()
    assert h["redis"]["status"] == "degraded" and h["status"] == "degraded"
    env.live.available = True
    env.services.ami = type("Lost", (), {"connected": False, "stats": env.live})()  # type: ignore[assignment]
    env.services.ami.stats.reconnects = 3  # type: ignore[union-attr]
    env.services.ami.stats.events = 0  # type: ignore[union-attr]
    r = await env.client.get("/healthz")
    assert r.status == 503 and (await r.json())["status"] == "down"


async def test_metrics_show_parts_queues_and_figures(env: Env):
    text = await (await env.client.get("/metrics")).text()
    assert 'callcore_up{part="redis"} 1.0' in text
    today = f'callcore_figure_offered{{key="",scope="all",window="today"}} {offered_today():.1f}'
    assert today in text or offered_today() == 0
    assert 'callcore_queue_waiting{queue="q-general"}' in text
    assert "callcore_seats{" in text


def test_tokens_are_added_listed_and_revoked(tmp_path: Path):
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump({"ami_secret": "x", "api_tokens": {}}))
    book = TokenBook(path)
    tok = add_token(path, Role.SEAT, "王芳", "G01")
    assert (path.stat().st_mode & 0o777) == 0o600
    ident = book.identify(tok)
    assert ident is not None and ident.role is Role.SEAT and ident.seat == "G01"
    assert yaml.safe_load(path.read_text())["ami_secret"] == "x"  # the rest is kept
    with pytest.raises(ValueError):
        add_token(path, Role.SEAT, "no seat")
    listed = list_tokens(path)
    assert listed == [
        {"id": fingerprint(tok), "name": "王芳", "role": "seat", "seat": "G01", "unit": ""}
    ]
    assert tok not in json.dumps(listed)
    assert remove_tokens(path, "王芳") == 1
    assert book.identify(tok) is None


def test_openapi_schemas_for_bodies_and_queries(env: Env):
    spec = env.app[SPEC]
    op = spec["paths"]["/api/v1/calls"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"since", "until", "caller", "seat", "outcome", "queue", "number", "limit"} <= names
    body = spec["paths"]["/api/v1/seats/{seat}/pause"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    reason = spec["components"]["schemas"][ref]["properties"]["reason"]
    assert reason["default"] == "break" and reason["pattern"] and reason["description"]


def test_ages_and_times(env: Env):
    from callcore.features.calls.api import _when

    now = datetime.now(UTC)
    assert (
        abs((_when("30m", "Asia/Shanghai", None) - (now - timedelta(minutes=30))).total_seconds())
        < 5
    )
    assert _when("2025-01-02T03:04:05", "Asia/Shanghai", None).utcoffset() == timedelta(hours=8)


def test_roles_outside_the_order_allow_only_their_own_endpoints():
    assert Role.SUPERVISOR.allows(Role.SEAT) and not Role.SEAT.allows(Role.SUPERVISOR)
    assert Role.QA.allows(Role.QA) and Role.SUPERVISOR.allows(Role.QA)
    assert Role.ADMIN.allows(Role.QA)
    assert not Role.SEAT.allows(Role.QA) and not Role.QA.allows(Role.SEAT)
    assert not Role.QA.allows(Role.SUPERVISOR)
    assert Role.DEPARTMENT.allows(Role.DEPARTMENT) and Role.ADMIN.allows(Role.DEPARTMENT)
    assert not Role.SUPERVISOR.allows(Role.DEPARTMENT) and not Role.DEPARTMENT.allows(Role.SEAT)
    assert not Role.SUBCENTRE.allows(Role.SEAT) and Role.ADMIN.allows(Role.SUBCENTRE)


def test_a_department_token_names_its_unit(tmp_path):
    path = tmp_path / "secrets.yaml"
    with pytest.raises(ValueError, match="unit"):
        add_token(path, Role.DEPARTMENT, "市住建局")
    with pytest.raises(ValueError, match="unit"):
        add_token(path, Role.QA, "质检员", unit="u-zj")
    tok = add_token(path, Role.DEPARTMENT, "市住建局 张科员", unit="u-zj")
    ident = TokenBook(path).identify(tok)
    assert ident is not None and ident.role is Role.DEPARTMENT and ident.unit == "u-zj"
    assert [t["unit"] for t in list_tokens(path)] == ["u-zj"]


def test_the_secrets_file_keeps_only_hashes_of_tokens(tmp_path: Path):
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump({"api_tokens": {"old-clear-token": {"role": "admin"}}}))
    tok = add_token(path, Role.SUPERVISOR, "钱主管")
    text = path.read_text()
    assert tok not in text and "old-clear-token" not in text  # the older one is hashed too
    book = TokenBook(path)
    assert book.identify(tok).role is Role.SUPERVISOR
    assert book.identify("old-clear-token").role is Role.ADMIN
    assert book.identify(tok + "x") is None and book.identify(hashed_key(tok)) is None


def test_an_instance_hashes_tokens_an_older_file_kept_in_the_clear(tmp_path: Path):
    from callcore.instance import Instance

    inst = Instance(tmp_path / "home")
    inst.home.mkdir()
    inst.secrets_file.write_text(yaml.safe_dump({"api_tokens": {"clear-tok": {"role": "qa"}}}))
    inst.secrets()
    assert "clear-tok" not in inst.secrets_file.read_text()
    assert TokenBook(inst.secrets_file).identify("clear-tok").role is Role.QA


def test_failed_authentications_are_limited_per_address():
    now = [0.0]
    fa = FailedAuth(limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert fa.retry_after("10.0.0.9") is None
        fa.failed("10.0.0.9")
    assert fa.retry_after("10.0.0.9") == 60
    assert fa.retry_after("10.0.0.8") is None  # another address goes on
    now[0] = 30.0
    assert fa.retry_after("10.0.0.9") == 30
    now[0] = 60.5
    assert fa.retry_after("10.0.0.9") is None  # the oldest failures left the window


async def test_a_token_guesser_gets_429_with_retry_after(tmp_path: Path):
    from callcore.api.auth import middleware

    path = tmp_path / "secrets.yaml"
    tok = add_token(path, Role.SEAT, "王芳", "G01")

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[middleware(TokenBook(path), FailedAuth(limit=3))])
    app.router.add_get("/x", hello)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/x", headers={"Authorization": f"Bearer {tok}"})).status == 200
        for _ in range(3):
            r = await client.get("/x", headers={"Authorization": "Bearer guess"})
            assert r.status == 401
        r = await client.get("/x", headers={"Authorization": "Bearer guess"})
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        assert (await r.json())["error"] == "too_many_failures"


async def test_bans_are_listed_and_only_an_admin_lifts_one(env: Env):
    guard = env.services.guard
    for i in range(guard._config().guard.max_failures):
        guard.on_failure({"Event": "InvalidAccountID", "SessionID": f"s{i}",
                          "RemoteAddress": "IPV4/UDP/203.0.113.9/5060"})
    r = await env.client.get("/api/v1/bans", headers=auth("sup-token"))
    assert [b["address"] for b in (await r.json())["bans"]] == ["203.0.113.9"]
    r = await env.client.delete("/api/v1/bans/203.0.113.9", headers=auth("sup-token"))
    assert r.status == 403
    r = await env.client.delete("/api/v1/bans/203.0.113.9", headers=auth("adm-token"))
    assert r.status == 200 and (await r.json())["failures"] >= 1
    r = await env.client.delete("/api/v1/bans/203.0.113.9", headers=auth("adm-token"))
    assert r.status == 404 and (await r.json())["error"] == "not_banned"

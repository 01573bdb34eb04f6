"""The engine's side of work orders on a real store: answered calls register their order
off the loop, once, and wait while the store is away; the sweep finds what was missed;
the daily batch (JSON Lines and CSV) holds the day's orders with their calls."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from callcore.features.workorders import export
from callcore.features.workorders.intake import WorkOrderIntake
from callcore.features.workorders.model import Action, State, WorkOrder
from callcore.features.workorders.service import WorkOrderService
from callcore.records import CallRecord, Outcome
from callcore.store.db import upsert_rows
from callcore.store.models import AuditEntry
from callcore.store.rows import clean_row
from config.schema import SiteConfig

from .conftest import ADMIN, RENSHE, SEAT, Clock, local

pytestmark = pytest.mark.timeout(60)
T0 = datetime(2025, 9, 29, 1, 30, tzinfo=UTC)  # 09:30 in Asia/Shanghai


def answered(linkedid: str, seat: str = "G01", at: datetime = T0) -> CallRecord:
    return CallRecord(
        linkedid=linkedid, as_of=at.timestamp(), caller_number="13800001234", caller_name="李四",
        hotline="12345", dialed_number="12345", seat=seat, entered_at=at - timedelta(seconds=20),
        answered_at=at, ended_at=at + timedelta(minutes=3), outcome=Outcome.ANSWERED,
        wait_seconds=20.0, talk_seconds=180.0,
    )  # fmt: skip


async def until(check, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not done in time")


async def test_answered_calls_register_once_and_wait_for_the_store(
    service: WorkOrderService, site: SiteConfig
):
    told: list[WorkOrder] = []
    intake = WorkOrderIntake(lambda: site, service, on_change=[told.append])
    ready = [False]  # the store is away at first
    task = asyncio.create_task(intake.run(lambda: ready[0]))
    try:
        intake.on_record(CallRecord(linkedid="L-ringing", as_of=1.0, seat="G01"))  # no answer
        intake.on_record(answered("L-12366", seat="tax12366"))  # the sub-centre: not ours
        intake.on_record(answered("L-1"))
        intake.on_record(answered("L-1"))  # the next snapshot of the same call
        await asyncio.sleep(0.3)
        assert service.query(ADMIN) == [] and intake.registered == 0
        ready[0] = True
        await until(lambda: intake.registered == 1, seconds=6)
        intake.on_record(answered("L-1"))  # after a restart's replay: nothing new
        intake.on_record(answered("L-2", seat="G02"))
        await until(lambda: intake.registered == 2)
    finally:
        task.cancel()
    orders = {o.id: o for o in service.query(ADMIN)}
    assert set(orders) == {"L-1", "L-2"}
    assert (orders["L-1"].seat, orders["L-1"].caller_name, orders["L-1"].hotline) == (
        "G01", "李四", "12345",
    )  # fmt: skip
    assert len(service.history("L-1", ADMIN)) == 1
    intake.changed(orders["L-1"])
    assert told == [orders["L-1"]]


async def test_the_sweep_registers_what_the_store_has_and_the_orders_lack(
    service: WorkOrderService, engine: Engine, site: SiteConfig
):
    with engine.begin() as conn:
        upsert_rows(conn, [clean_row(answered(i)) for i in ("L-7", "L-8")])
        upsert_rows(conn, [clean_row(answered("L-9", seat="tax12366"))])
    intake = WorkOrderIntake(lambda: site, service)
    assert await intake.sweep(T0 + timedelta(hours=1)) == 2
    assert await intake.sweep(T0 + timedelta(hours=1)) == 0
    assert {o.id for o in service.query(ADMIN)} == {"L-7", "L-8"}


def day_of_orders(service: WorkOrderService, engine: Engine, clock: Clock) -> None:
    """On 2025-09-28: L-old registered; on 09-29: L-new registered and dispatched, L-old
    closed on the spot; on 09-30: L-late registered."""
    with engine.begin() as conn:
        upsert_rows(conn, [clean_row(answered("L-new"))])
    clock.at = local(2025, 9, 28, 15)
    service.register_call("L-old", seat="G01", caller_number="13900000000")
    service.register_call("L-quiet", seat="G01")  # nothing happens to it on the 29th
    clock.at = local(2025, 9, 29, 10)
    service.register_record(answered("L-new"))
    service.complete("L-new", SEAT, {"content": "噪音扰民", "type": "投诉", "confidential": True})
    service.act("L-new", SEAT, Action.DISPATCH, {"lead": "renshe"})
    service.act("L-new", RENSHE, Action.SIGN)
    service.act("L-old", SEAT, Action.CLOSE_ON_SPOT, {"result": "已当场答复"})
    clock.at = local(2025, 9, 30, 8)
    service.register_call("L-late", seat="G01")


def test_the_days_batch_holds_its_orders_with_their_calls(
    service: WorkOrderService, engine: Engine, clock: Clock, tmp_path: Path
):
    day_of_orders(service, engine, clock)
    batch = export.write_day(engine, date(2025, 9, 29), "Asia/Shanghai", tmp_path, "cli")
    assert batch.orders == 2 and batch.jsonl.parent == tmp_path
    head, *lines = [json.loads(x) for x in batch.jsonl.read_text("utf-8").splitlines()]
    assert head == {"batch": {"format": "callcore.workorders", "version": 1, "day": "2025-09-29"}}
    by = {x["id"]: x for x in lines}
    assert set(by) == {"L-new", "L-old"}
    new = by["L-new"]
    assert (new["state"], new["state_label"], new["lead_unit"]) == ("signed", "办理中", "renshe")
    assert new["confidential"] is True and new["caller_number"] == "13800001234"
    assert set(new) == {*export.ORDER_FIELDS, "calls", "history"}
    (c,) = new["calls"]
    assert (c["linkedid"], c["seat"], c["outcome"], c["talk_seconds"]) == (
        "L-new", "G01", "answered", 180.0,
    )  # fmt: skip
    assert [h["action"] for h in new["history"]] == ["register", "complete", "dispatch", "sign"]
    assert by["L-old"]["calls"] == [] and by["L-old"]["state"] == "closed"

    raw = batch.csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheets read the Chinese
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [(r["id"], r["call_linkedid"]) for r in rows] == [("L-new", "L-new"), ("L-old", "")]
    assert rows[0]["confidential"] == "1" and rows[0]["call_talk_seconds"] == "180.0"
    assert rows[0]["content"] == "噪音扰民" and rows[0]["type"] == "投诉"

    t = AuditEntry.__table__
    with engine.connect() as conn:
        audit = conn.execute(select(t).where(t.c.action == "workorder_export")).mappings().one()
    assert (audit["actor"], audit["target"]) == ("cli", "2025-09-29")
    assert json.loads(audit["detail"]) == {"orders": 2}


def test_the_engine_writes_the_day_befores_batch_once(
    service: WorkOrderService, engine: Engine, clock: Clock, tmp_path: Path
):
    day_of_orders(service, engine, clock)
    now = local(2025, 9, 30, 0, 5)
    folder = tmp_path / "exports"
    first = export.ensure_yesterday(engine, "Asia/Shanghai", folder, now)
    assert first is not None and (first.day, first.orders) == (date(2025, 9, 29), 2)
    assert export.ensure_yesterday(engine, "Asia/Shanghai", folder, now) is None
    assert sorted(p.name for p in folder.iterdir()) == [
        "workorders-2025-09-29.csv", "workorders-2025-09-29.jsonl",
    ]  # fmt: skip
    assert service.get("L-quiet", ADMIN).state is State.REGISTERED  # in no batch: untouched

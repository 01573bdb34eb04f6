"""The seats' records in the store (store/kinds.py through the writer), the first-contact
index (following work orders) and the enterprise register; SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

import config
from callcore.features.enterprises import register as enterprises
from callcore.features.firstcontact.index import FirstContactIndex, recent_contacts
from callcore.features.transfers.legs import LegRecord
from callcore.features.workorders.model import Actor, Role, State, WorkOrder
from callcore.features.workorders.service import WorkOrderService
from callcore.records import CallRecord, Outcome, from_epoch
from callcore.store.db import make_engine, upgrade, upsert_calls
from callcore.store.kinds import KIND, clean_kind, upsert_any
from callcore.store.models import CallLeg
from callcore.store.rows import RejectedRecord
from callcore.store.testing import DEFAULT_PG_URL
from callcore.store.writer import StoreWriter
from seats.history import changes, last_changes
from seats.states import SeatChange

pytestmark = pytest.mark.timeout(60)
CFG = config.load()
ADMIN = Actor("admin", Role.ADMIN)
PG_URL = os.environ.get("CALLCORE_TEST_PG_URL", DEFAULT_PG_URL)
T0 = 1_790_000_000.0


def change(seat: str, state: str, at: float, reason: str = "", id: str | None = None) -> SeatChange:
    return SeatChange(id or f"{seat}-{at}", seat, state, reason, "general",
                      from_epoch(at), "", "asterisk", at)  # fmt: skip


def leg(seq: int, as_of: float, **kw) -> LegRecord:
    return LegRecord(id=f"L1/{seq}", linkedid="L1", seq=seq, kind=kw.pop("kind", "queue"),
                     target=kw.pop("target", "q-general"), as_of=as_of, **kw)  # fmt: skip


def write(engine: Engine, *records) -> None:
    with engine.begin() as conn:
        upsert_any(conn, [clean_kind(r) for r in records])


def test_records_of_other_kinds_are_cleaned_from_their_columns():
    row = clean_kind(leg(0, T0, target="q" * 500, started_at=datetime(2025, 1, 1, 8, 0)))
    assert row[KIND] == "call_leg" and len(row["target"]) == 128
    assert row["started_at"] == datetime(2025, 1, 1, 8, 0, tzinfo=UTC)  # naive taken as UTC
    assert row["seat"] == "" and row["ended_at"] is None
    journaled = {**row, "started_at": "2025-01-01T08:00:00+00:00"}  # read back from the journal
    assert clean_kind(journaled)["started_at"] == row["started_at"]
    for bad in (
        {**row, KIND: "nonsense"},
        {**row, "id": ""},
        {**row, "started_at": "yesterday"},
        {**row, "as_of": float("nan")},
        {k: v for k, v in row.items() if k != "kind"},
    ):
        with pytest.raises(RejectedRecord):
            clean_kind(bad)


def test_legs_and_seat_changes_are_idempotent_and_newest_wins(engine):
    write(engine, leg(0, T0), leg(0, T0 + 2, seat="G01", outcome="answered"), leg(0, T0 + 1))
    write(engine, leg(0, T0 + 1, seat="stale"))  # an older snapshot, replayed
    with engine.connect() as conn:
        rows = conn.execute(select(CallLeg.__table__)).mappings().all()
    assert [(r["seat"], r["outcome"]) for r in rows] == [("G01", "answered")]
    a, b = change("G01", "available", T0), change("G01", "paused", T0 + 5, "meal")
    write(engine, a, b, a)
    write(engine, b)
    assert [(c.state, c.reason) for c in changes(engine, "G01")] == [
        ("available", ""), ("paused", "meal")
    ]  # fmt: skip
    assert last_changes(engine)["G01"].state == "paused"


async def test_the_writer_journals_and_stores_every_kind(url: str, tmp_path: Path):
    upgrade(url)
    w = StoreWriter(url, tmp_path / "journal")
    w.start()
    call = CallRecord("L1", caller_number="13800000000", entered_at=from_epoch(T0), as_of=T0)
    for r in (call, change("G01", "talking", T0), leg(0, T0),
              enterprises.EnterpriseRecord("051588001234", "某公司", True, T0)):  # fmt: skip
        w.submit(r)
    w.submit(leg(0, T0 + 1, kind="nonsense-kind-but-short", seat="G01"))  # any text is a kind
    await w.flush()
    assert w.stats()["rejected"] == 0
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            for table in ("calls", "seat_events", "call_legs", "enterprise_contacts"):
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 1, table
            seat = conn.execute(select(CallLeg.__table__.c.seat)).scalar_one()
            assert seat == "G01"  # the newer snapshot of leg 0
        assert enterprises.numbers(eng) == {"051588001234"}
    finally:
        eng.dispose()
    await w.close()
    # a second writer on the same journal replays nothing twice
    w2 = StoreWriter(url, tmp_path / "journal")
    w2.start()
    await w2.flush()
    await w2.close()


def test_first_contact_index_follows_answers_orders_and_the_window():
    now = [T0]
    idx = FirstContactIndex(lambda: CFG, clock=lambda: now[0])
    answered = from_epoch(T0 - 60)
    idx.on_record(
        CallRecord("A1", caller_number="+8613800000001", seat="G03", answered_at=answered)
    )
    assert idx.seat_for("13800000001") == "G03"  # the same caller however the number comes
    assert idx.seat_for("008613800000001") == "G03"
    idx.on_record(CallRecord("A2", caller_number="13800000002", seat="tax12366",
                             answered_at=answered))  # fmt: skip
    assert idx.seat_for("13800000002") is None  # the sub-centre is not a seat of the floor
    idx.on_request(WorkOrder(id="A1", state=State.FOLLOWED_UP, registered_at=answered,
                             updated_at=answered))  # fmt: skip
    assert idx.seat_for("13800000001") == "G03"  # followed up, not closed: still the seat's
    idx.on_request(WorkOrder(id="A1", state=State.CLOSED, registered_at=answered,
                             updated_at=answered))  # fmt: skip
    assert idx.seat_for("13800000001") is None
    idx.on_record(CallRecord("A3", caller_number="13800000001", seat="G05",
                             answered_at=from_epoch(T0 - 30)))  # fmt: skip
    assert idx.seat_for("13800000001") == "G05"
    now[0] = T0 + CFG.first_contact.window_minutes * 60 + 1
    assert idx.seat_for("13800000001") is None  # too long ago


def test_first_contacts_are_rebuilt_from_the_store(engine):
    now = datetime.now(UTC)

    def answered(linkedid: str, caller: str, seat: str, ago: timedelta) -> CallRecord:
        return CallRecord(linkedid, caller_number=caller, seat=seat, answered_at=now - ago,
                          outcome=Outcome.ANSWERED, as_of=T0)  # fmt: skip

    with engine.begin() as conn:
        upsert_calls(conn, [
            answered("R1", "139001", "G01", timedelta(hours=1)),
            answered("R2", "139002", "G02", timedelta(hours=2)),
            answered("R3", "139003", "G03", timedelta(days=30)),
        ])  # fmt: skip
    orders = WorkOrderService(engine, lambda: CFG)
    orders.register_call("R2", seat="G02", caller_number="139002")
    orders.act("R2", ADMIN, "close_on_spot", {"result": "已当场答复"})
    rows = recent_contacts(engine, CFG.first_contact.window_minutes)
    assert {r[3] for r in rows} == {"R1", "R2"}
    idx = FirstContactIndex(lambda: CFG)
    idx.load(rows)
    assert idx.seat_for("139001") == "G01"  # no work order yet: open
    assert idx.seat_for("139002") is None  # closed
    assert idx.seat_for("139003") is None  # outside the window


def test_one_key_per_caller_however_the_number_comes():
    from config.directory import national

    for shape in ("13800000001", "+8613800000001", "008613800000001", "8613800000001"):
        assert national(shape, "0515") == "13800000001"
    for shape in ("051588001234", "+8651588001234", "0515-8800 1234", "88001234"):
        assert national(shape, "0515") == "51588001234"
    assert national("", "0515") == "" and national("abc", "0515") == ""


def test_enterprise_register(engine):
    assert enterprises.normalize("+86 515-8800 1234") == "51588001234"
    assert enterprises.normalize("0515 88001234") == "51588001234"
    with pytest.raises(enterprises.EnterpriseError):
        enterprises.normalize("call me")
    enterprises.put(engine, "051588001234", "盐城某某科技有限公司")
    enterprises.put(engine, "051588005678", "另一家公司")
    enterprises.put(engine, "+8651588005678", "", active=False)
    assert enterprises.numbers(engine) == {"51588001234"}
    assert [(e.number, e.active) for e in enterprises.listing(engine)] == [
        ("51588001234", True), ("51588005678", False)
    ]  # fmt: skip

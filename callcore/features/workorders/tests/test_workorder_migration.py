"""Migrations 0004_workorders and 0008_requests_into_workorders on SQLite and PostgreSQL:
existing requests become work orders with their history, up and down; at 0008 the
`requests` table's last rows become orders and the table goes, and comes back on the way
down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, MetaData, Table, inspect, select

from callcore.features.workorders.model import Action, State
from callcore.features.workorders.service import WorkOrderService
from callcore.features.workorders.tables import WorkOrderRev
from callcore.records import CallRecord
from callcore.store.db import alembic_config, make_engine, schema_revision, upgrade, upsert_rows
from callcore.store.rows import clean_row
from config.schema import SiteConfig

from .conftest import ADMIN, RENSHE, SUPERVISOR, Clock, local

NEW_TABLES = {"workorders", "workorder_units", "workorder_events", "workorder_rev"}
T0 = datetime(2025, 9, 20, 1, 0, tzinfo=UTC)
LEGACY = {  # id -> (status, the state it becomes)
    "1758330000.1": ("registered", State.REGISTERED),
    "1758330000.2": ("dispatched", State.DISPATCHED),
    "1758330000.3": ("handled", State.REPLIED),
    "1758330000.4": ("followed_up", State.FOLLOWED_UP),
    "1758330000.5": ("closed", State.CLOSED),
}


@pytest.fixture
def old_store(url: str) -> Iterator[Engine]:
    """A store at 0003_audit holding a call and a request of each status."""
    upgrade(url, "0003_audit")
    engine = make_engine(url)
    with engine.begin() as conn:
        for i, (rid, (status, _)) in enumerate(LEGACY.items()):
            rec = CallRecord(
                linkedid=rid,
                as_of=T0.timestamp(),
                caller_number=f"1380000000{i}",
                caller_name="王女士",
                hotline="12333",
                seat="G03",
                answered_at=T0,
            )
            upsert_rows(conn, [clean_row(rec)])
            add_request(conn, {
                "id": rid, "linkedid": rid, "caller_number": rec.caller_number,
                "seat": "G03", "status": status, "registered_at": T0,
                "status_at": T0.replace(hour=2 + i), "status_by": "S01", "note": f"诉求{i}",
                "as_of": T0.timestamp() + i,
            })  # fmt: skip
        add_request(conn, {
            "id": "no-call", "linkedid": "", "caller_number": "", "seat": "",
            "status": "registered", "registered_at": None, "status_at": None, "status_by": "",
            "note": "", "as_of": 1.0,
        })  # fmt: skip
    yield engine
    engine.dispose()


def add_request(conn: Connection, row: dict) -> None:
    """A row of the old `requests` table (its model is gone; the table is reflected)."""
    conn.execute(Table("requests", MetaData(), autoload_with=conn).insert().values(row))


def requests_rows(engine: Engine) -> dict[str, dict]:
    with engine.connect() as conn:
        t = Table("requests", MetaData(), autoload_with=conn)
        return {r["id"]: dict(r) for r in conn.execute(select(t)).mappings()}


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def test_existing_requests_become_work_orders_and_come_back(
    old_store: Engine, site: SiteConfig
) -> None:
    before = requests_rows(old_store)
    upgrade(old_store, "0004_workorders")
    assert schema_revision(old_store) == "0004_workorders"
    assert NEW_TABLES <= set(inspect(old_store).get_table_names())
    assert requests_rows(old_store) == before  # untouched for today's readers

    service = WorkOrderService(old_store, lambda: site, Clock(local(2025, 9, 22, 9)))
    orders = {o.id: o for o in service.query(ADMIN)}
    assert set(orders) == {*LEGACY, "no-call"}
    for i, (rid, (status, state)) in enumerate(LEGACY.items()):
        o = orders[rid]
        assert (o.state, o.seat, o.hotline, o.caller_name) == (state, "G03", "12333", "王女士")
        assert (o.calls_in, o.content, o.registered_at) == ((rid,), f"诉求{i}", T0)
        history = service.history(rid, ADMIN)
        assert history[0].action is Action.REGISTER and history[0].at == T0
        if state is not State.REGISTERED:
            assert [e.action for e in history] == [Action.REGISTER, Action.MIGRATE]
            assert history[1].detail == {"legacy_status": status}
            assert (history[1].actor, history[1].at) == ("S01", T0.replace(hour=2 + i))
    assert orders["1758330000.5"].closed_at == T0.replace(hour=6)
    assert orders["no-call"].calls_in == () and orders["no-call"].registered_at is not None
    with old_store.connect() as conn:
        assert conn.execute(select(WorkOrderRev.__table__.c.last)).scalar_one() == 1

    # the service carries a migrated order on
    service.act("1758330000.2", SUPERVISOR, Action.REASSIGN, {"lead": "renshe"})
    service.act("1758330000.2", RENSHE, Action.SIGN)
    service.act("1758330000.2", RENSHE, Action.REPLY, {"result": "已办理"})
    assert service.changes(1).orders[0].id == "1758330000.2"

    # (that the migrations build exactly the models, at head, is tests/unit/test_store.py's)
    downgrade(old_store, "0003_audit")
    assert not NEW_TABLES & set(inspect(old_store).get_table_names())
    assert requests_rows(old_store) == before

    upgrade(old_store)  # and up to the head: the requests become orders once more
    assert "requests" not in inspect(old_store).get_table_names()
    again = WorkOrderService(old_store, lambda: site, Clock(local(2025, 9, 23, 9)))
    assert again.get("1758330000.2", ADMIN).state is State.DISPATCHED
    assert len(again.query(ADMIN)) == len(before)


def test_the_last_requests_become_orders_and_the_table_goes(
    old_store: Engine, site: SiteConfig
) -> None:
    upgrade(old_store, "0006_quality")
    service = WorkOrderService(old_store, lambda: site, Clock(local(2025, 9, 22, 9)))
    service.act("1758330000.2", SUPERVISOR, Action.REASSIGN, {"lead": "renshe"})
    service.act("1758330000.2", RENSHE, Action.SIGN)
    cursor = service.cursor()
    with old_store.begin() as conn:  # registered by the engine after 0004, as it used to
        add_request(conn, {
            "id": "1758330000.9", "linkedid": "1758330000.9",
            "caller_number": "13800000009", "seat": "G05", "status": "handled",
            "registered_at": T0, "status_at": T0.replace(hour=3), "status_by": "S01",
            "note": "新诉求", "as_of": T0.timestamp(),
        })  # fmt: skip
    upgrade(old_store, "0008_requests_into_workorders")
    assert "requests" not in inspect(old_store).get_table_names()
    new = service.get("1758330000.9", ADMIN)
    assert (new.state, new.seat, new.content, new.calls_in) == (
        State.REPLIED,
        "G05",
        "新诉求",
        ("1758330000.9",),
    )
    assert [e.action for e in service.history(new.id, ADMIN)] == [Action.REGISTER, Action.MIGRATE]
    assert service.get("1758330000.2", ADMIN).state is State.SIGNED  # the order is the truth
    fed = service.changes(cursor)
    assert [o.id for o in fed.orders] == ["1758330000.9"] and fed.cursor == cursor + 1

    downgrade(old_store, "0006_quality")
    after = requests_rows(old_store)
    assert set(after) == {*LEGACY, "no-call", "1758330000.9"}
    assert after["1758330000.2"]["status"] == "dispatched"  # signed, as the old words go
    assert after["1758330000.9"]["status"] == "handled"
    assert after["1758330000.9"]["linkedid"] == "1758330000.9"


def test_an_empty_store_migrates_to_an_empty_feed(engine: Engine, site: SiteConfig) -> None:
    service = WorkOrderService(engine, lambda: site, Clock(local(2025, 9, 22, 9)))
    assert service.query(ADMIN) == [] and service.cursor() == 0
    assert service.changes(0).cursor == 0

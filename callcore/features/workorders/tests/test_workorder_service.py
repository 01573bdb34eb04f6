"""The work-order service against a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from callcore.features.workorders.model import Action, State, WorkOrderError
from callcore.features.workorders.service import Query, WorkOrderService
from callcore.features.workorders.tables import WorkOrderEvent, WorkOrderRow
from callcore.records import CallRecord
from callcore.store.db import upsert_rows
from callcore.store.rows import clean_row

from .conftest import (
    ADMIN,
    GONGAN,
    OTHER_SEAT,
    RENSHE,
    SEAT,
    SUPERVISOR,
    TINGHU,
    Clock,
    local,
)

DAY = timedelta(days=1)
FORM = {
    "caller_name": "张三",
    "contact_number": "13800138000",
    "content": "公司拖欠三个月工资，要求督促支付。",
    "type": "投诉",
    "urgency": "一般",
    "address": "盐城市亭湖区解放南路1号",
    "district": "tinghu",
    "class_id": "laodong.qianxin",
}


def registered(service: WorkOrderService, linkedid: str = "1759109400.1", **kw) -> str:
    kw.setdefault("caller_number", "13800138000")
    kw.setdefault("hotline", "12333")
    service.register_call(linkedid, seat="G01", **kw)
    return linkedid


def dispatched(service: WorkOrderService, linkedid: str = "1759109400.1", **form) -> str:
    oid = registered(service, linkedid)
    service.complete(oid, SEAT, {**FORM, **form})
    service.act(oid, SEAT, Action.DISPATCH, {"lead": "renshe", "assisting": ["tinghu"]})
    return oid


def rows(engine: Engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


# -- the closed loop ---------------------------------------------------------------------


def test_the_whole_loop_with_a_return_and_a_redispatch(
    service: WorkOrderService, engine: Engine, clock: Clock
) -> None:
    oid = dispatched(service)
    order = service.get(oid, SUPERVISOR)
    assert order.state is State.DISPATCHED
    assert order.deadline_at == local(2025, 10, 27, 9, 30)  # 15 working days past 国庆
    clock.advance(hours=1)
    service.act(oid, RENSHE, Action.SIGN)
    clock.advance(hours=1)
    service.act(oid, RENSHE, Action.RETURN, {"reason": "属地问题，应由亭湖区办理"})
    assert service.get(oid, SUPERVISOR).returns == 1
    clock.advance(hours=1)
    service.act(oid, SUPERVISOR, Action.ACCEPT_RETURN, {"lead": "tinghu"})
    assert service.get(oid, SUPERVISOR).lead_unit == "tinghu"
    with pytest.raises(WorkOrderError) as gone:
        service.get(oid, RENSHE)  # no longer renshe's order
    assert gone.value.code == "not_found"
    service.act(oid, TINGHU, Action.SIGN)
    clock.advance(days=2)
    service.act(oid, TINGHU, Action.REPLY, {"result": "已督促企业支付拖欠工资。"})
    service.act(oid, SEAT, Action.FOLLOW_UP, {"satisfaction": "满意"})
    done = service.act(oid, SEAT, Action.CLOSE)
    assert done.state is State.CLOSED and done.closed_at == clock.at
    history = service.history(oid, SUPERVISOR)
    assert [e.action for e in history] == [
        Action.REGISTER, Action.COMPLETE, Action.DISPATCH, Action.SIGN, Action.RETURN,
        Action.ACCEPT_RETURN, Action.SIGN, Action.REPLY, Action.FOLLOW_UP, Action.CLOSE,
    ]  # fmt: skip
    assert [e.seq for e in history] == list(range(1, 11))
    assert [(e.actor, e.role, e.unit) for e in history][4] == ("人社局值班", "department", "renshe")
    assert history[4].note == "属地问题，应由亭湖区办理"
    assert service.get(oid, ADMIN).state is State.CLOSED


def test_register_is_idempotent_and_keeps_the_call(service: WorkOrderService) -> None:
    first = service.register_call(
        "1759109400.7", seat="G01", caller_number="0515-88001234", hotline="12345"
    )
    again = service.register_call("1759109400.7", seat="G02", caller_number="other")
    assert again == first and again.seat == "G01" and again.calls_in == ("1759109400.7",)
    assert len(service.history("1759109400.7", ADMIN)) == 1


def test_register_from_a_call_record(service: WorkOrderService) -> None:
    answered = datetime(2025, 9, 29, 1, 0, tzinfo=UTC)
    rec = CallRecord(
        linkedid="L-rec", as_of=1.0, caller_number="13900000000", caller_name="李四",
        hotline="12333", seat="E-hrss1", answered_at=answered,
    )  # fmt: skip
    order = service.register_record(rec)
    assert order is not None and order.registered_at == answered
    assert (order.hotline, order.seat, order.caller_name) == ("12333", "E-hrss1", "李四")
    assert service.register_record(CallRecord(linkedid="L-none", as_of=1.0)) is None


def test_a_refused_step_changes_nothing(service: WorkOrderService, engine: Engine) -> None:
    oid = dispatched(service)
    before = (rows(engine, WorkOrderRow.__table__), rows(engine, WorkOrderEvent.__table__))
    with pytest.raises(WorkOrderError) as err:
        service.act(oid, SEAT, Action.CLOSE)
    assert err.value.code == "bad_state" and err.value.state is State.DISPATCHED
    assert oid in str(err.value) and "已派单" in str(err.value) and "催办" in str(err.value)
    assert "dispatched" in err.value.en and "chase" in err.value.en
    with pytest.raises(WorkOrderError):
        service.act(oid, RENSHE, Action.RETURN, {"reason": ""})  # a reason is required
    with pytest.raises(WorkOrderError):
        service.act(oid, SEAT, Action.REPLY, {"result": "不该由座席反馈"})
    after = (rows(engine, WorkOrderRow.__table__), rows(engine, WorkOrderEvent.__table__))
    assert after == before


def test_a_replayed_step_is_applied_once(service: WorkOrderService) -> None:
    oid = dispatched(service)
    first = service.act(oid, SEAT, Action.CHASE, {"note": "请尽快办理"}, key="chase-1")
    again = service.act(oid, SEAT, Action.CHASE, {"note": "请尽快办理"}, key="chase-1")
    assert first == again and again.chases == 1
    signed = service.act(oid, RENSHE, Action.SIGN, key="sign-1")
    assert service.act(oid, RENSHE, Action.SIGN, key="sign-1") == signed  # not bad_state
    assert [e.action for e in service.history(oid, ADMIN)].count(Action.CHASE) == 1


def test_an_approved_extension_moves_the_deadline(service: WorkOrderService, clock: Clock) -> None:
    oid = dispatched(service)
    service.act(oid, RENSHE, Action.SIGN)
    service.act(oid, RENSHE, Action.ASK_EXTENSION, {"working_days": 5, "reason": "需现场核查"})
    order = service.act(oid, SUPERVISOR, Action.APPROVE_EXTENSION)
    assert order.deadline_at == local(2025, 11, 3, 9, 30)  # 27 Oct + 5 working days
    assert order.extensions == 1 and order.state is State.SIGNED
    with pytest.raises(WorkOrderError) as err:
        service.act(oid, RENSHE, Action.ASK_EXTENSION, {"working_days": 1, "reason": "再延"})
    assert err.value.code == "not_now"  # one extension at most in the city's config


def test_escalate_only_an_overdue_order(service: WorkOrderService, clock: Clock) -> None:
    oid = dispatched(service, type="咨询")  # 2 working days: 9 October 09:30
    with pytest.raises(WorkOrderError) as err:
        service.act(oid, SUPERVISOR, Action.ESCALATE)
    assert err.value.code == "not_now"
    clock.at = local(2025, 10, 9, 9, 30)
    assert service.query(SUPERVISOR, {"overdue": True})[0].id == oid
    order = service.act(oid, SUPERVISOR, Action.ESCALATE, {"note": "超期督办"})
    assert order.escalated
    assert service.describe(order, SUPERVISOR)["light"] == "red"


# -- departments -------------------------------------------------------------------------


def test_a_department_sees_and_acts_on_its_units_orders_only(service: WorkOrderService) -> None:
    ours = dispatched(service, "L-ours")
    theirs = registered(service, "L-theirs")
    service.complete(theirs, SEAT, {**FORM, "class_id": "gongan.huji"})
    service.act(theirs, SEAT, Action.DISPATCH, {"lead": "gongan"})
    assert [o.id for o in service.query(RENSHE)] == [ours]
    assert [o.id for o in service.query(RENSHE, {"unit": "gongan"})] == []  # cannot widen
    assert {o.id for o in service.query(GONGAN)} == {theirs}
    assert {o.id for o in service.query(TINGHU)} == {ours}  # assisting
    for step in (lambda: service.get(theirs, RENSHE),
                 lambda: service.act(theirs, RENSHE, Action.SIGN),
                 lambda: service.history(theirs, RENSHE)):  # fmt: skip
        with pytest.raises(WorkOrderError) as err:
            step()
        assert err.value.code == "not_found"
    assert service.get(theirs, GONGAN).state is State.DISPATCHED  # nothing happened to it
    with pytest.raises(WorkOrderError) as err:
        service.act(ours, TINGHU, Action.SIGN)  # assisting cannot sign for the lead
    assert err.value.code == "forbidden" and err.value.allowed == (Action.ASSIST,)
    service.act(ours, TINGHU, Action.ASSIST, {"note": "已安排社区配合核查"})
    feed = service.changes(0, actor=GONGAN)
    assert {o.id for o in feed.orders} == {theirs}
    assert service.figures(RENSHE, local(2025, 9, 1), local(2025, 11, 1)).units[0].key == "renshe"


def test_a_confidential_order_hides_the_caller_from_departments(
    service: WorkOrderService,
) -> None:
    oid = dispatched(service, confidential=True)
    seen = service.describe(service.get(oid, RENSHE), RENSHE)
    assert seen["caller_name"] == seen["caller_number"] == seen["contact_number"] == ""
    assert seen["content"] == FORM["content"] and seen["confidential"] is True
    feed = service.changes(0, actor=RENSHE)
    assert feed.orders[0].view(RENSHE)["caller_name"] == ""
    own = service.describe(service.get(oid, SEAT), SEAT)
    assert (own["caller_name"], own["caller_number"]) == ("张三", "13800138000")


# -- merges ------------------------------------------------------------------------------


def test_merge_duplicates_into_a_master(service: WorkOrderService, engine: Engine) -> None:
    master = dispatched(service, "L-master")
    dup1 = registered(service, "L-dup1")
    dup2 = registered(service, "L-dup2")
    service.complete(dup2, SEAT, FORM)
    with pytest.raises(WorkOrderError) as err:
        service.merge([dup1], master, SEAT)  # a seat may not merge
    assert err.value.code == "forbidden"
    merged = service.merge([dup1, dup2], master, SUPERVISOR, "同一企业欠薪重复来电")
    assert merged.calls_in == ("L-master", "L-dup1", "L-dup2")
    assert merged.state is State.DISPATCHED
    for dup in (dup1, dup2):
        d = service.get(dup, SUPERVISOR)
        assert (d.state, d.master_id) == (State.MERGED, master)
        assert service.history(dup, ADMIN)[-1].action is Action.MERGE
    assert [e.action for e in service.history(master, ADMIN)][-2:] == [Action.ABSORB] * 2
    again = service.merge([dup1, dup2], master, SUPERVISOR)  # a replay
    assert again == merged
    with pytest.raises(WorkOrderError) as err:
        service.act(dup1, SEAT, Action.DISPATCH, {"lead": "renshe"})
    assert err.value.state is State.MERGED and err.value.allowed == ()


def test_a_master_merged_later_takes_its_duplicates_along(service: WorkOrderService) -> None:
    a, b, c = (registered(service, x) for x in ("L-a", "L-b", "L-c"))
    service.merge([b], a, SUPERVISOR)
    service.merge([a], c, SUPERVISOR)
    assert service.get(b, ADMIN).master_id == c
    assert service.get(c, ADMIN).calls_in == ("L-c", "L-a", "L-b")
    with pytest.raises(WorkOrderError) as err:
        service.merge([c], c, SUPERVISOR)
    assert err.value.code == "invalid"
    with pytest.raises(WorkOrderError):
        service.merge([c], a, SUPERVISOR)  # a merged order cannot be a master


# -- queries, the feed, the figures ------------------------------------------------------


def test_queries_filter_by_every_field(service: WorkOrderService, clock: Clock) -> None:
    a = dispatched(service, "L-a")
    clock.advance(hours=1)
    b = registered(service, "L-b", hotline="12345")
    service.complete(b, SEAT, {"content": "路灯不亮", "type": "求助", "urgency": "紧急",
                               "district": "yandu", "class_id": "chengshi.shirong"})  # fmt: skip
    service.act(b, SEAT, Action.DISPATCH, {"lead": "chengguan"})
    clock.advance(hours=1)
    c = registered(service, "L-c", hotline="12345")

    def ids(**q) -> list[str]:
        return [o.id for o in service.query(SUPERVISOR, q)]

    assert ids() == [c, b, a]  # newest first
    assert ids(states=["dispatched"]) == [b, a]
    assert ids(unit="tinghu") == [a] and ids(unit="tinghu", lead_only=True) == []
    assert ids(type="求助") == [b] and ids(urgency="紧急") == [b]
    assert ids(district="tinghu") == [a] and ids(hotline="12345") == [c, b]
    assert ids(class_id="laodong") == [a]  # the class's subtree
    assert ids(since=local(2025, 9, 29, 10, 0)) == [c, b]
    assert ids(until=local(2025, 9, 29, 10, 0)) == [a]
    assert ids(overdue=False) == [c, b, a]
    clock.advance(hours=24)  # 紧急: 24 hours on the clock
    assert ids(overdue=True) == [b]
    assert ids(limit=1, offset=1) == [b]
    with pytest.raises(WorkOrderError) as err:
        service.query(SUPERVISOR, {"type": "抱怨"})
    assert err.value.code == "invalid" and err.value.problems[0][0] == "type"
    assert Query(states=[State.CLOSED]).states == [State.CLOSED]


def test_the_change_feed_gives_everything_after_a_cursor_once(
    service: WorkOrderService,
) -> None:
    start = service.cursor()
    a = dispatched(service, "L-a")
    b = registered(service, "L-b")
    first = service.changes(start)
    assert {o.id for o in first.orders} == {a, b}
    assert [e.action for e in first.events if e.order_id == a] == [
        Action.REGISTER, Action.COMPLETE, Action.DISPATCH,
    ]  # fmt: skip
    assert service.changes(first.cursor).orders == []
    service.act(a, RENSHE, Action.SIGN)
    service.merge([b], a, SUPERVISOR)
    # one order's newest change only: `a` stands at the merge, so the sign comes with it
    nxt = service.changes(first.cursor, limit=1)
    assert [o.id for o in nxt.orders] == [a, b]  # the merge moved both orders at once
    assert [(e.order_id, e.action) for e in nxt.events] == [
        (a, Action.SIGN), (a, Action.ABSORB), (b, Action.MERGE),
    ]  # fmt: skip
    rest = service.changes(nxt.cursor)
    assert rest.orders == [] and rest.cursor == nxt.cursor
    assert service.changes(rest.cursor).events == []


def test_figures_per_unit_and_class(service: WorkOrderService, clock: Clock) -> None:
    late = dispatched(service, "L-late", type="咨询")
    ok = dispatched(service, "L-ok")
    service.act(ok, RENSHE, Action.SIGN)
    service.act(ok, RENSHE, Action.REPLY, {"result": "已办理"})
    service.act(ok, SEAT, Action.FOLLOW_UP, {"satisfaction": "不满意"})
    service.act(ok, SEAT, Action.REOPEN, {"note": "群众不满意，重办"})
    service.act(late, RENSHE, Action.SIGN)
    service.act(late, RENSHE, Action.ASK_EXTENSION, {"hours": 8, "reason": "需协调"})
    service.act(late, SUPERVISOR, Action.APPROVE_EXTENSION)
    clock.at = local(2025, 10, 10, 9, 0)
    service.act(late, RENSHE, Action.REPLY, {"result": "已答复"})  # past 9 Oct 17:30
    figs = service.figures(SUPERVISOR, local(2025, 9, 1), local(2025, 11, 1))
    renshe = next(f for f in figs.units if f.key == "renshe")
    assert renshe.name == "市人社局"
    assert (renshe.dispatched, renshe.replied, renshe.on_time) == (3, 2, 1)
    assert renshe.on_time_rate == 0.5 and renshe.extension_rate == round(1 / 3, 4)
    assert renshe.return_rate == 0.0 and renshe.satisfaction_rate == 0.0
    assert (renshe.open, renshe.overdue) == (1, 0)  # `ok` reopened, due 27 Oct
    cls = next(f for f in figs.classes if f.key == "laodong.qianxin")
    assert cls.name == "拖欠工资" and cls.dispatched == 3
    assert renshe.to_dict()["on_time_rate"] == 0.5
    empty = service.figures(SUPERVISOR, local(2026, 1, 1), local(2026, 2, 1))
    assert all(f.dispatched == 0 for f in empty.units)


# -- calls answered while the store was away ----------------------------------------------


def test_answered_calls_without_an_order_are_registered_once(
    service: WorkOrderService, engine: Engine
) -> None:
    t0 = datetime(2025, 9, 29, 1, 0, tzinfo=UTC)
    calls = [
        CallRecord(linkedid=f"L{i}", as_of=1.0, caller_number="13900000000", hotline="12345",
                   seat=seat, answered_at=t0 + timedelta(minutes=i))
        for i, seat in enumerate(("G01", "G02", "tax12366", ""))
    ]  # fmt: skip
    calls.append(CallRecord(linkedid="Lold", as_of=1.0, seat="G01", answered_at=t0 - DAY * 3))
    with engine.begin() as conn:
        upsert_rows(conn, [clean_row(c) for c in calls])
    service.register_call("L1", seat="G02", caller_number="13900000000")  # already there
    assert service.register_answered(t0 - DAY, ["G01", "G02"]) == 1
    assert service.register_answered(t0 - DAY, ["G01", "G02"]) == 0
    assert {o.id for o in service.query(ADMIN)} == {"L0", "L1"}
    order = service.get("L0", ADMIN)
    assert (order.seat, order.hotline, order.registered_at) == ("G01", "12345", t0)
    assert order.calls_in == ("L0",) and len(service.history("L0", ADMIN)) == 1


def test_only_the_first_seat_completes_and_dispatches(service: WorkOrderService) -> None:
    oid = registered(service)
    with pytest.raises(WorkOrderError) as err:
        service.complete(oid, OTHER_SEAT, {"content": "别人的诉求"})
    assert err.value.code == "forbidden"
    service.complete(oid, SUPERVISOR, {"content": "班长补录", "type": "咨询"})
    order = service.act(oid, SEAT, Action.CLOSE_ON_SPOT, {"result": "已当场解答政策"})
    assert order.state is State.CLOSED and order.result == "已当场解答政策"
    assert order.closed_at is not None and order.dispatched_at is None


def test_figures_and_dates_are_utc_aware(service: WorkOrderService, engine: Engine) -> None:
    oid = dispatched(service)
    order = service.get(oid, ADMIN)
    assert order.registered_at.utcoffset() == timedelta(0)
    assert order.deadline_at is not None and order.deadline_at.tzinfo is not None
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(WorkOrderEvent.__table__)).scalar()
    assert n == 3

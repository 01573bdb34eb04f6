"""The lifecycle as a state machine: random actions by random actors, on the model and on
the service over a real SQLite store. Whatever happens, every order is in a valid state, its
history is complete and ordered, and a refused step raises the named error and changes
nothing."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, select

from callcore.features.workorders import model
from callcore.features.workorders.model import (
    ACTOR_ACTIONS,
    HANDLING,
    Action,
    Actor,
    Event,
    Rules,
    State,
    WorkOrder,
    WorkOrderError,
)
from callcore.features.workorders.service import WorkOrderService
from callcore.features.workorders.tables import (
    WorkOrderEvent,
    WorkOrderRev,
    WorkOrderRow,
    WorkOrderUnit,
)
from callcore.store.testing import migrated_engine
from config.schema import SiteConfig

from .conftest import ADMIN, GONGAN, OTHER_SEAT, RENSHE, SEAT, SUPERVISOR, TINGHU, Clock, local

ACTORS = [SEAT, OTHER_SEAT, SUPERVISOR, ADMIN, RENSHE, TINGHU, GONGAN]
UNITS = ["renshe", "tinghu", "gongan", "nowhere"]
START = local(2025, 9, 26, 16, 0)  # the Friday before the make-up Sunday and 国庆
REFUSALS = {"forbidden", "bad_state", "not_now"}
BAD_INPUT = {"invalid", "incomplete"}

text = st.sampled_from(["", "请处理", "群众反映噪音扰民，夜间施工", "x" * 2001, "  \t "])


def fields() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "content": text,
            "type": st.sampled_from(["咨询", "投诉", "求助", "表扬", "抱怨"]),
            "urgency": st.sampled_from(["一般", "紧急", "特急", "很急"]),
            "district": st.sampled_from(["tinghu", "yandu", "火星"]),
            "class_id": st.sampled_from(["laodong.qianxin", "qita", "none.such"]),
            "caller_name": st.sampled_from(["王五", "欧阳" * 40]),
            "contact_number": st.sampled_from(["13800138000", "0515-8800", "号码"]),
            "confidential": st.booleans(),
        },
    )


def units() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"lead": st.sampled_from(UNITS)},
        optional={"assisting": st.lists(st.sampled_from(UNITS), max_size=2)},
    )


def extension() -> st.SearchStrategy[dict[str, Any]]:
    amount = st.one_of(
        st.fixed_dictionaries({"working_days": st.integers(1, 12)}),
        st.fixed_dictionaries({"hours": st.integers(1, 60)}),
        st.just({}),
    )
    return st.tuples(amount, st.sampled_from(["需现场核查", ""])).map(
        lambda t: {**t[0], "reason": t[1]}
    )


PARAMS: dict[Action, st.SearchStrategy[dict[str, Any]]] = {
    Action.COMPLETE: fields(),
    Action.DISPATCH: units(),
    Action.REASSIGN: units(),
    Action.ACCEPT_RETURN: units(),
    Action.RETURN: st.fixed_dictionaries({"reason": st.sampled_from(["非本单位职责", "", "退"])}),
    Action.ASK_EXTENSION: extension(),
    Action.REPLY: st.fixed_dictionaries({"result": text}),
    Action.CLOSE_ON_SPOT: st.fixed_dictionaries({"result": text}),
    Action.FOLLOW_UP: st.fixed_dictionaries(
        {"satisfaction": st.sampled_from([*model.Satisfaction, "还行"])}
    ),
    Action.REOPEN: st.fixed_dictionaries({"note": text}),
    Action.ASSIST: st.fixed_dictionaries({"note": text}),
    Action.LINK: st.fixed_dictionaries(
        {}, optional={"calls_out": st.lists(st.sampled_from(["out.1", "out 2", "out.3"]))}
    ),
}
NOTE = st.fixed_dictionaries({}, optional={"note": text, "bogus": st.just(1)})
# Steps that end the cycle early or go nowhere: left to the unguided half of the draws
# (so are those that leave the state as it is, once the order can be dispatched).
SIDE_STEPS = {Action.LINK, Action.CLOSE_ON_SPOT, Action.MERGE}
# Good parameters, drawn as often as the noisy ones, so that runs get deep into the cycle.
GOOD: dict[Action, dict[str, Any]] = {
    Action.COMPLETE: {"content": "噪音扰民", "type": "投诉", "district": "tinghu"},
    Action.DISPATCH: {"lead": "renshe", "assisting": ["tinghu"]},
    Action.REASSIGN: {"lead": "gongan"},
    Action.ACCEPT_RETURN: {"lead": "tinghu", "assisting": ["renshe"]},
    Action.RETURN: {"reason": "非本单位职责"},
    Action.ASK_EXTENSION: {"working_days": 3, "reason": "需现场核查"},
    Action.REPLY: {"result": "已处理"},
    Action.CLOSE_ON_SPOT: {"result": "已解答"},
    Action.FOLLOW_UP: {"satisfaction": "满意"},
    Action.REOPEN: {"note": "不满意，重办"},
    Action.ASSIST: {"note": "已配合"},
}


class Lifecycle(RuleBasedStateMachine):
    """Drives orders through random steps; the pure model is the store here."""

    N = 3
    RULES: Rules  # set by the test
    reached: ClassVar[set[State]] = set()  # over all runs: the machine does get everywhere

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.orders: dict[str, WorkOrder] = {}
        self.history: dict[str, list[Event]] = {}

    # -- what the machine drives (the service machine overrides these) --------------------

    def judged_by(self) -> Rules:
        return self.RULES

    def do_register(self, oid: str) -> WorkOrder:
        order, event = model.register(oid, SEAT, self.now, calls_in=(oid,))
        self.history[oid] = [event]
        return order

    def do_step(self, order: WorkOrder, actor: Actor, action: Action, params: dict) -> WorkOrder:
        new, event = model.apply(order, actor, action, params, self.now, self.judged_by())
        self.history[order.id].append(event)
        return new

    def do_merge(self, dup: WorkOrder, master: WorkOrder, actor: Actor) -> None:
        d, de, m, me = model.merge(dup, master, actor, self.now, self.judged_by())
        self.orders[d.id], self.orders[m.id] = d, m
        self.history[d.id].append(de)
        self.history[m.id].append(me)

    def snapshot(self) -> Any:
        return dict(self.orders), {k: list(v) for k, v in self.history.items()}

    def events_of(self, oid: str) -> list[Event]:
        return self.history[oid]

    # -- rules -------------------------------------------------------------------------------

    @initialize()
    def register(self) -> None:
        for i in range(self.N):
            oid = f"{self.prefix()}{i}"
            self.orders[oid] = self.do_register(oid)

    def prefix(self) -> str:
        return "L"

    @rule(
        i=st.integers(0, N - 1),
        actor=st.sampled_from(ACTORS),
        action=st.sampled_from(ACTOR_ACTIONS),
        minutes=st.sampled_from([0, 5, 60, 60 * 20, 60 * 24 * 4]),
        data=st.data(),
    )
    def step(self, i: int, actor: Actor, action: Action, minutes: int, data: st.DataObject):
        self.now += timedelta(minutes=minutes)
        order = self.orders[f"{self.prefix()}{i}"]
        rules = self.judged_by()
        onward = [
            (who, a)
            for who in ACTORS
            for a in model.allowed_actions(order, who, self.now, rules)
            if a not in SIDE_STEPS and (model.RULES[a].to or not (order.type and order.content))
        ]
        if onward and data.draw(st.booleans()):  # half the time, a step someone may take
            actor, action = data.draw(st.sampled_from(onward))
        allowed = model.allowed_actions(order, actor, self.now, rules)
        noisy = PARAMS.get(action, NOTE)
        params = data.draw(st.one_of(st.just(GOOD[action]), noisy) if action in GOOD else noisy)
        before = self.snapshot()
        try:
            if action is Action.MERGE:
                master = self.orders[f"{self.prefix()}{(i + 1) % self.N}"]
                self.do_merge(order, master, actor)
                self.reached.add(State.MERGED)
                return
            new = self.do_step(order, actor, action, params)
        except WorkOrderError as err:
            self.check_refusal(err, order, actor, action, allowed)
            assert self.snapshot() == before, "a refused step changed something"
            return
        assert action in allowed, f"{action} done though not allowed"
        self.orders[order.id] = new
        self.reached.add(new.state)

    def check_refusal(
        self, err: WorkOrderError, order: WorkOrder, actor: Actor, action: Action, allowed
    ) -> None:
        if action is Action.MERGE:  # refused for the duplicate or for the master
            assert err.code in REFUSALS | {"not_found"}, err.code
            assert err.order_id in str(err) and err.order_id in err.en
            return
        if not model.visible(order, actor):
            assert err.code == "not_found" and order.id in str(err)
            return
        if action not in allowed:
            assert err.code in REFUSALS, err.code
            assert (err.order_id, err.state, err.allowed) == (order.id, order.state, allowed)
            assert order.id in str(err) and model.label(order.state) in str(err)
            assert order.id in err.en and model.label(order.state, "en") in err.en
            for a in allowed:
                assert model.label(a) in str(err) and model.label(a, "en") in err.en
            return
        assert err.code in BAD_INPUT | REFUSALS, err.code
        assert err.message("zh") and err.message("en")

    # -- what must always hold -----------------------------------------------------------

    @invariant()
    def orders_are_valid(self) -> None:
        for oid, order in self.orders.items():
            events = self.events_of(oid)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            assert order.version == len(events)
            assert events[0].action is Action.REGISTER and events[0].from_state is None
            for prev, nxt in pairwise(events):
                assert nxt.from_state is prev.to_state
                assert nxt.at >= prev.at
            assert events[-1].to_state is order.state
            check_fields(order)


def check_fields(o: WorkOrder) -> None:
    """What each state implies about the order's fields."""
    assert o.state in State
    if o.state in HANDLING or o.state in (State.REPLIED, State.FOLLOWED_UP):
        assert o.lead_unit and o.dispatched_at is not None and o.type is not None
        assert o.deadline_at is not None and o.deadline_at > o.dispatched_at
    assert o.lead_unit not in o.assist_units
    assert (o.state is State.MERGED) == bool(o.master_id)
    assert (o.closed_at is not None) == (o.state in model.TERMINAL)
    pending = o.pending_days is not None or o.pending_hours is not None
    assert pending == (o.state is State.EXTENSION_REQUESTED)
    if o.state in (State.REPLIED, State.FOLLOWED_UP):
        assert o.replied_at is not None and o.result
    if o.state is State.FOLLOWED_UP:
        assert o.satisfaction is not None and o.followed_up_at is not None
    if o.state not in (State.FOLLOWED_UP, *model.TERMINAL):
        assert o.satisfaction is None  # a reopened order is followed up afresh
    if o.state is State.SIGNED:
        assert o.signed_at is not None


def test_the_lifecycle_on_the_model(rules: Rules) -> None:
    Lifecycle.RULES = rules
    Lifecycle.reached = set()
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=200, stateful_step_count=40, deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )  # fmt: skip
    assert Lifecycle.reached == set(State)


class StoredLifecycle(Lifecycle):
    """The same steps through the service on a real store; a refused step must leave every
    table as it was."""

    service: WorkOrderService
    clock = Clock(START)  # the service's clock, moved by each step
    run = 0

    def __init__(self) -> None:
        super().__init__()
        StoredLifecycle.run += 1
        self._prefix = f"R{StoredLifecycle.run}-"
        self.clock.at = START

    def prefix(self) -> str:
        return self._prefix

    def judged_by(self) -> Rules:
        return self.service.rules()

    def do_register(self, oid: str) -> WorkOrder:
        self.clock.at = self.now
        return self.service.register_call(oid, seat="G01")

    def do_step(self, order: WorkOrder, actor: Actor, action: Action, params: dict) -> WorkOrder:
        self.clock.at = self.now
        return self.service.act(order.id, actor, action, params)

    def do_merge(self, dup: WorkOrder, master: WorkOrder, actor: Actor) -> None:
        self.clock.at = self.now
        self.service.merge([dup.id], master.id, actor)
        for oid in (dup.id, master.id):
            self.orders[oid] = self.service.get(oid, ADMIN)

    def events_of(self, oid: str) -> list[Event]:
        return self.service.history(oid, ADMIN)

    def snapshot(self) -> Any:
        out = []
        with self.service.engine.connect() as conn:
            for t in (WorkOrderRow, WorkOrderEvent, WorkOrderUnit, WorkOrderRev):
                table = t.__table__
                stmt = select(table).order_by(*table.primary_key.columns)
                out.append([tuple(r) for r in conn.execute(stmt)])
        return out

    @invariant()
    def store_agrees(self) -> None:
        for oid, order in self.orders.items():
            assert self.service.get(oid, ADMIN) == order


def test_the_lifecycle_on_the_store(tmp_path, site: SiteConfig) -> None:
    with migrated_engine(f"sqlite:///{tmp_path}/store.db") as engine:
        StoredLifecycle.service = WorkOrderService(engine, lambda: site, StoredLifecycle.clock)
        run_state_machine_as_test(
            StoredLifecycle,
            settings=settings(
                max_examples=30, stateful_step_count=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )  # fmt: skip
        check_no_orphans(engine)


def check_no_orphans(engine: Engine) -> None:
    """Every history entry belongs to an order, and every order has its history."""
    with engine.connect() as conn:
        orders = set(conn.execute(select(WorkOrderRow.__table__.c.id)).scalars())
        owners = set(conn.execute(select(WorkOrderEvent.__table__.c.order_id)).scalars())
    assert owners == orders and orders


# -- named paths -------------------------------------------------------------------------


def test_every_state_is_reachable_and_terminal_states_allow_nothing(rules: Rules) -> None:
    now = START
    order, _ = model.register("L", SEAT, now)
    reached = {order.state}
    steps = [
        (SEAT, Action.COMPLETE, {"content": "噪音扰民", "type": "投诉"}),
        (SEAT, Action.DISPATCH, {"lead": "renshe"}),
        (RENSHE, Action.RETURN, {"reason": "非本单位职责"}),
        (SUPERVISOR, Action.OVERRULE_RETURN, {}),
        (RENSHE, Action.SIGN, {}),
        (RENSHE, Action.ASK_EXTENSION, {"hours": 4, "reason": "需协调"}),
        (SUPERVISOR, Action.REFUSE_EXTENSION, {}),
        (RENSHE, Action.REPLY, {"result": "已处理"}),
        (SEAT, Action.FOLLOW_UP, {"satisfaction": "满意"}),
        (SEAT, Action.CLOSE, {}),
    ]
    for actor, action, params in steps:
        order, _ = model.apply(order, actor, action, params, now, rules)
        reached.add(order.state)
    other, _ = model.register("M", SEAT, now)
    merged = model.merge(other, order.model_copy(update={"state": State.REPLIED}), ADMIN, now,
                         rules)[0]  # fmt: skip
    reached.add(merged.state)
    assert reached == set(State)
    for done in (order, merged):
        for actor in ACTORS:
            assert set(model.allowed_actions(done, actor, now, rules)) <= {Action.LINK}
    assert model.allowed_actions(merged, ADMIN, now, rules) == ()


def test_the_return_window_and_the_overrule(rules: Rules) -> None:
    order, _ = model.register("L", SEAT, START)
    order, _ = model.apply(order, SEAT, Action.COMPLETE, {"content": "路灯", "type": "求助"},
                           START, rules)  # fmt: skip
    order, _ = model.apply(order, SEAT, Action.DISPATCH, {"lead": "renshe"}, START, rules)
    late = local(2025, 9, 29, 16, 1)  # Friday + 2 working days (make-up Sunday, Monday) + 1 min
    with pytest.raises(WorkOrderError) as err:
        model.apply(order, RENSHE, Action.RETURN, {"reason": "非本单位职责"}, late, rules)
    assert err.value.code == "not_now" and "2个工作日" in str(err.value)
    back, _ = model.apply(order, RENSHE, Action.RETURN, {"reason": "非本单位职责"},
                          local(2025, 9, 29, 16, 0), rules)  # fmt: skip
    again, event = model.apply(back, SUPERVISOR, Action.OVERRULE_RETURN, {"note": "属本单位"},
                               late, rules)  # fmt: skip
    assert again.state is State.DISPATCHED and again.deadline_at == order.deadline_at
    assert (event.lead, event.note) == ("renshe", "属本单位")


def test_an_actor_must_be_what_its_role_says() -> None:
    with pytest.raises(ValueError):
        Actor("x", model.Role.DEPARTMENT)
    with pytest.raises(ValueError):
        Actor("x", model.Role.SEAT, unit="renshe")


def test_text_is_cleaned_and_bad_text_is_named(rules: Rules) -> None:
    order, _ = model.register("L", SEAT, START)
    done, _ = model.apply(order, SEAT, Action.COMPLETE,
                          {"content": " 第一行\n第二行\x07 ", "address": "解放路\n1号"},
                          START, rules)  # fmt: skip
    assert (done.content, done.address) == ("第一行\n第二行", "解放路 1号")
    with pytest.raises(WorkOrderError) as err:
        model.apply(order, SEAT, Action.COMPLETE,
                    {"content": "名" * 4001, "caller_name": "\ud800", "type": "抱怨"},
                    START, rules)  # fmt: skip
    named = {p[0] for p in err.value.problems}
    assert named == {"content", "caller_name", "type"}
    assert "最多4000个字" in str(err.value) and "at most 4000 characters" in err.value.en
    assert "咨询" in str(err.value)  # the types it may be

"""The work order (工单): its fields, its lifecycle as a state machine, who may do what.

Pure: no I/O. `apply` takes an order, an actor, an action with its parameters, the time
and the rules (the site's `workorders` section and the working calendar), and gives the
order after the action and the history entry it adds, or raises `WorkOrderError` and
changes nothing. The service stores what `apply` returns; nothing else moves an order.

States (the closed loop 受理 → 派单 → 办理 → 回访 → 办结)::

    registered ──派单──> dispatched ──签收──> signed ──办结反馈──> replied ──回访──> followed_up
      │  直接办结            │ ^  退单          │ │ ^ 延期            ^                 │    │
      v                     │ │   v           │ v │ 同意/驳回         │                 │  办结
    closed <────────────────┼─┼── returned <──┘ extension_requested ─┘ (办结反馈)        v
      ^                     │ └─ 同意改派 / 驳回退单                          重办 <──┘   closed
      └──── any open state ──并单──> merged (into a master)

Who: the 12345 side is a `seat`, a `supervisor` or an `admin`; a `department` actor is
bound to one unit. A department acts only on orders where its unit is the lead (签收, 退单,
延期, 办结反馈) or assisting (协办反馈 only); other units' orders do not exist for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callcore.features.workorders.deadlines import Deadline, Light, WorkingCalendar, light
from config.workorders import RequestType, TimeLimit, Urgency, WorkOrdersConfig

# -- enums and their words ---------------------------------------------------------------


class State(StrEnum):
    REGISTERED = "registered"  # 已受理: registered on the call, being completed
    DISPATCHED = "dispatched"  # 已派单: sent to the lead unit, not signed for yet
    SIGNED = "signed"  # 办理中: the lead unit signed for it
    RETURNED = "returned"  # 退单待审: the lead unit returned it; 12345 reviews
    EXTENSION_REQUESTED = "extension_requested"  # 延期待审: 12345 decides on more time
    REPLIED = "replied"  # 已反馈: the unit replied with its result; to be followed up
    FOLLOWED_UP = "followed_up"  # 已回访: the citizen was asked; close or reopen
    CLOSED = "closed"  # 已办结
    MERGED = "merged"  # 已并单: a duplicate, merged into its master


class Action(StrEnum):
    REGISTER = "register"  # 登记
    COMPLETE = "complete"  # 补录
    LINK = "link"  # 关联 calls, recordings, ratings
    CLOSE_ON_SPOT = "close_on_spot"  # 直接办结
    DISPATCH = "dispatch"  # 派单
    REASSIGN = "reassign"  # 改派 (before the unit signed)
    SIGN = "sign"  # 签收
    RETURN = "return"  # 退单
    ACCEPT_RETURN = "accept_return"  # 同意退单并改派
    OVERRULE_RETURN = "overrule_return"  # 驳回退单
    ASK_EXTENSION = "ask_extension"  # 申请延期
    APPROVE_EXTENSION = "approve_extension"  # 同意延期
    REFUSE_EXTENSION = "refuse_extension"  # 驳回延期
    REPLY = "reply"  # 办结反馈
    ASSIST = "assist"  # 协办反馈
    CHASE = "chase"  # 催办
    ESCALATE = "escalate"  # 督办
    FOLLOW_UP = "follow_up"  # 回访
    CLOSE = "close"  # 办结
    REOPEN = "reopen"  # 重办
    MERGE = "merge"  # 并单 (the duplicate)
    ABSORB = "absorb"  # 并入 (the master takes a duplicate)
    MIGRATE = "migrate"  # 迁移 (a request from before work orders)


class Role(StrEnum):
    SEAT = "seat"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    DEPARTMENT = "department"


class Satisfaction(StrEnum):
    """The five levels of GB/T 39734-2020."""

    VERY_SATISFIED = "非常满意"
    SATISFIED = "满意"
    FAIRLY_SATISFIED = "基本满意"
    UNSATISFIED = "不满意"
    VERY_UNSATISFIED = "非常不满意"

    @property
    def satisfied(self) -> bool:
        return self not in (Satisfaction.UNSATISFIED, Satisfaction.VERY_UNSATISFIED)


STATE_LABELS: dict[State, tuple[str, str]] = {
    State.REGISTERED: ("已受理", "registered"),
    State.DISPATCHED: ("已派单", "dispatched"),
    State.SIGNED: ("办理中", "signed for"),
    State.RETURNED: ("退单待审", "returned, under review"),
    State.EXTENSION_REQUESTED: ("延期待审", "extension asked"),
    State.REPLIED: ("已反馈", "replied"),
    State.FOLLOWED_UP: ("已回访", "followed up"),
    State.CLOSED: ("已办结", "closed"),
    State.MERGED: ("已并单", "merged"),
}

ACTION_LABELS: dict[Action, tuple[str, str]] = {
    Action.REGISTER: ("登记", "register"),
    Action.COMPLETE: ("补录", "complete"),
    Action.LINK: ("关联", "link"),
    Action.CLOSE_ON_SPOT: ("直接办结", "close on the spot"),
    Action.DISPATCH: ("派单", "dispatch"),
    Action.REASSIGN: ("改派", "reassign"),
    Action.SIGN: ("签收", "sign for"),
    Action.RETURN: ("退单", "return"),
    Action.ACCEPT_RETURN: ("同意退单并改派", "accept the return and re-dispatch"),
    Action.OVERRULE_RETURN: ("驳回退单", "overrule the return"),
    Action.ASK_EXTENSION: ("申请延期", "ask for an extension"),
    Action.APPROVE_EXTENSION: ("同意延期", "approve the extension"),
    Action.REFUSE_EXTENSION: ("驳回延期", "refuse the extension"),
    Action.REPLY: ("办结反馈", "reply"),
    Action.ASSIST: ("协办反馈", "assisting reply"),
    Action.CHASE: ("催办", "chase"),
    Action.ESCALATE: ("督办", "escalate"),
    Action.FOLLOW_UP: ("回访", "follow up"),
    Action.CLOSE: ("办结", "close"),
    Action.REOPEN: ("重办", "reopen"),
    Action.MERGE: ("并单", "merge"),
    Action.ABSORB: ("并入", "take in a duplicate"),
    Action.MIGRATE: ("迁移", "migrate"),
}

TYPE_LABELS = {
    RequestType.CONSULT: "consultation",
    RequestType.HELP: "help",
    RequestType.COMPLAINT: "complaint",
    RequestType.REPORT: "report",
    RequestType.SUGGESTION: "suggestion",
    RequestType.PRAISE: "praise",
    RequestType.OTHER: "other",
}
URGENCY_LABELS = {Urgency.NORMAL: "normal", Urgency.URGENT: "urgent", Urgency.CRITICAL: "critical"}

TERMINAL = frozenset({State.CLOSED, State.MERGED})
OPEN = frozenset(State) - TERMINAL
HANDLING = frozenset({State.DISPATCHED, State.SIGNED, State.RETURNED, State.EXTENSION_REQUESTED})
_AT_UNIT = frozenset({State.DISPATCHED, State.SIGNED, State.EXTENSION_REQUESTED})


def label(value: State | Action, lang: str = "zh") -> str:
    words = STATE_LABELS[value] if isinstance(value, State) else ACTION_LABELS[value]
    return words[1] if lang == "en" else words[0]


# -- who may do what ---------------------------------------------------------------------

_12345 = frozenset({Role.SEAT, Role.SUPERVISOR, Role.ADMIN})
_LEADERS = frozenset({Role.SUPERVISOR, Role.ADMIN})
_DEPT = frozenset({Role.DEPARTMENT})


@dataclass(frozen=True)
class Rule:
    """Where an action may be taken, by whom, and where it leads (None: state unchanged)."""

    states: frozenset[State]
    roles: frozenset[Role]
    to: State | None = None
    unit: str = ""  # department actions: "lead" or "assist"
    own_seat: bool = False  # a seat only on orders it registered (首接负责制)


_S = State
RULES: dict[Action, Rule] = {
    Action.COMPLETE: Rule(frozenset({_S.REGISTERED, _S.RETURNED}), _12345, own_seat=True),
    Action.LINK: Rule(frozenset(State) - {_S.MERGED}, _12345),
    Action.CLOSE_ON_SPOT: Rule(frozenset({_S.REGISTERED}), _12345, _S.CLOSED, own_seat=True),
    Action.DISPATCH: Rule(frozenset({_S.REGISTERED}), _12345, _S.DISPATCHED, own_seat=True),
    Action.REASSIGN: Rule(frozenset({_S.DISPATCHED}), _LEADERS, _S.DISPATCHED),
    Action.SIGN: Rule(frozenset({_S.DISPATCHED}), _DEPT, _S.SIGNED, unit="lead"),
    Action.RETURN: Rule(frozenset({_S.DISPATCHED, _S.SIGNED}), _DEPT, _S.RETURNED, unit="lead"),
    Action.ACCEPT_RETURN: Rule(frozenset({_S.RETURNED}), _LEADERS, _S.DISPATCHED),
    Action.OVERRULE_RETURN: Rule(frozenset({_S.RETURNED}), _LEADERS, _S.DISPATCHED),
    Action.ASK_EXTENSION: Rule(frozenset({_S.SIGNED}), _DEPT, _S.EXTENSION_REQUESTED, unit="lead"),
    Action.APPROVE_EXTENSION: Rule(frozenset({_S.EXTENSION_REQUESTED}), _LEADERS, _S.SIGNED),
    Action.REFUSE_EXTENSION: Rule(frozenset({_S.EXTENSION_REQUESTED}), _LEADERS, _S.SIGNED),
    Action.REPLY: Rule(
        frozenset({_S.SIGNED, _S.EXTENSION_REQUESTED}), _DEPT, _S.REPLIED, unit="lead"
    ),
    Action.ASSIST: Rule(_AT_UNIT, _DEPT, unit="assist"),
    Action.CHASE: Rule(_AT_UNIT, _12345),
    Action.ESCALATE: Rule(_AT_UNIT, _LEADERS),
    Action.FOLLOW_UP: Rule(frozenset({_S.REPLIED}), _12345, _S.FOLLOWED_UP),
    Action.CLOSE: Rule(frozenset({_S.FOLLOWED_UP}), _12345, _S.CLOSED),
    Action.REOPEN: Rule(frozenset({_S.FOLLOWED_UP}), _12345, _S.DISPATCHED),
    Action.MERGE: Rule(OPEN, _LEADERS, _S.MERGED),
    Action.ABSORB: Rule(OPEN, _LEADERS),
}
#: What an actor can ask for by name (registration, absorbing and migration are the
#: service's own steps).
ACTOR_ACTIONS = tuple(a for a in RULES if a is not Action.ABSORB)


@dataclass(frozen=True)
class Actor:
    """Who acts: a token's name and role; a seat's id; a department's unit."""

    name: str
    role: Role
    seat: str | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.role is Role.DEPARTMENT and not self.unit:
            raise ValueError("a department actor needs its unit")
        if self.role is not Role.DEPARTMENT and self.unit:
            raise ValueError("only a department actor has a unit")

    @property
    def is_department(self) -> bool:
        return self.role is Role.DEPARTMENT


# -- errors ------------------------------------------------------------------------------


class WorkOrderError(ValueError):
    """A refused step, in Chinese (str) and English (`en`); nothing was changed.

    code: not_found | forbidden | bad_state | not_now | invalid | incomplete | conflict
    """

    def __init__(
        self,
        code: str,
        zh: str,
        en: str,
        *,
        order_id: str = "",
        state: State | None = None,
        allowed: Iterable[Action] = (),
        problems: Iterable[tuple[str, str, str]] = (),
    ):
        super().__init__(zh)
        self.code, self.zh, self.en = code, zh, en
        self.order_id, self.state = order_id, state
        self.allowed = tuple(allowed)
        self.problems = tuple(problems)  # (field, zh, en) for invalid input

    def message(self, lang: str = "zh") -> str:
        return self.en if lang == "en" else self.zh


def not_found(order_id: str) -> WorkOrderError:
    return WorkOrderError(
        "not_found", f"没有工单 {order_id}", f"no work order {order_id!r}", order_id=order_id
    )


def _refusal(
    code: str, order: WorkOrder, action: Action, allowed: tuple[Action, ...], why=("", "")
):
    zh_allowed = "、".join(label(a) for a in allowed) or "无"
    en_allowed = ", ".join(label(a, "en") for a in allowed) or "none"
    state = order.state
    return WorkOrderError(
        code,
        f"工单 {order.id} 当前为「{label(state)}」，不能「{label(action)}」{why[0]}；"
        f"可执行：{zh_allowed}",
        f"work order {order.id} is {label(state, 'en')}: {label(action, 'en')} is not "
        f"allowed{why[1]}; allowed: {en_allowed}",
        order_id=order.id,
        state=state,
        allowed=allowed,
    )


# -- the record --------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(value: Any, *, lines: bool = False) -> Any:
    """Text as stored: trimmed, no control characters (newlines kept in long text)."""
    if not isinstance(value, str):
        return value
    if _SURROGATE.search(value):
        raise ValueError("not valid UTF-8 text (a lone surrogate)")
    text = _CONTROL.sub("", value)
    if not lines:
        text = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    return text.strip()


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, v: Any, info: Any) -> Any:
        return _clean(v, lines=info.field_name in _LONG_TEXT)


_LONG_TEXT = frozenset({"content", "result", "reason", "note"})
Short = Annotated[str, Field(max_length=64)]
Number = Annotated[str, Field(max_length=32, pattern=r"^(\+?[0-9][0-9 \-]{2,30})?$")]
Note = Annotated[str, Field(max_length=2000)]
LinkId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]


class Fields(_Input):
    """What the seat fills in; every field optional, so the form can be saved as it goes."""

    caller_name: Short | None = None
    contact_number: Number | None = None
    content: Annotated[str, Field(max_length=4000)] | None = None
    type: RequestType | None = None
    urgency: Urgency | None = None
    address: Annotated[str, Field(max_length=200)] | None = None
    district: Short | None = None
    class_id: Short | None = None
    confidential: bool | None = None


class DispatchParams(_Input):
    lead: Annotated[str, Field(min_length=1, max_length=32)]
    assisting: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=10)] = []
    note: Note = ""


class ReasonParams(_Input):
    reason: Annotated[str, Field(min_length=2, max_length=2000)]


class ExtensionParams(_Input):
    working_days: Annotated[int, Field(ge=1, le=90)] | None = None
    hours: Annotated[int, Field(ge=1, le=720)] | None = None
    reason: Annotated[str, Field(min_length=2, max_length=2000)]


class ResultParams(_Input):
    result: Annotated[str, Field(min_length=1, max_length=4000)]


class FollowUpParams(_Input):
    satisfaction: Satisfaction
    note: Note = ""


class NoteParams(_Input):
    note: Note = ""


class RequiredNote(_Input):
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class LinkParams(_Input):
    calls_in: Annotated[list[LinkId], Field(max_length=20)] = []
    calls_out: Annotated[list[LinkId], Field(max_length=20)] = []
    recordings: Annotated[list[LinkId], Field(max_length=20)] = []
    ratings: Annotated[list[LinkId], Field(max_length=20)] = []
    note: Note = ""


PARAMS: dict[Action, type[_Input]] = {
    Action.COMPLETE: Fields,
    Action.LINK: LinkParams,
    Action.CLOSE_ON_SPOT: ResultParams,
    Action.DISPATCH: DispatchParams,
    Action.REASSIGN: DispatchParams,
    Action.ACCEPT_RETURN: DispatchParams,
    Action.RETURN: ReasonParams,
    Action.ASK_EXTENSION: ExtensionParams,
    Action.REPLY: ResultParams,
    Action.ASSIST: RequiredNote,
    Action.FOLLOW_UP: FollowUpParams,
    Action.REOPEN: RequiredNote,
}

_ZH_PROBLEM = {
    "string_too_long": "最多{max_length}个字",
    "string_too_short": "至少{min_length}个字",
    "too_long": "最多{max_length}项",
    "string_pattern_mismatch": "格式不对",
    "enum": "应为：{expected}",
    "missing": "必填",
    "extra_forbidden": "不认识的字段",
    "bool_parsing": "应为是或否",
    "int_parsing": "应为整数",
    "greater_than_equal": "至少为{ge}",
    "less_than_equal": "至多为{le}",
}


def parse_params(action: Action, params: Mapping[str, Any] | None) -> _Input:
    """An action's parameters, validated; bad input names each field in both languages."""
    model = PARAMS.get(action, NoteParams)
    try:
        return model.model_validate(dict(params or {}))
    except ValidationError as exc:
        raise invalid(exc) from None


def invalid(exc: ValidationError) -> WorkOrderError:
    problems = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "(input)"
        zh = _ZH_PROBLEM.get(err["type"], "").format(**(err.get("ctx") or {})) or err["msg"]
        problems.append((name, zh, err["msg"].removeprefix("Value error, ")))
    return WorkOrderError(
        "invalid",
        "输入有误：" + "；".join(f"{n}：{z}" for n, z, _ in problems),
        "invalid input: " + "; ".join(f"{n}: {e}" for n, _, e in problems),
        problems=problems,
    )


class WorkOrder(BaseModel):
    """One work order as stored; `version` counts its history entries."""

    model_config = ConfigDict(frozen=True)

    id: str
    state: State
    version: int = 0
    seat: str = ""  # the seat that registered it (首接负责制)
    hotline: str = ""  # the directory number the citizen dialed
    caller_number: str = ""  # as the network presented it
    caller_name: str = ""
    contact_number: str = ""
    content: str = ""
    type: RequestType | None = None
    urgency: Urgency = Urgency.NORMAL
    address: str = ""
    district: str = ""
    class_id: str = ""
    confidential: bool = False
    lead_unit: str = ""
    assist_units: tuple[str, ...] = ()
    calls_in: tuple[str, ...] = ()
    calls_out: tuple[str, ...] = ()
    recordings: tuple[str, ...] = ()
    ratings: tuple[str, ...] = ()
    master_id: str = ""
    result: str = ""  # the unit's reply (or the seat's answer, closed on the spot)
    return_reason: str = ""
    satisfaction: Satisfaction | None = None
    pending_days: int | None = None  # an extension asked, not yet decided
    pending_hours: int | None = None
    returns: int = 0
    extensions: int = 0
    chases: int = 0
    reopens: int = 0
    escalated: bool = False
    registered_at: datetime
    dispatched_at: datetime | None = None
    deadline_at: datetime | None = None
    deadline_estimated: bool = False
    signed_at: datetime | None = None
    replied_at: datetime | None = None
    followed_up_at: datetime | None = None
    closed_at: datetime | None = None
    updated_at: datetime

    def units(self) -> tuple[str, ...]:
        return (self.lead_unit, *self.assist_units) if self.lead_unit else self.assist_units

    def light(self, now: datetime, rules: Rules) -> Light:
        if self.state not in HANDLING:
            return Light.NONE
        return light(self.dispatched_at, self.deadline_at, now, rules.config.warning)

    def overdue(self, now: datetime) -> bool:
        return self.state in HANDLING and self.deadline_at is not None and now >= self.deadline_at

    def on_time(self) -> bool | None:
        """Replied by the deadline (None: no deadline, or no reply yet)."""
        if self.deadline_at is None or self.replied_at is None:
            return None
        return self.replied_at <= self.deadline_at

    def view(self, actor: Actor) -> dict[str, Any]:
        """The order as this actor may see it: 保密 hides the caller from departments."""
        out = self.model_dump(mode="json")
        if actor.is_department and self.confidential:
            out.update(caller_name="", caller_number="", contact_number="")
        return out


@dataclass(frozen=True)
class Event:
    """One history entry; never changed once written. `seq` counts from 1 per order."""

    order_id: str
    seq: int
    at: datetime
    actor: str
    role: str
    unit: str  # the acting department's unit ("" for 12345)
    action: Action
    from_state: State | None
    to_state: State
    lead: str = ""  # the lead unit after the step (what figures per unit count by)
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    key: str | None = None  # the caller's idempotency key


@dataclass(frozen=True)
class Rules:
    """What an action is judged against: the site's section and the working calendar."""

    config: WorkOrdersConfig
    calendar: WorkingCalendar

    def deadline(self, order: WorkOrder, start: datetime) -> Deadline | None:
        if order.type is None:
            return None
        return self.calendar.add(start, self.config.time_limit(order.type, order.urgency))


# -- the machine -------------------------------------------------------------------------


def allowed_actions(
    order: WorkOrder, actor: Actor, now: datetime, rules: Rules
) -> tuple[Action, ...]:
    """What this actor may do to this order now."""
    return tuple(a for a in ACTOR_ACTIONS if _refused(order, actor, a, now, rules) is None)


def visible(order: WorkOrder, actor: Actor) -> bool:
    """A department sees its unit's orders only, once they were dispatched to it."""
    return not actor.is_department or actor.unit in order.units()


def _refused(
    order: WorkOrder, actor: Actor, action: Action, now: datetime, rules: Rules
) -> tuple[str, tuple[str, str]] | None:
    """Why the action is refused (code, (zh, en) reason), or None if it may be done."""
    rule = RULES[action]
    if actor.role not in rule.roles:
        return "forbidden", ("（无此权限）", " (not for this role)")
    if rule.unit == "lead" and actor.unit != order.lead_unit:
        return "forbidden", ("（仅主办单位）", " (the lead unit only)")
    if rule.unit == "assist" and actor.unit not in order.assist_units:
        return "forbidden", ("（仅协办单位）", " (assisting units only)")
    if rule.own_seat and actor.role is Role.SEAT and actor.seat != order.seat:
        return "forbidden", ("（首接座席或班长）", " (the first seat or a supervisor)")
    if order.state not in rule.states:
        return "bad_state", ("", "")
    return _not_now(order, action, now, rules)


def _not_now(
    order: WorkOrder, action: Action, now: datetime, rules: Rules
) -> tuple[str, tuple[str, str]] | None:
    if action is Action.ESCALATE and not order.overdue(now):
        return "not_now", ("（未超期）", " (not overdue)")
    if action is Action.ASK_EXTENSION and order.extensions >= rules.config.extensions.max_times:
        return "not_now", ("（延期次数已满）", " (no extensions left)")
    window = rules.config.return_within_working_days
    if action is Action.RETURN and window is not None and order.dispatched_at is not None:
        if now > rules.calendar.add_working_days(order.dispatched_at, window).at:
            return "not_now", (
                f"（超过{window}个工作日退单时限）",
                f" (past the {window}-day window)",
            )
    return None


def check(order: WorkOrder, actor: Actor, action: Action, now: datetime, rules: Rules) -> None:
    """Raise the named error if the actor may not do the action to the order now."""
    if not visible(order, actor):
        raise not_found(order.id)
    refused = _refused(order, actor, action, now, rules)
    if refused is not None:
        code, why = refused
        raise _refusal(code, order, action, allowed_actions(order, actor, now, rules), why)


def register(order_id: str, actor: Actor, now: datetime, **facts: Any) -> tuple[WorkOrder, Event]:
    """A new order, as a seat answers (facts: hotline, caller_number, caller_name, calls_in)."""
    order = WorkOrder(
        id=order_id, state=State.REGISTERED, version=1, seat=actor.seat or "",
        registered_at=facts.pop("registered_at", now), updated_at=now, **facts,
    )  # fmt: skip
    event = Event(
        order_id, 1, order.registered_at, actor.name, actor.role.value, "", Action.REGISTER,
        None, State.REGISTERED,
    )  # fmt: skip
    return order, event


def apply(
    order: WorkOrder,
    actor: Actor,
    action: Action,
    params: Mapping[str, Any] | None,
    now: datetime,
    rules: Rules,
    key: str | None = None,
) -> tuple[WorkOrder, Event]:
    """The order after `action` and its history entry; raises WorkOrderError otherwise."""
    if action not in ACTOR_ACTIONS:
        raise WorkOrderError(
            "invalid", f"未知操作 {action}", f"unknown action {action!r}", order_id=order.id
        )
    check(order, actor, action, now, rules)
    p = parse_params(action, params)
    changes, note, detail = _STEPS[action](order, p, now, rules)
    rule = RULES[action]
    to = rule.to or order.state
    changes.update(state=to, version=order.version + 1, updated_at=now)
    new = order.model_copy(update=changes)
    event = Event(
        order.id, new.version, now, actor.name, actor.role.value, actor.unit or "", action,
        order.state, to, new.lead_unit, note, detail, key,
    )  # fmt: skip
    return new, event


# -- each action's effect: (field changes, note, detail) ---------------------------------

Step = tuple[dict[str, Any], str, dict[str, Any]]


def _complete(order: WorkOrder, p: Any, now: datetime, rules: Rules) -> Step:
    given = {k: v for k, v in p.model_dump().items() if v is not None}
    cfg = rules.config
    bad = []
    if given.get("district") and given["district"] not in {d.id for d in cfg.districts}:
        bad.append(("district", f"未知区域 {given['district']}", "unknown district"))
    if given.get("class_id") and given["class_id"] not in cfg.class_ids():
        bad.append(("class_id", f"未知分类 {given['class_id']}", "unknown class"))
    if bad:
        raise WorkOrderError(
            "invalid",
            "输入有误：" + "；".join(z for _, z, _ in bad),
            "invalid input: " + "; ".join(f"{n}: {e}" for n, _, e in bad),
            order_id=order.id,
            problems=bad,
        )
    changed = {k: v for k, v in given.items() if getattr(order, k) != v}
    return changed, "", {"fields": sorted(changed)}


def _units(order: WorkOrder, p: DispatchParams, rules: Rules) -> dict[str, Any]:
    cfg = rules.config
    problems = []
    for name in (p.lead, *p.assisting):
        if cfg.unit(name) is None:
            problems.append(("lead" if name == p.lead else "assisting", f"未知单位 {name}",
                             f"unknown unit {name!r}"))  # fmt: skip
    if p.lead in p.assisting or len(set(p.assisting)) != len(p.assisting):
        problems.append(("assisting", "协办单位重复或与主办相同",
                         "assisting units repeat or include the lead"))  # fmt: skip
    # 改派 moves an order already out (a request from before work orders may lack a type)
    needed = (
        () if order.state is State.DISPATCHED else (("content", "诉求内容"), ("type", "诉求类型"))
    )
    missing = [(f, zh) for f, zh in needed if not getattr(order, f)]
    if problems or missing:
        problems += [(f, f"派单前须填写{zh}", f"{f} is needed to dispatch") for f, zh in missing]
        raise WorkOrderError(
            "incomplete" if missing and len(missing) == len(problems) else "invalid",
            "不能派单：" + "；".join(z for _, z, _ in problems),
            "cannot dispatch: " + "; ".join(e for _, _, e in problems),
            order_id=order.id,
            problems=problems,
        )
    return {"lead_unit": p.lead, "assist_units": tuple(p.assisting)}


def _send(order: WorkOrder, p: Any, now: datetime, rules: Rules) -> Step:
    """派单, 改派, 同意退单并改派: to (new) units, with a fresh deadline from now."""
    changes = _units(order, p, rules)
    deadline = rules.deadline(order, now)
    changes.update(
        dispatched_at=now,
        deadline_at=deadline.at if deadline else None,
        deadline_estimated=bool(deadline and deadline.estimated),
        signed_at=None,
        return_reason="",
    )
    detail = {"lead": p.lead, "assisting": list(p.assisting)}
    if deadline:
        detail["deadline"] = deadline.at.isoformat()
    return changes, p.note, detail


def _reopen(order: WorkOrder, p: Any, now: datetime, rules: Rules) -> Step:
    deadline = rules.deadline(order, now)
    changes = {
        "dispatched_at": now,
        "deadline_at": deadline.at if deadline else None,
        "deadline_estimated": bool(deadline and deadline.estimated),
        "signed_at": None,
        "replied_at": None,
        "followed_up_at": None,
        "satisfaction": None,
        "result": "",
        "reopens": order.reopens + 1,
    }
    return changes, p.note, {"lead": order.lead_unit}


def _extension(order: WorkOrder, p: ExtensionParams, now: datetime, rules: Rules) -> Step:
    ext = rules.config.extensions
    if (p.working_days is None) == (p.hours is None):
        why = ("须给出延期工作日或小时之一", "give working_days or hours")
    elif (p.working_days or 0) > ext.max_working_days or (p.hours or 0) > ext.max_hours:
        why = (
            f"延期最多{ext.max_working_days}个工作日或{ext.max_hours}小时",
            f"at most {ext.max_working_days} working days or {ext.max_hours} hours",
        )
    else:
        asked = {"pending_days": p.working_days, "pending_hours": p.hours}
        return asked, p.reason, {k: v for k, v in asked.items() if v is not None}
    raise WorkOrderError("invalid", why[0], why[1], order_id=order.id,
                         problems=[("working_days", *why)])  # fmt: skip


def _approve(order: WorkOrder, p: Any, now: datetime, rules: Rules) -> Step:
    limit = TimeLimit(working_days=order.pending_days, hours=order.pending_hours)
    base = order.deadline_at or now
    moved = rules.calendar.add(base, limit)
    changes = {
        "pending_days": None,
        "pending_hours": None,
        "extensions": order.extensions + 1,
        "deadline_at": moved.at,
        "deadline_estimated": order.deadline_estimated or moved.estimated,
    }
    return changes, p.note, {"deadline": moved.at.isoformat(), "limit": str(limit)}


def _refuse(order: WorkOrder, p: Any, now: datetime, rules: Rules) -> Step:
    return {"pending_days": None, "pending_hours": None}, p.note, {}


def _returned(order: WorkOrder, p: ReasonParams, now: datetime, rules: Rules) -> Step:
    return {"return_reason": p.reason, "returns": order.returns + 1}, p.reason, {}


def _overrule(order: WorkOrder, p: Any, now: datetime, rules: Rules) -> Step:
    """The return is refused: back to the same unit, to sign again; the deadline stands."""
    return {"return_reason": "", "signed_at": None}, p.note, {"lead": order.lead_unit}


def _reply(order: WorkOrder, p: ResultParams, now: datetime, rules: Rules) -> Step:
    on_time = order.deadline_at is None or now <= order.deadline_at
    changes = {"result": p.result, "replied_at": now, "pending_days": None, "pending_hours": None}
    return changes, p.result, {"on_time": on_time if order.deadline_at else None}


def _close_on_spot(order: WorkOrder, p: ResultParams, now: datetime, rules: Rules) -> Step:
    return {"result": p.result, "closed_at": now}, p.result, {}


def _follow_up(order: WorkOrder, p: FollowUpParams, now: datetime, rules: Rules) -> Step:
    changes = {"satisfaction": p.satisfaction, "followed_up_at": now}
    return changes, p.note, {"satisfaction": p.satisfaction.value, "lead": order.lead_unit}


def _link(order: WorkOrder, p: LinkParams, now: datetime, rules: Rules) -> Step:
    changes: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    for name in ("calls_in", "calls_out", "recordings", "ratings"):
        new = [x for x in dict.fromkeys(getattr(p, name)) if x not in getattr(order, name)]
        if new:
            changes[name] = (*getattr(order, name), *new)
            detail[name] = new
    return changes, p.note, detail


def _note(order: WorkOrder, p: Any, now: datetime, rules: Rules) -> Step:
    return {}, p.note, {}


def _counter(name: str, **also: Any):
    def step(order: WorkOrder, p: Any, now: datetime, rules: Rules) -> Step:
        return {name: getattr(order, name) + 1, **also}, p.note, {}

    return step


_STEPS = {
    Action.COMPLETE: _complete,
    Action.LINK: _link,
    Action.CLOSE_ON_SPOT: _close_on_spot,
    Action.DISPATCH: _send,
    Action.REASSIGN: _send,
    Action.ACCEPT_RETURN: _send,
    Action.SIGN: lambda o, p, now, r: ({"signed_at": now}, p.note, {}),
    Action.RETURN: _returned,
    Action.OVERRULE_RETURN: _overrule,
    Action.ASK_EXTENSION: _extension,
    Action.APPROVE_EXTENSION: _approve,
    Action.REFUSE_EXTENSION: _refuse,
    Action.REPLY: _reply,
    Action.ASSIST: _note,
    Action.CHASE: _counter("chases"),
    Action.ESCALATE: lambda o, p, now, r: ({"escalated": True}, p.note, {}),
    Action.FOLLOW_UP: _follow_up,
    Action.CLOSE: lambda o, p, now, r: ({"closed_at": now}, p.note, {}),
    Action.REOPEN: _reopen,
}


def merge(
    duplicate: WorkOrder,
    master: WorkOrder,
    actor: Actor,
    now: datetime,
    rules: Rules,
    note: str = "",
    key: str | None = None,
) -> tuple[WorkOrder, Event, WorkOrder, Event]:
    """并单: the duplicate closes as merged into the master, which takes its calls (the
    key, if any, goes on the duplicate's entry: a master may take several at once)."""
    if duplicate.id == master.id:
        raise WorkOrderError(
            "invalid",
            f"工单 {master.id} 不能并入自身",
            f"{master.id} cannot be merged into itself",
            order_id=master.id,
        )
    check(duplicate, actor, Action.MERGE, now, rules)
    check(master, actor, Action.ABSORB, now, rules)
    note = parse_params(Action.MERGE, {"note": note}).note  # type: ignore[attr-defined]
    dup = duplicate.model_copy(
        update={"state": State.MERGED, "master_id": master.id, "closed_at": now,
                "pending_days": None, "pending_hours": None,
                "version": duplicate.version + 1, "updated_at": now}
    )  # fmt: skip
    taken = {
        name: tuple(dict.fromkeys((*getattr(master, name), *getattr(duplicate, name))))
        for name in ("calls_in", "calls_out", "recordings", "ratings")
    }
    mas = master.model_copy(update={**taken, "version": master.version + 1, "updated_at": now})
    base = (now, actor.name, actor.role.value, actor.unit or "")
    dup_event = Event(
        dup.id, dup.version, *base, Action.MERGE, duplicate.state, State.MERGED,
        dup.lead_unit, note, {"master": master.id}, key,
    )  # fmt: skip
    master_event = Event(
        mas.id, mas.version, *base, Action.ABSORB, master.state, master.state,
        mas.lead_unit, note, {"duplicate": duplicate.id},
    )  # fmt: skip
    return dup, dup_event, mas, master_event

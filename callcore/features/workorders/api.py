"""Work orders (工单) over HTTP: the 12345 side and the departments' side.

12345 tokens (seat < supervisor < admin) use `/api/v1/requests…`: list with filters,
read with the history, fill in the form, take any step the lifecycle allows them
(`model.RULES` says which role may do what; a seat only on the orders it registered), the
change feed and the figures. Department tokens name their unit (`Identity.unit`) and use
`/api/v1/department/…`: they see only their unit's orders, a confidential order without
the caller, and every view and step of theirs is audited, refused or not. A refused step
answers with the order, its state and the steps allowed now; words are Chinese unless
Accept-Language asks for English. The service runs in a thread (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import Field, create_model
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.workorders import export, model
from callcore.features.workorders.model import Actor, Fields, State, WorkOrder, WorkOrderError
from callcore.features.workorders.service import WorkOrderService
from callcore.store import audit
from callcore.store.kinds import KIND
from config.workorders import RequestType, Urgency

log = logging.getLogger(__name__)

api = Api(
    "workorders",
    "Work orders (工单): the request each answered call registers, dispatched to the "
    "responsible units, followed up and closed; the departments' side, the change feed "
    "and the figures per unit and class.",
)
T = TypeVar("T")
_STATUS = {"not_found": 404, "forbidden": 403, "bad_state": 409, "not_now": 409,
           "conflict": 409, "invalid": 400, "incomplete": 400}  # fmt: skip
ERRORS = (400, 403, 404, 409, 503)
ONE = "/api/v1/requests/{request_id}"
DEPT_ONE = "/api/v1/department/requests/{request_id}"


def _lang(req: ApiRequest) -> str:
    return "en" if req.request.headers.get("Accept-Language", "").startswith("en") else "zh"


def actor_of(req: ApiRequest) -> Actor:
    """The lifecycle's actor for the token: a seat with its seat, a department with its
    unit; supervisors and admins as they are."""
    ident = req.identity
    assert ident is not None  # every endpoint here needs a token
    if ident.role is Role.DEPARTMENT:
        if not ident.unit:
            raise ApiError(403, "forbidden", "this department token names no unit")
        return Actor(ident.name, model.Role.DEPARTMENT, unit=ident.unit)
    if ident.role is Role.SEAT:
        return Actor(ident.name, model.Role.SEAT, seat=ident.seat or "\x00no-seat")
    return Actor(ident.name, model.Role(ident.role.value))


def refusal(exc: WorkOrderError, lang: str) -> ApiError:
    detail: dict[str, Any] = {"request": exc.order_id}
    if exc.state is not None:
        detail["state"] = exc.state.value
        detail["allowed"] = [a.value for a in exc.allowed]
    if exc.problems:
        en = lang == "en"
        detail["problems"] = [{"field": f, "message": e if en else z} for f, z, e in exc.problems]
    return ApiError(_STATUS.get(exc.code, 400), exc.code, exc.message(lang), detail)


async def _call(req: ApiRequest, op: Callable[[WorkOrderService], T]) -> T:
    service: WorkOrderService = req.services.need("workorders")  # 503 without it
    try:
        return await asyncio.to_thread(op, service)
    except WorkOrderError as exc:
        raise refusal(exc, _lang(req)) from None
    except DBAPIError as exc:  # the database is away: calls go on, orders wait
        words = ("工单库暂不可用，请稍后再试", "the work-order store is unavailable; try again")
        raise ApiError(503, "unavailable", words[_lang(req) == "en"]) from exc


# -- what goes over the wire ---------------------------------------------------------------


RequestOut = create_model(  # the order's own fields, so the description cannot drift from them
    "RequestOut",
    __base__=Model,
    __doc__="A work order as the token may see it (保密: no caller for a department), its "
    "light (green/yellow/red against the deadline) and the steps the token may take now.",
    **{name: (f.annotation, f) for name, f in WorkOrder.model_fields.items()},
    state_label=(str, ...),
    light=(str, ...),
    overdue=(bool, ...),
    allowed=(list[str], ...),
)


class EventOut(Model):
    order_id: str
    seq: int
    at: datetime
    actor: str
    role: str
    unit: str
    action: model.Action
    from_state: State | None
    to_state: State
    lead: str
    note: str
    detail: dict[str, Any]
    key: str | None


class RequestsOut(Model):
    requests: list[RequestOut]


class RequestDetail(Model):
    request: RequestOut
    history: list[EventOut]


class ListQuery(Model):
    status: str | None = Field(None, description="states, comma-separated (registered, …)")
    unit: str | None = Field(None, description="lead or assisting unit")
    lead_only: bool = False
    type: RequestType | None = None
    urgency: Urgency | None = None
    district: str | None = None
    class_id: str | None = Field(None, description="this class and every class under it")
    hotline: str | None = Field(None, description="the directory number the citizen dialed")
    seat: str | None = None
    caller: str | None = None
    overdue: bool | None = None
    since: datetime | None = Field(None, description="registered at or after")
    until: datetime | None = Field(None, description="registered before")
    limit: Annotated[int, Field(ge=1, le=1000)] = 200
    offset: Annotated[int, Field(ge=0)] = 0

    def query(self, seat: str | None) -> dict[str, Any]:
        out = self.model_dump(exclude_none=True, exclude={"status"})
        if self.status:
            out["states"] = [s.strip() for s in self.status.split(",") if s.strip()]
        if seat is not None:
            out["seat"] = seat
        return out


class ActionIn(Model):
    """A step's parameters; which ones a step takes is in the lifecycle (others are refused
    by name): 派单/改派 lead, assisting, note; 退单 reason; 延期 working_days or hours and
    reason; 办结反馈/直接办结 result; 回访 satisfaction, note; 重办/协办 note; 并单 master."""

    lead: str | None = None
    assisting: list[str] | None = None
    note: str | None = None
    reason: str | None = None
    result: str | None = None
    working_days: int | None = None
    hours: int | None = None
    satisfaction: model.Satisfaction | None = None
    master: str | None = Field(None, description="并单: the order this one is merged into")
    key: str | None = Field(None, max_length=64, description="idempotency key: a replay is a no-op")


class ChangesQuery(Model):
    cursor: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=5000)] = 500


class ChangesOut(Model):
    orders: list[RequestOut]
    events: list[EventOut]
    cursor: int = Field(description="ask again with this cursor for what changes next")


class FiguresQuery(Model):
    since: date | None = Field(None, description="first local day (default: 30 days ago)")
    until: date | None = Field(None, description="last local day, included (default: today)")


class FigureOut(Model):
    key: str
    name: str
    dispatched: int
    replied: int
    replied_with_deadline: int
    on_time: int
    returned: int
    extended: int
    followed_up: int
    satisfied: int
    open: int
    overdue: int
    on_time_rate: float | None
    return_rate: float | None
    extension_rate: float | None
    satisfaction_rate: float | None


class FiguresOut(Model):
    since: date
    until: date
    units: list[FigureOut]
    classes: list[FigureOut]


def out(service: WorkOrderService, order: WorkOrder, actor: Actor) -> RequestOut:
    view = service.describe(order, actor)
    return RequestOut(**view, state_label=model.label(order.state))


def event_out(e: model.Event) -> EventOut:
    return EventOut(**{k: getattr(e, k) for k in EventOut.model_fields})


def figures(service: WorkOrderService, actor: Actor, q: FiguresQuery) -> FiguresOut:
    zone = service.timezone()
    until = q.until or service.now().astimezone(ZoneInfo(zone)).date()
    since = q.since or until - timedelta(days=29)
    if since > until:
        raise WorkOrderError("invalid", "起始日期晚于结束日期", "since is after until")
    start, _ = export.day_bounds(since, zone)
    _, end = export.day_bounds(until, zone)
    got = service.figures(actor, start, end)
    return FiguresOut(
        since=since,
        until=until,
        units=[FigureOut(**f.to_dict()) for f in got.units],
        classes=[FigureOut(**f.to_dict()) for f in got.classes],
    )


def _params(body: ActionIn) -> dict[str, Any]:
    return body.model_dump(exclude_none=True, exclude={"key"})


def _detail(service: WorkOrderService, order_id: str, actor: Actor) -> RequestDetail:
    order = service.get(order_id, actor)
    history = [event_out(e) for e in service.history(order_id, actor)]
    return RequestDetail(request=out(service, order, actor), history=history)


# -- the 12345 side ----------------------------------------------------------------------------


@api.get("/api/v1/requests/changes", role=Role.SUPERVISOR, query=ChangesQuery,
         response=ChangesOut, errors=ERRORS)  # fmt: skip
async def request_changes(req: ApiRequest) -> ChangesOut:
    """Every order changed after a cursor, as it stands, with its new history entries.

    Start from cursor 0 (everything) and ask again with the cursor returned; entries come
    in commit order and none is skipped (docs/workorders-export.md)."""
    q: ChangesQuery = req.query
    actor = actor_of(req)

    def run(s: WorkOrderService) -> ChangesOut:
        got = s.changes(q.cursor, q.limit)
        orders = [out(s, o, actor) for o in got.orders]
        return ChangesOut(orders=orders, events=[event_out(e) for e in got.events],
                          cursor=got.cursor)  # fmt: skip

    return await _call(req, run)


@api.get("/api/v1/requests/figures", role=Role.SUPERVISOR, query=FiguresQuery,
         response=FiguresOut, errors=ERRORS)  # fmt: skip
async def request_figures(req: ApiRequest) -> FiguresOut:
    """Figures per unit and per class over local days: on-time, return, extension and
    follow-up satisfaction rates, and the open and overdue orders now."""
    actor = actor_of(req)
    return await _call(req, lambda s: figures(s, actor, req.query))


@api.get("/api/v1/requests", role=Role.SEAT, query=ListQuery, response=RequestsOut,
         errors=ERRORS)  # fmt: skip
async def list_requests(req: ApiRequest) -> RequestsOut:
    """Work orders, newest first, by status, unit, type, urgency, district, class, hotline
    dialed, overdue and time; a seat token sees those it registered only. Audited."""
    return await _audited(req, "workorder_list", "", lambda: _requests(req))


async def _requests(req: ApiRequest) -> RequestsOut:
    q: ListQuery = req.query
    actor = actor_of(req)
    filters = q.query(req.own_seat_only())

    def run(s: WorkOrderService) -> RequestsOut:
        return RequestsOut(requests=[out(s, o, actor) for o in s.query(actor, filters)])

    return await _call(req, run)


@api.get(ONE, role=Role.SEAT, response=RequestDetail, errors=ERRORS)
async def get_request(req: ApiRequest) -> RequestDetail:
    """One work order with its whole history and the steps the token may take now. Audited."""
    order_id = req.path["request_id"]
    return await _audited(req, "workorder_view", order_id, lambda: _request(req))


async def _request(req: ApiRequest) -> RequestDetail:
    actor = actor_of(req)
    order_id = req.path["request_id"]
    detail = await _call(req, lambda s: _detail(s, order_id, actor))
    own = req.own_seat_only()
    if own is not None and detail.request.seat != own:
        raise refusal(model.not_found(order_id), _lang(req))
    return detail


@api.post(f"{ONE}/form", role=Role.SEAT, body=Fields, response=RequestOut, errors=ERRORS)
async def complete_request(req: ApiRequest) -> RequestOut:
    """The seat's form (补录): content, type, urgency, address, district, class,
    confidentiality, caller's name and contact number; any of them, as the call goes."""
    actor = actor_of(req)
    fields = req.body.model_dump(exclude_none=True)
    order_id = req.path["request_id"]
    order = await _call(req, lambda s: s.complete(order_id, actor, fields))
    _tell(req, order)
    return await _call(req, lambda s: out(s, order, actor))


@api.post(f"{ONE}/actions/{{action}}", role=Role.SEAT, body=ActionIn, response=RequestOut,
          errors=ERRORS)  # fmt: skip
async def act_on_request(req: ApiRequest) -> RequestOut:
    """A step of the 12345 side: close_on_spot (直接办结), dispatch (派单), reassign (改派),
    accept_return / overrule_return (退单审核), approve_extension / refuse_extension,
    chase (催办), escalate (督办), merge (并单, with `master`), follow_up (回访), close,
    reopen (重办), link. Refused steps name the order, its state and what is allowed."""
    return await _act(req)


def _tell(req: ApiRequest, order: WorkOrder) -> None:
    """First contact follows open orders: tell it of a change made here, at once."""
    if req.services.intake is not None:
        req.services.intake.changed(order)


async def _act(req: ApiRequest) -> RequestOut:
    actor = actor_of(req)
    body: ActionIn = req.body
    order_id, action = req.path["request_id"], req.path["action"]

    def run(s: WorkOrderService) -> tuple[WorkOrder, RequestOut]:
        order = s.act(order_id, actor, action, _params(body), body.key)
        return order, out(s, order, actor)

    order, reply = await _call(req, run)
    _tell(req, order)
    return reply


# -- the departments' side -------------------------------------------------------------------


async def _audited(req: ApiRequest, what: str, order_id: str, op: Callable[[], Any]) -> Any:
    """Run a view of citizens' data or a department's step and audit it, refused or not."""
    try:
        result = await op()
    except ApiError as exc:
        await _audit(req, what, order_id, f"{exc.code}: {exc.message}")
        raise
    await _audit(req, what, order_id)
    return result


async def _audit(req: ApiRequest, what: str, order_id: str, error: str = "") -> None:
    """Through the engine's store writer (journaled while the store is away) where there is
    one; `callcore api` on another node writes it itself."""
    ident = req.identity
    assert ident is not None
    detail = {"unit": ident.unit or "", "path": req.request.path}
    args = (ident.name, ident.role.value, what, order_id, detail, error)
    if req.services.writer is not None:
        req.services.writer.submit({KIND: "audit", **audit.row(*args)})
        return
    service: WorkOrderService = req.services.need("workorders")
    try:
        await asyncio.to_thread(audit.write, service.engine, *args)
    except SQLAlchemyError:
        if not error:
            raise
        log.warning("a refused %s was not audited: the store is away", what)


@api.get("/api/v1/department/requests", role=Role.DEPARTMENT, query=ListQuery,
         response=RequestsOut, errors=ERRORS)  # fmt: skip
async def department_requests(req: ApiRequest) -> RequestsOut:
    """The unit's work orders (lead or assisting), newest first, with the same filters;
    a confidential order shows neither the caller's number nor name."""
    return await _audited(req, "workorder_list", "", lambda: _requests(req))


@api.get(DEPT_ONE, role=Role.DEPARTMENT, response=RequestDetail, errors=ERRORS)
async def department_request(req: ApiRequest) -> RequestDetail:
    """One of the unit's work orders with its history; another unit's does not exist."""
    order_id = req.path["request_id"]
    return await _audited(req, "workorder_view", order_id, lambda: _request(req))


@api.post(f"{DEPT_ONE}/actions/{{action}}", role=Role.DEPARTMENT, body=ActionIn,
          response=RequestOut, errors=ERRORS)  # fmt: skip
async def department_act(req: ApiRequest) -> RequestOut:
    """A step of the unit: sign (签收), return (退单, with `reason`), ask_extension (延期,
    `working_days` or `hours` and `reason`), reply (办结反馈, `result`), assist (协办反馈,
    `note`). Audited; refused steps name the order, its state and what is allowed."""
    order_id = req.path["request_id"]
    what = f"workorder_{req.path['action']}"[:32]
    return await _audited(req, what, order_id, lambda: _act(req))


@api.get("/api/v1/department/figures", role=Role.DEPARTMENT, query=FiguresQuery,
         response=FiguresOut, errors=ERRORS)  # fmt: skip
async def department_figures(req: ApiRequest) -> FiguresOut:
    """The unit's own figures over local days (on-time, return, extension, satisfaction,
    open, overdue) and those of the classes of its orders."""
    actor = actor_of(req)
    return await _call(req, lambda s: figures(s, actor, req.query))

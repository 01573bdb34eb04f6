"""The work orders' operations on the store: register, complete, every step, merge, queries,
the change feed and the figures per unit and class.

Synchronous SQLAlchemy (callers run it in a thread). Each operation is one transaction that
first bumps the change counter (`tables.WorkOrderRev`), which serialises the writers, then
loads the order, lets `model.apply` judge the step and writes the order and its new history
entries. A refused step raises `WorkOrderError` and the transaction rolls back: nothing
changes. A step given an idempotency key that the order's history already holds is a replay
and returns the order as it stands; registering an order that exists returns it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Connection, Engine, and_, delete, exists, func, insert, or_, select, update

from callcore.features.workorders import model
from callcore.features.workorders.deadlines import WorkingCalendar
from callcore.features.workorders.model import (
    HANDLING,
    OPEN,
    Action,
    Actor,
    Event,
    Rules,
    State,
    WorkOrder,
    WorkOrderError,
    not_found,
)
from callcore.features.workorders.tables import (
    WorkOrderEvent,
    WorkOrderRev,
    WorkOrderRow,
    WorkOrderUnit,
)
from callcore.records import CallRecord
from callcore.store.models import Call
from config.schema import SiteConfig
from config.workorders import RequestType, Urgency

orders_t = WorkOrderRow.__table__
events_t = WorkOrderEvent.__table__
units_t = WorkOrderUnit.__table__
rev_t = WorkOrderRev.__table__
calls_t = Call.__table__

_LIST_FIELDS = ("assist_units", "calls_in", "calls_out", "recordings", "ratings")
_SENT = (Action.DISPATCH, Action.REASSIGN, Action.ACCEPT_RETURN, Action.REOPEN)


def _utc_now() -> datetime:
    return datetime.now(UTC)


# -- rows <-> records --------------------------------------------------------------------


def _to_row(order: WorkOrder, rev: int) -> dict[str, Any]:
    row = order.model_dump()
    row["rev"] = rev
    row["state"] = order.state.value
    row["type"] = order.type.value if order.type else ""
    row["urgency"] = order.urgency.value
    row["satisfaction"] = order.satisfaction.value if order.satisfaction else ""
    for name in _LIST_FIELDS:
        row[name] = list(getattr(order, name))
    return row


def _from_row(row: Mapping[str, Any]) -> WorkOrder:
    data = {k: row[k] for k in WorkOrder.model_fields}
    data["type"] = data["type"] or None
    data["urgency"] = data["urgency"] or Urgency.NORMAL
    data["satisfaction"] = data["satisfaction"] or None
    for name in _LIST_FIELDS:
        data[name] = tuple(data[name] or ())
    return WorkOrder.model_validate(data)


def _event_row(e: Event, rev: int) -> dict[str, Any]:
    return {
        "order_id": e.order_id, "seq": e.seq, "rev": rev, "at": e.at, "actor": e.actor[:64],
        "role": e.role, "unit": e.unit, "action": e.action.value,
        "from_state": e.from_state.value if e.from_state else "", "to_state": e.to_state.value,
        "lead": e.lead, "note": e.note, "detail": e.detail, "key": e.key,
    }  # fmt: skip


def _event(row: Mapping[str, Any]) -> Event:
    return Event(
        row["order_id"], row["seq"], row["at"], row["actor"], row["role"], row["unit"],
        Action(row["action"]), State(row["from_state"]) if row["from_state"] else None,
        State(row["to_state"]), row["lead"], row["note"], dict(row["detail"] or {}), row["key"],
    )  # fmt: skip


# -- queries and results -----------------------------------------------------------------


class Query(BaseModel):
    """Filters of a listing; every one optional. Times bound `registered_at`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    states: list[State] = Field(default_factory=list)
    unit: str | None = None  # lead or assisting
    lead_only: bool = False
    type: RequestType | None = None
    urgency: Urgency | None = None
    district: str | None = None
    class_id: str | None = None  # the class and every class under it
    hotline: str | None = None  # the directory number dialed
    seat: str | None = None
    caller: str | None = None
    overdue: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 200
    offset: Annotated[int, Field(ge=0)] = 0


@dataclass(frozen=True)
class Changes:
    """The orders and history entries changed after a cursor, and the cursor to ask next."""

    orders: list[WorkOrder]
    events: list[Event]
    cursor: int


@dataclass
class Figures:
    """One unit's (or class's) figures over a time range, and its open orders now."""

    key: str
    name: str
    dispatched: int = 0
    replied: int = 0
    replied_with_deadline: int = 0
    on_time: int = 0
    returned: int = 0
    extended: int = 0
    followed_up: int = 0
    satisfied: int = 0
    open: int = 0
    overdue: int = 0

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    @property
    def on_time_rate(self) -> float | None:
        return self._rate(self.on_time, self.replied_with_deadline)

    @property
    def return_rate(self) -> float | None:
        return self._rate(self.returned, self.dispatched)

    @property
    def extension_rate(self) -> float | None:
        return self._rate(self.extended, self.dispatched)

    @property
    def satisfaction_rate(self) -> float | None:
        return self._rate(self.satisfied, self.followed_up)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for name in ("on_time_rate", "return_rate", "extension_rate", "satisfaction_rate"):
            out[name] = getattr(self, name)
        return out


@dataclass
class FigureSet:
    units: list[Figures] = field(default_factory=list)
    classes: list[Figures] = field(default_factory=list)


# -- the service -------------------------------------------------------------------------


class WorkOrderService:
    def __init__(
        self,
        engine: Engine,
        config: Callable[[], SiteConfig],
        clock: Callable[[], datetime] = _utc_now,
    ):
        self.engine = engine
        self._config = config
        self._clock = clock
        self._calendars: dict[str, WorkingCalendar] = {}

    def rules(self) -> Rules:
        cfg = self._config()
        tz = cfg.site.timezone
        if tz not in self._calendars:
            self._calendars[tz] = WorkingCalendar(tz)
        return Rules(cfg.workorders, self._calendars[tz])

    def now(self) -> datetime:
        return self._clock()

    def timezone(self) -> str:
        """The site's timezone: local days (figures, the daily batch) are counted in it."""
        return self._config().site.timezone

    # -- writing --------------------------------------------------------------------------

    def _bump(self, conn: Connection, now: datetime) -> int:
        """The next change counter value; its row lock serialises writers until commit."""
        done = conn.execute(
            update(rev_t).where(rev_t.c.id == 1).values(last=rev_t.c.last + 1, at=now.timestamp())
        )
        if done.rowcount == 0:  # a store created without the migration's row
            conn.execute(insert(rev_t).values(id=1, last=1, at=now.timestamp()))
        return conn.execute(select(rev_t.c.last).where(rev_t.c.id == 1)).scalar_one()

    def _load(self, conn: Connection, order_id: str) -> WorkOrder | None:
        row = conn.execute(select(orders_t).where(orders_t.c.id == order_id)).mappings().first()
        return _from_row(row) if row is not None else None

    def _save(
        self, conn: Connection, order: WorkOrder, event: Event, rev: int, before: WorkOrder | None
    ) -> None:
        row = _to_row(order, rev)
        if before is None:
            conn.execute(insert(orders_t).values(row))
        else:
            conn.execute(update(orders_t).where(orders_t.c.id == order.id).values(row))
        if before is None or before.units() != order.units():
            conn.execute(delete(units_t).where(units_t.c.order_id == order.id))
            units = [
                {"order_id": order.id, "unit": u, "role": "assist"} for u in order.assist_units
            ]
            if order.lead_unit:
                units.append({"order_id": order.id, "unit": order.lead_unit, "role": "lead"})
            if units:
                conn.execute(insert(units_t), units)
        conn.execute(insert(events_t).values(_event_row(event, rev)))

    def _replayed(self, conn: Connection, order_id: str, key: str | None) -> bool:
        if key is None:
            return False
        stmt = select(events_t.c.id).where(events_t.c.order_id == order_id, events_t.c.key == key)
        return conn.execute(stmt).first() is not None

    # -- registration ---------------------------------------------------------------------

    def register_call(
        self,
        linkedid: str,
        *,
        seat: str,
        caller_number: str = "",
        caller_name: str = "",
        hotline: str = "",
        answered_at: datetime | None = None,
    ) -> WorkOrder:
        """The order of a call a seat answered (首接: that seat); an existing one as it is."""
        if not linkedid or len(linkedid) > 64:
            raise WorkOrderError("invalid", "来电标识无效", f"bad call id {linkedid!r:.80}")
        now = self.now()
        with self.engine.begin() as conn:
            rev = self._bump(conn, now)
            held = self._load(conn, linkedid)
            if held is not None:
                return held
            actor = Actor(seat, model.Role.SEAT, seat=seat)
            order, event = model.register(
                linkedid,
                actor,
                now,
                registered_at=answered_at or now,
                hotline=hotline[:32],
                caller_number=caller_number[:128],
                caller_name=caller_name[:64],
                calls_in=(linkedid,),
            )
            self._save(conn, order, event, rev, None)
            return order

    def register_record(self, rec: CallRecord) -> WorkOrder | None:
        """`register_call` for a call record a seat answered; None for any other record."""
        if rec.answered_at is None or not rec.seat:
            return None
        return self.register_call(
            rec.linkedid,
            seat=rec.seat,
            caller_number=rec.caller_number,
            caller_name=rec.caller_name,
            hotline=rec.hotline,
            answered_at=rec.answered_at,
        )

    def register_answered(self, since: datetime, seats: Iterable[str], limit: int = 500) -> int:
        """Calls a seat of `seats` answered since `since` that have no work order yet get
        one (a registration missed while the store was away, or before a crash); how many."""
        stmt = (
            select(calls_t.c.linkedid, calls_t.c.seat, calls_t.c.caller_number,
                   calls_t.c.caller_name, calls_t.c.hotline, calls_t.c.answered_at)
            .where(calls_t.c.answered_at >= since, calls_t.c.seat.in_(list(seats)))
            .where(~exists().where(orders_t.c.id == calls_t.c.linkedid))
            .order_by(calls_t.c.answered_at)
            .limit(limit)
        )  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        for r in rows:
            self.register_call(
                r["linkedid"], seat=r["seat"], caller_number=r["caller_number"],
                caller_name=r["caller_name"], hotline=r["hotline"], answered_at=r["answered_at"],
            )  # fmt: skip
        return len(rows)

    # -- steps ----------------------------------------------------------------------------

    def act(
        self,
        order_id: str,
        actor: Actor,
        action: Action | str,
        params: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> WorkOrder:
        """One step of the lifecycle by this actor; raises WorkOrderError if refused."""
        action = _action(action)
        if action is Action.MERGE:
            master = str((params or {}).get("master", ""))
            return self.merge([order_id], master, actor, str((params or {}).get("note", "")), key)
        now = self.now()
        with self.engine.begin() as conn:
            rev = self._bump(conn, now)
            order = self._load(conn, order_id)
            if order is None or not model.visible(order, actor):
                raise not_found(order_id)
            if self._replayed(conn, order_id, key):
                return order
            new, event = model.apply(order, actor, action, params, now, self.rules(), key)
            self._save(conn, new, event, rev, order)
            return new

    def complete(
        self, order_id: str, actor: Actor, fields: Mapping[str, Any], key: str | None = None
    ) -> WorkOrder:
        """Fill in the form's fields (any of them, as the call goes)."""
        return self.act(order_id, actor, Action.COMPLETE, fields, key)

    def merge(
        self,
        duplicate_ids: Iterable[str],
        master_id: str,
        actor: Actor,
        note: str = "",
        key: str | None = None,
    ) -> WorkOrder:
        """并单: each duplicate is merged into the master, in one transaction; a duplicate
        already merged into this master is skipped (a replay)."""
        now = self.now()
        rules = self.rules()
        with self.engine.begin() as conn:
            rev = self._bump(conn, now)
            master = self._load(conn, master_id)
            if master is None or not model.visible(master, actor):
                raise not_found(master_id)
            for dup_id in dict.fromkeys(duplicate_ids):
                dup = self._load(conn, dup_id)
                if dup is None or not model.visible(dup, actor):
                    raise not_found(dup_id)
                if dup.state is State.MERGED and dup.master_id == master.id:
                    continue
                merged, dup_event, new_master, master_event = model.merge(
                    dup, master, actor, now, rules, note, key
                )
                self._save(conn, merged, dup_event, rev, dup)
                self._save(conn, new_master, master_event, rev, master)
                self._adopt_children(conn, dup.id, new_master, actor, now, rev, rules)
                master = self._load(conn, master_id) or new_master
            return master

    def _adopt_children(
        self,
        conn: Connection,
        old_master: str,
        master: WorkOrder,
        actor: Actor,
        now: datetime,
        rev: int,
        rules: Rules,
    ) -> None:
        """Orders merged into a duplicate earlier now point at the new master."""
        rows = conn.execute(
            select(orders_t).where(
                orders_t.c.master_id == old_master, orders_t.c.state == State.MERGED.value
            )
        ).mappings()
        for row in list(rows):
            child = _from_row(row)
            moved = child.model_copy(
                update={"master_id": master.id, "version": child.version + 1, "updated_at": now}
            )
            event = Event(
                child.id, moved.version, now, actor.name, actor.role.value, actor.unit or "",
                Action.LINK, State.MERGED, State.MERGED, child.lead_unit, "",
                {"master": master.id, "was": old_master},
            )  # fmt: skip
            self._save(conn, moved, event, rev, child)

    # -- reading --------------------------------------------------------------------------

    def get(self, order_id: str, actor: Actor) -> WorkOrder:
        with self.engine.connect() as conn:
            order = self._load(conn, order_id)
        if order is None or not model.visible(order, actor):
            raise not_found(order_id)
        return order

    def describe(self, order: WorkOrder, actor: Actor) -> dict[str, Any]:
        """The order as the actor sees it, with its light and the steps it may take now."""
        now, rules = self.now(), self.rules()
        out = order.view(actor)
        out["light"] = order.light(now, rules).value
        out["overdue"] = order.overdue(now)
        out["allowed"] = [a.value for a in model.allowed_actions(order, actor, now, rules)]
        return out

    def history(self, order_id: str, actor: Actor) -> list[Event]:
        self.get(order_id, actor)
        stmt = select(events_t).where(events_t.c.order_id == order_id).order_by(events_t.c.seq)
        with self.engine.connect() as conn:
            return [_event(r) for r in conn.execute(stmt).mappings()]

    def query(self, actor: Actor, q: Query | Mapping[str, Any] | None = None) -> list[WorkOrder]:
        """Orders matching the filters, newest first; a department sees its unit's only."""
        q = _query(q)
        stmt = select(orders_t).where(*self._filters(actor, q))
        stmt = stmt.order_by(orders_t.c.registered_at.desc(), orders_t.c.id)
        stmt = stmt.limit(q.limit).offset(q.offset)
        with self.engine.connect() as conn:
            return [_from_row(r) for r in conn.execute(stmt).mappings()]

    def _filters(self, actor: Actor, q: Query) -> list[Any]:
        c = orders_t.c
        where: list[Any] = []
        for unit, lead_only in ((actor.unit, False), (q.unit, q.lead_only)):
            if unit:
                cond = and_(units_t.c.order_id == c.id, units_t.c.unit == unit)
                if lead_only:
                    cond = and_(cond, units_t.c.role == "lead")
                where.append(exists().where(cond))
        equal = {
            c.type: q.type.value if q.type else None,
            c.urgency: q.urgency.value if q.urgency else None,
            c.district: q.district,
            c.hotline: q.hotline,
            c.seat: q.seat,
            c.caller_number: q.caller,
        }
        where += [col == value for col, value in equal.items() if value]
        if q.states:
            where.append(c.state.in_([s.value for s in q.states]))
        if q.class_id:
            where.append(c.class_id.in_(self.rules().config.class_and_below(q.class_id)))
        if q.since:
            where.append(c.registered_at >= q.since)
        if q.until:
            where.append(c.registered_at < q.until)
        if q.overdue is not None:
            late = and_(
                c.state.in_([s.value for s in HANDLING]),
                c.deadline_at.is_not(None),
                c.deadline_at <= self.now(),
            )
            where.append(late if q.overdue else ~late)
        return where

    def changes(self, cursor: int = 0, limit: int = 500, actor: Actor | None = None) -> Changes:
        """Everything changed after `cursor` (orders as they stand, the new history
        entries), in commit order; ask again with the returned cursor."""
        limit = max(1, min(limit, 5000))
        c = orders_t.c
        seen = [] if actor is None else self._filters(actor, Query())
        with self.engine.connect() as conn:
            revs = conn.execute(
                select(c.rev).where(c.rev > cursor, *seen).order_by(c.rev).limit(limit)
            ).scalars().all()  # fmt: skip
            if not revs:
                return Changes([], [], cursor)
            top = revs[-1]
            window = and_(c.rev > cursor, c.rev <= top)
            rows = conn.execute(select(orders_t).where(window, *seen).order_by(c.rev, c.id))
            orders = [_from_row(r) for r in rows.mappings()]
            ids = [o.id for o in orders]
            ev = conn.execute(
                select(events_t)
                .where(events_t.c.rev > cursor, events_t.c.rev <= top)
                .where(events_t.c.order_id.in_(ids))
                .order_by(events_t.c.rev, events_t.c.order_id, events_t.c.seq)
            )
            events = [_event(r) for r in ev.mappings()]
        return Changes(orders, events, top)

    def cursor(self) -> int:
        """The newest change counter value (a feed may start from here)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(rev_t.c.last))).scalar() or 0

    # -- figures --------------------------------------------------------------------------

    def figures(self, actor: Actor, since: datetime, until: datetime) -> FigureSet:
        """Per unit and per class: dispatched, on-time, return, extension and satisfaction
        rates over [since, until) from the history, and the open and overdue orders now."""
        cfg = self.rules().config
        counted = [a.value for a in (*_SENT, Action.RETURN, Action.APPROVE_EXTENSION)]
        counted += [Action.REPLY.value, Action.FOLLOW_UP.value]
        stmt = (
            select(events_t.c.action, events_t.c.unit, events_t.c.lead, events_t.c.detail,
                   orders_t.c.class_id)
            .select_from(events_t.join(orders_t, orders_t.c.id == events_t.c.order_id))
            .where(events_t.c.at >= since, events_t.c.at < until)
            .where(events_t.c.action.in_(counted))
        )  # fmt: skip
        now_stmt = select(orders_t.c.state, orders_t.c.lead_unit, orders_t.c.class_id,
                          orders_t.c.deadline_at).where(
            orders_t.c.state.in_([s.value for s in OPEN])
        )  # fmt: skip
        if actor.is_department:
            stmt = stmt.where(or_(events_t.c.unit == actor.unit, events_t.c.lead == actor.unit))
            now_stmt = now_stmt.where(orders_t.c.lead_unit == actor.unit)
        with self.engine.connect() as conn:
            events = conn.execute(stmt).mappings().all()
            open_rows = conn.execute(now_stmt).mappings().all()
        units = _Tally(lambda k: cfg.unit(k).name if cfg.unit(k) else k)
        names = {c.id: c.name for _, c in cfg.walk()}
        classes = _Tally(lambda k: names.get(k, k))
        for e in events:
            units.count_event(e, e["unit"] if e["action"] in ("return", "reply") else e["lead"])
            classes.count_event(e, e["class_id"])
        now = self.now()
        for r in open_rows:
            late = bool(r["deadline_at"] and r["deadline_at"] <= now)
            late = late and State(r["state"]) in HANDLING
            if State(r["state"]) in HANDLING:
                units.count_open(r["lead_unit"], late)
            classes.count_open(r["class_id"], late)
        if actor.is_department:
            units.only(actor.unit or "")
        return FigureSet(units.result(), classes.result())

    def form_defaults(self, hotline: str) -> dict[str, str | None]:
        """What the seat's form starts with for a call to this hotline."""
        unit, class_id = self._config().hotline_defaults(hotline)
        return {"lead": unit, "class_id": class_id}


class _Tally:
    """Figures keyed by unit or class id ("" is not counted)."""

    def __init__(self, name_of: Callable[[str], str]):
        self._name_of = name_of
        self._by: dict[str, Figures] = {}

    def _of(self, key: str) -> Figures | None:
        if not key:
            return None
        if key not in self._by:
            self._by[key] = Figures(key, self._name_of(key))
        return self._by[key]

    def count_event(self, e: Mapping[str, Any], key: str) -> None:
        f = self._of(key)
        if f is None:
            return
        action, detail = e["action"], e["detail"] or {}
        if action in {a.value for a in _SENT}:
            f.dispatched += 1
        elif action == "return":
            f.returned += 1
        elif action == "approve_extension":
            f.extended += 1
        elif action == "reply":
            f.replied += 1
            if detail.get("on_time") is not None:
                f.replied_with_deadline += 1
                f.on_time += bool(detail["on_time"])
        elif action == "follow_up":
            f.followed_up += 1
            f.satisfied += model.Satisfaction(detail["satisfaction"]).satisfied

    def count_open(self, key: str, late: bool) -> None:
        f = self._of(key)
        if f is not None:
            f.open += 1
            f.overdue += late

    def only(self, key: str) -> None:
        self._by = {k: v for k, v in self._by.items() if k == key}

    def result(self) -> list[Figures]:
        return [self._by[k] for k in sorted(self._by)]


def _action(action: Action | str) -> Action:
    try:
        return Action(action)
    except ValueError:
        known = ", ".join(a.value for a in model.ACTOR_ACTIONS)
        raise WorkOrderError(
            "invalid",
            f"未知操作 {action!r}；可用：{known}",
            f"unknown action {action!r}; one of {known}",
        ) from None


def _query(q: Query | Mapping[str, Any] | None) -> Query:
    if isinstance(q, Query):
        return q
    try:
        return Query.model_validate(dict(q or {}))
    except ValidationError as exc:
        raise model.invalid(exc) from None

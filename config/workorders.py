"""The site file's `workorders` section: units, districts, the class tree and time limits.

A work order (工单) is dispatched to configured units, filed under a class of the tree and
given a deadline by its type and urgency. All of it is the city's data, checked here at
load so that a typo (an unknown unit in a default, two classes with one id, a type
without a time limit) is named with its key before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.base import CrossReferenceError, Loc

UNIT_ID = r"^[a-z][a-z0-9_]{1,31}$"
CLASS_ID = r"^[a-z][a-z0-9_.]{0,39}$"
ANY_TYPE = "*"


class Strict(BaseModel):
    """As `config.schema.Strict` (declared here too: ruff knows a pydantic model only by a
    base class in the same module)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestType(StrEnum):
    """诉求类型, as published statistics use them."""

    CONSULT = "咨询"
    HELP = "求助"
    COMPLAINT = "投诉"
    REPORT = "举报"
    SUGGESTION = "建议"
    PRAISE = "表扬"
    OTHER = "其他"


class Urgency(StrEnum):
    NORMAL = "一般"
    URGENT = "紧急"
    CRITICAL = "特急"


class UnitKind(StrEnum):
    DEPARTMENT = "department"  # a city department (市…局)
    COUNTY = "county"  # a county-level unit's 12345 office (县/市/区)
    ZONE = "zone"  # a development zone (开发区, 高新区)


Name = Annotated[str, Field(min_length=1, max_length=64)]


class Unit(Strict):
    """A responsible unit (承办单位): what a work order is dispatched to."""

    id: Annotated[str, Field(pattern=UNIT_ID)]
    name: Name
    kind: UnitKind = UnitKind.DEPARTMENT


class District(Strict):
    """Where a request is (its address's 县/市/区 or zone), and who receives it there."""

    id: Annotated[str, Field(pattern=UNIT_ID)]
    name: Name
    unit: str | None = None  # the district's own unit (its 12345 office)


class RequestClass(Strict):
    """A node of the class tree (诉求分类); `unit` is the unit usually in charge."""

    id: Annotated[str, Field(pattern=CLASS_ID)]
    name: Name
    unit: str | None = None
    children: list[RequestClass] = []


class TimeLimit(Strict):
    """A handling time: working days on the Chinese calendar, or hours on the clock."""

    working_days: Annotated[int, Field(ge=1, le=90)] | None = None
    hours: Annotated[int, Field(ge=1, le=720)] | None = None

    @model_validator(mode="after")
    def _one(self) -> TimeLimit:
        if (self.working_days is None) == (self.hours is None):
            raise ValueError("give exactly one of working_days and hours")
        return self

    def __str__(self) -> str:
        if self.working_days is not None:
            return f"{self.working_days}个工作日"
        return f"{self.hours}小时"


class DeadlineWarning(Strict):
    """When a request turns yellow: a share of its time limit left (default a fifth), or
    hours left."""

    share: Annotated[float, Field(gt=0, lt=1)] | None = None
    hours: Annotated[float, Field(gt=0, le=720)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_share(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("share") is None and data.get("hours") is None:
            return {**data, "share": 0.2}
        return data

    @model_validator(mode="after")
    def _one(self) -> DeadlineWarning:
        if self.share is not None and self.hours is not None:
            raise ValueError("give share or hours, not both")
        return self


class Extensions(Strict):
    """What a department may ask for (延期): Shandong's rule allows at most 10 working days."""

    max_working_days: Annotated[int, Field(ge=1, le=90)] = 10
    max_hours: Annotated[int, Field(ge=1, le=720)] = 48
    max_times: Annotated[int, Field(ge=0, le=10)] = 1


class HotlineDefaults(Strict):
    """What the seat's form starts with for a call to this hotline."""

    unit: str | None = None
    class_id: str | None = None


def _guangdong() -> dict[Urgency, dict[str, TimeLimit]]:
    """Guangdong's published working-day limits; emergencies in hours (Beijing's draft)."""
    days = {
        RequestType.CONSULT: 2,
        RequestType.HELP: 10,
        RequestType.SUGGESTION: 10,
        RequestType.COMPLAINT: 15,
        RequestType.REPORT: 15,
        RequestType.PRAISE: 5,
        RequestType.OTHER: 10,
    }
    return {
        Urgency.NORMAL: {t.value: TimeLimit(working_days=n) for t, n in days.items()},
        Urgency.URGENT: {ANY_TYPE: TimeLimit(hours=24)},
        Urgency.CRITICAL: {ANY_TYPE: TimeLimit(hours=2)},
    }


class WorkOrdersConfig(Strict):
    units: list[Unit] = []
    districts: list[District] = []
    classes: list[RequestClass] = []
    # urgency -> request type (or "*" for any other) -> time limit
    time_limits: dict[Urgency, dict[str, TimeLimit]] = Field(default_factory=_guangdong)
    warning: DeadlineWarning = DeadlineWarning()
    extensions: Extensions = Extensions()
    # A department returns a wrongly assigned order within this many working days of its
    # dispatch (Shandong: 2); None: at any time before it replies.
    return_within_working_days: Annotated[int, Field(ge=1, le=30)] | None = 2
    # hotline number -> the form's defaults (the unit defaults to the hotline's own unit)
    hotlines: dict[str, HotlineDefaults] = {}

    @model_validator(mode="after")
    def _references(self) -> WorkOrdersConfig:
        problems = [*self._duplicates(), *self._unknown_units(), *self._time_limit_problems()]
        classes = self.class_ids()
        for number, d in self.hotlines.items():
            if d.class_id is not None and d.class_id not in classes:
                problems.append((("hotlines", number, "class_id"), f"unknown class {d.class_id!r}"))
        if problems:
            raise CrossReferenceError(problems)
        return self

    def _duplicates(self) -> Iterator[tuple[Loc, str]]:
        for name, items in (
            ("units", [((i,), u.id) for i, u in enumerate(self.units)]),
            ("units", [((i,), u.name) for i, u in enumerate(self.units)]),
            ("districts", [((i,), d.id) for i, d in enumerate(self.districts)]),
            ("classes", [(loc, c.id) for loc, c in self.walk()]),
        ):
            seen: dict[str, Loc] = {}
            for loc, key in items:
                if key in seen:
                    where = _path((name, *seen[key]))
                    yield (name, *loc), f"duplicate {key!r} (also at {where})"
                else:
                    seen[key] = loc

    def _unknown_units(self) -> Iterator[tuple[Loc, str]]:
        units = {u.id for u in self.units}
        refs: list[tuple[Loc, str | None]] = [
            (("districts", i, "unit"), d.unit) for i, d in enumerate(self.districts)
        ]
        refs += [(("classes", *loc, "unit"), c.unit) for loc, c in self.walk()]
        refs += [(("hotlines", n, "unit"), d.unit) for n, d in self.hotlines.items()]
        for loc, unit in refs:
            if unit is not None and unit not in units:
                yield loc, f"unknown unit {unit!r}"

    def _time_limit_problems(self) -> Iterator[tuple[Loc, str]]:
        known = {t.value for t in RequestType} | {ANY_TYPE}
        for urgency, by_type in self.time_limits.items():
            for key in by_type:
                if key not in known:
                    yield (
                        ("time_limits", urgency.value, key),
                        (f"unknown request type {key!r}; one of {', '.join(sorted(known))}"),
                    )
        for urgency in Urgency:
            by_type = self.time_limits.get(urgency, {})
            missing = [t.value for t in RequestType if t.value not in by_type]
            if ANY_TYPE not in by_type and missing:
                yield (
                    ("time_limits", urgency.value),
                    (f"no time limit for {', '.join(missing)} (add them or '*')"),
                )

    # -- lookups ----------------------------------------------------------------------------

    def walk(self) -> Iterator[tuple[Loc, RequestClass]]:
        """Every class of the tree with its place in the file, parents first."""

        def down(nodes: list[RequestClass], loc: Loc) -> Iterator[tuple[Loc, RequestClass]]:
            for i, node in enumerate(nodes):
                here = (*loc, i) if not loc else (*loc, "children", i)
                yield here, node
                yield from down(node.children, here)

        yield from down(self.classes, ())

    def class_ids(self) -> set[str]:
        return {c.id for _, c in self.walk()}

    def class_and_below(self, class_id: str) -> set[str]:
        """A class's id and every id under it (a filter on a class takes its subtree)."""
        for _, c in self.walk():
            if c.id == class_id:
                out = {class_id}
                stack = list(c.children)
                while stack:
                    node = stack.pop()
                    out.add(node.id)
                    stack.extend(node.children)
                return out
        return set()

    def unit(self, unit_id: str) -> Unit | None:
        return next((u for u in self.units if u.id == unit_id), None)

    def unit_by_name(self, name: str) -> Unit | None:
        return next((u for u in self.units if u.name == name), None)

    def time_limit(self, type_: RequestType | str, urgency: Urgency | str) -> TimeLimit:
        by_type = self.time_limits[Urgency(urgency)]
        return by_type.get(RequestType(type_).value) or by_type[ANY_TYPE]


def _path(loc: Loc) -> str:
    out = ""
    for item in loc:
        out += f"[{item}]" if isinstance(item, int) else ("." if out else "") + str(item)
    return out

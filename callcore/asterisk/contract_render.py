"""The dialplan contract (callcore/contract.py) as template functions.

The templates write the decision's CUT lines, every UserEvent and every queue_log fact
through these, so a name, header or field the contract does not define fails the render
instead of reaching Asterisk, and a position can never be counted wrong by hand.
"""

from __future__ import annotations

from callcore.contract import (
    FACT_FIELDS,
    ROUTE_FIELDS,
    ROUTE_SEPARATOR,
    USER_EVENT_HEADERS,
    Fact,
    Flag,
    UserEvent,
)


class ContractError(ValueError):
    """A template asked for something the dialplan contract does not define."""


def route_set(variable: str) -> str:
    """`Set(<variable>=…)` taking the variable's field out of CC_ROUTE."""
    for pos, field in enumerate(ROUTE_FIELDS, start=1):
        if field.variable == variable:
            cut = f"${{CUT(CC_ROUTE,{ROUTE_SEPARATOR},{pos})}}"
            value = f"${{FILTER(0-9,{cut})}}" if field.digits else cut
            return f"Set({variable}={value})"
    raise ContractError(f"{variable} is not a field of CC_ROUTE")


def user_event(name: str, **headers: str) -> str:
    """`UserEvent(<name>,Header: value,…)` with headers the contract gives that event."""
    try:
        allowed = USER_EVENT_HEADERS[UserEvent(name)]
    except ValueError:
        raise ContractError(f"{name} is not a UserEvent of the contract") from None
    unknown = set(headers) - set(allowed)
    if unknown:
        raise ContractError(f"{name} has no header {', '.join(sorted(unknown))}")
    body = ",".join(f"{h}: {headers[h]}" for h in allowed if h in headers)
    return f"UserEvent({name},{body})"


def fact(name: str, *values: str) -> str:
    """`QueueLog(…,<fact>,<time.ms>|values…)`: one of the dialplan's facts, all its fields."""
    try:
        fields = FACT_FIELDS[Fact(name)]
    except ValueError:
        raise ContractError(f"{name} is not a queue_log fact of the contract") from None
    if len(values) != len(fields):
        raise ContractError(f"{name} takes {len(fields)} fields ({', '.join(fields)})")
    data = "|".join(("${STRFTIME(,,%s.%3q)}", *values))
    return f"QueueLog(NONE,${{CHANNEL(linkedid)}},NONE,{name},{data})"


def flag(name: str) -> str:
    """A call flag the dialplan sets itself (CC_FLAGS), checked against the contract."""
    try:
        return Flag(name).value
    except ValueError:
        raise ContractError(f"{name} is not a call flag of the contract") from None


def route_fields_after(variable: str) -> list[str]:
    """The CC_ROUTE variables after `variable`, in order (the template sets them in turn)."""
    names = [f.variable for f in ROUTE_FIELDS]
    return names[names.index(variable) + 1 :]


TEMPLATE_FUNCTIONS = {
    "route_set": route_set,
    "route_fields_after": route_fields_after,
    "user_event": user_event,
    "fact": fact,
    "flag": flag,
}

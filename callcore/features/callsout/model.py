"""The rules of calls callcore places, with no I/O: which numbers may be dialed, when,
what a dial status means, and the order callback tasks are offered in.

Numbers: a Chinese mobile (1[3-9] and nine digits), a fixed line with its area code
(0 + 2–3 digits + 7–8 digits; the city's own area code is dropped, as a local call), or a
local number of the city's length. `+86`/`0086` are taken off first. Anything else (short
service numbers, 110, foreign numbers) is refused: the hand-off to 110 is its own path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from config.callsout import CallsOutConfig, RestHours


class Reason(StrEnum):
    """Why callcore places a call; there is always one."""

    CALLBACK = "callback"  # 漏话回拨: a missed call's caller
    FOLLOWUP = "followup"  # 回访: a request the department reports handled
    CLICK = "click"  # a seat's click-to-call from a request


class Outcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    INVALID_NUMBER = "invalid_number"
    FAILED = "failed"
    REFUSED = "refused"  # never dialed: rest hours, do-not-call, a number we do not call


class NumberKind(StrEnum):
    MOBILE = "mobile"
    FIXED = "fixed"  # another city's fixed line, with its area code
    LOCAL = "local"  # the city's own fixed line


class Refused(ValueError):
    """A call callcore will not place; `code` says why, the message says it to a person."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Dialable:
    number: str  # what is sent to the carrier
    kind: NumberKind


_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_FIXED = re.compile(r"0([1-9][0-9]{1,2})([2-8][0-9]{6,7})")


def _national(text: str) -> str:
    raw = text.strip().replace(" ", "").replace("-", "")
    if raw.startswith("+"):
        raw = raw[1:]
        if not raw.startswith("86"):
            raise Refused("invalid_number", f"{mask(text)}: only Chinese numbers are called")
        return raw[2:]
    if raw.startswith("0086"):
        return raw[4:]
    return raw


def dialable(text: str, area_code: str, local_digits: int) -> Dialable:
    """The number to dial for `text`, or Refused("invalid_number") saying why not."""
    n = _national(text)
    if not n.isdigit():
        raise Refused("invalid_number", f"{mask(text)}: a number has digits only")
    if _MOBILE.fullmatch(n):
        return Dialable(n, NumberKind.MOBILE)
    if n.startswith("0"):
        m = _FIXED.fullmatch(n)
        if m is None or len(n) not in (10, 11, 12):
            raise Refused("invalid_number", f"{mask(text)}: not a fixed line with area code")
        if "0" + m.group(1) == area_code and len(m.group(2)) == local_digits:
            return Dialable(m.group(2), NumberKind.LOCAL)
        return Dialable(n, NumberKind.FIXED)
    if len(n) == local_digits and n[0] in "2345678":
        return Dialable(n, NumberKind.LOCAL)
    raise Refused(
        "invalid_number",
        f"{mask(text)}: not a mobile, a fixed line with area code or a local number",
    )


def in_rest_hours(at: time, rest: RestHours) -> bool:
    """Whether a local time of day lies in the rest hours (start inclusive, end exclusive)."""
    if rest.start == rest.end:
        return False
    if rest.start < rest.end:
        return rest.start <= at < rest.end
    return at >= rest.start or at < rest.end


def rest_ends(now: datetime, rest: RestHours) -> datetime:
    """When the rest hours `now` (site-local, aware) lies in are over."""
    end = now.replace(hour=rest.end.hour, minute=rest.end.minute, second=0, microsecond=0)
    return end if end > now else end + timedelta(days=1)


# DIALSTATUS (app_dial) -> outcome; CHANUNAVAIL/CONGESTION are split by the hangup cause.
_STATUS = {
    "ANSWER": Outcome.REACHED,
    "NOANSWER": Outcome.NO_ANSWER,
    "BUSY": Outcome.BUSY,
    "CANCEL": Outcome.FAILED,  # the seat hung up before the citizen answered
}
# Q.850 causes that mean the number itself is wrong: unallocated, no route, changed,
# invalid format.
_INVALID_CAUSES = frozenset({1, 2, 3, 22, 28})
_BUSY_CAUSES = frozenset({17})
_NO_ANSWER_CAUSES = frozenset({18, 19})


def outcome_of(dial_status: str, cause: str | int | None) -> Outcome:
    """What a finished dial of the citizen means, from Dial's status and the cause."""
    status = (dial_status or "").upper()
    if status in _STATUS:
        return _STATUS[status]
    try:
        code = int(cause or 0)
    except ValueError:
        code = 0
    if code in _INVALID_CAUSES:
        return Outcome.INVALID_NUMBER
    if code in _BUSY_CAUSES:
        return Outcome.BUSY
    if code in _NO_ANSWER_CAUSES:
        return Outcome.NO_ANSWER
    return Outcome.FAILED


def mask(number: str) -> str:
    """A citizen's number as logs may show it: the first three and last two digits."""
    digits = number.strip()
    if len(digits) <= 5:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 5)}{digits[-2:]}"


@dataclass(frozen=True)
class TaskView:
    """What the order of callback tasks looks at."""

    id: str
    enterprise: bool
    first_missed: datetime


def offer_order(tasks: list[TaskView]) -> list[TaskView]:
    """Registered enterprises first, then the oldest first missed call."""
    return sorted(tasks, key=lambda t: (not t.enterprise, t.first_missed, t.id))


def next_attempt(outcome: Outcome, attempts: int, max_attempts: int) -> str:
    """What a task does after a dial: `closed` (reached), `given_up` or `retry`."""
    if outcome is Outcome.REACHED:
        return "closed"
    if outcome is Outcome.INVALID_NUMBER or attempts >= max_attempts:
        return "given_up"
    return "retry"


def refused_patterns(cfg: CallsOutConfig) -> list[str]:
    """Dialplan patterns of outside numbers a softphone may not dial by itself: mobiles,
    anything with an area code or international prefix, the city's local numbers."""
    return ["_1[3-9]XXXXXXXXX", "_0X.", "_+X.", "_[2-8]" + "X" * (cfg.local_digits - 1)]

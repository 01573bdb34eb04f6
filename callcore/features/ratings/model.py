"""Ratings (一次一评): the five levels, how key presses become one, the rating record, the
queue_log fact the static dialplan writes, and the figures. Pure: no I/O.

A call has one rating row: its level, or 未评价 with why (no key in time, no valid key after
the one retry, or the caller hung up first). The figures (docs/figures.md, "Ratings"):

- answered: calls a 12345 seat answered (every one should be rated: 一次一评);
- rated: those with a level; rated share = rated / answered;
- 满意率 = (非常满意 + 满意 + 基本满意) / rated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

from config.ratings import DTMF_KEYS, LEVELS


class Level(IntEnum):
    """GB/T 39734-2020's five levels, numbered in its order."""

    VERY_SATISFIED = 1
    SATISFIED = 2
    BASICALLY_SATISFIED = 3
    DISSATISFIED = 4
    VERY_DISSATISFIED = 5

    def label(self, lang: str = "zh") -> str:
        zh, en = _LABELS[self]
        return zh if lang == "zh" else en

    @property
    def satisfied(self) -> bool:
        """Counts towards 满意率 (非常满意, 满意, 基本满意)."""
        return self <= Level.BASICALLY_SATISFIED


_LABELS = {
    Level.VERY_SATISFIED: ("非常满意", "very satisfied"),
    Level.SATISFIED: ("满意", "satisfied"),
    Level.BASICALLY_SATISFIED: ("基本满意", "basically satisfied"),
    Level.DISSATISFIED: ("不满意", "dissatisfied"),
    Level.VERY_DISSATISFIED: ("非常不满意", "very dissatisfied"),
}
UNRATED_LABEL = ("未评价", "not rated")
assert tuple(Level) == LEVELS, "config.ratings.LEVELS and Level differ"


def level_label(level: int | None, lang: str = "zh") -> str:
    """A level in words; 未评价 for none."""
    if level is None:
        return UNRATED_LABEL[0] if lang == "zh" else UNRATED_LABEL[1]
    return Level(level).label(lang)


class Outcome(StrEnum):
    """How the rating ended: a level, or why there is none (all three are 未评价)."""

    RATED = "rated"
    NO_KEY = "no_key"  # no key within the wait after a prompt
    INVALID = "invalid"  # an unmapped key again after the one retry
    HANGUP = "hangup"  # the caller hung up first (before or during the prompt)


class Source(StrEnum):
    LIVE = "live"  # seen by the engine as it happened
    RECONCILED = "reconciled"  # rebuilt from queue_log after callcore was away


# -- what the caller pressed ----------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    level: Level | None = None
    key: str = ""  # the last key pressed (the valid one, or the last invalid one)


def judge(presses: Sequence[str], keys: Mapping[str, int], retries: int = 1) -> Verdict:
    """The rating from what followed each prompt: a key, or "" for none in time.

    An unmapped key hears the retry prompt (up to `retries` times); silence ends it at
    once (nobody is kept on the line); prompts the caller did not stay for (fewer presses
    than the verdict needs) mean they hung up.
    """
    last = ""
    for n, pressed in enumerate(presses):
        if pressed == "":
            return Verdict(Outcome.NO_KEY, None, last)
        last = pressed
        level = keys.get(pressed)
        if level is not None:
            return Verdict(Outcome.RATED, Level(level), pressed)
        if n >= retries:
            return Verdict(Outcome.INVALID, None, pressed)
    return Verdict(Outcome.HANGUP, None, last)


# -- the record -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallContext:
    """What a rating is filed under: who served last, the chain, the number, the zone."""

    seat: str = ""
    legs: tuple[str, ...] = ()  # leg ids (`<linkedid>/<seq>`), in order
    hotline: str = ""
    zone: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class RatingRecord:
    """A `ratings` row, on the store writer's durable path (kind `rating`)."""

    STORE_KIND: ClassVar[str] = "rating"
    linkedid: str
    seat: str
    legs: list[str]
    hotline: str
    zone: str
    request_id: str
    key: str
    level: int | None
    outcome: str
    at: datetime
    source: str
    as_of: float

    @property
    def unsatisfied(self) -> bool:
        return self.level is not None and not Level(self.level).satisfied

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in _RECORD_FIELDS}
        out["at"] = self.at.isoformat()
        out["label"] = level_label(self.level)
        return out


_RECORD_FIELDS = (
    "linkedid",
    "seat",
    "legs",
    "hotline",
    "zone",
    "request_id",
    "key",
    "level",
    "outcome",
    "at",
    "source",
    "as_of",
)
# A reconciled rating is stamped this much before the press, so the live record of the same
# press (stamped at its event), if it was stored, is the one kept (store `as_of` rule).
RECONCILED_EARLIER = 1.0


def rating_record(
    linkedid: str, verdict: Verdict, context: CallContext, at: float, source: Source
) -> RatingRecord:
    as_of = at - RECONCILED_EARLIER if source is Source.RECONCILED else at
    return RatingRecord(
        linkedid=linkedid,
        seat=context.seat,
        legs=list(context.legs),
        hotline=context.hotline,
        zone=context.zone,
        request_id=context.request_id,
        key=verdict.key,
        level=int(verdict.level) if verdict.level is not None else None,
        outcome=verdict.outcome.value,
        at=datetime.fromtimestamp(at, UTC),
        source=source.value,
        as_of=as_of,
    )


def zone_of_route(route: str) -> str:
    """`q-hrss` → `hrss`: the zone of a queue route; "" for a trunk or a seat."""
    return route[2:] if route.startswith("q-") else ""


def context_of(
    call: Mapping[str, Any],
    legs: Iterable[Mapping[str, Any]],
    request_id: str = "",
    seat_zone: Mapping[str, str] | None = None,
) -> CallContext:
    """A call's rating context from its stored row and its legs (`call_legs` rows).

    The seat that served last is the seat of the last leg someone answered (the call's
    own seat when it has no legs); its zone is that leg's queue, else the call's route,
    else the seat's own zone (`seat_zone`, from the site config).
    """
    chain = sorted(legs, key=lambda leg: leg["seq"])
    answered = [leg for leg in chain if leg.get("answered_at") is not None and leg.get("seat")]
    seat = answered[-1]["seat"] if answered else call.get("seat") or ""
    zone = zone_of_route(answered[-1]["target"]) if answered else ""
    zone = zone or zone_of_route(call.get("route") or "")
    zone = zone or (seat_zone or {}).get(seat, "")
    return CallContext(
        seat=seat,
        legs=tuple(leg["id"] for leg in chain),
        hotline=call.get("hotline") or "",
        zone=zone,
        request_id=request_id,
    )


# -- the queue_log fact ---------------------------------------------------------------------
#
# The static dialplan writes, when the rating ends (with callcore up or down):
#   QueueLog(NONE,${CHANNEL(linkedid)},NONE,CCRATE,${STRFTIME(,,%s.%3q)}|<outcome>|<key>)
# which queue_log holds as
#   <epoch>|<linkedid>|NONE|NONE|CCRATE|<time.ms>|<outcome>|<key>
# outcome: rated | no_key | invalid | hangup; key: the last key pressed, or empty.

RATE_EVENT = "CCRATE"
_LINKEDID = re.compile(r"^[\x21-\x7b\x7d\x7e]{1,64}$")  # printable ASCII but "|"
_MAX_EPOCH = 1e11


@dataclass(frozen=True)
class RatingFact:
    """What a CCRATE line says: the call, when, how it ended and the key."""

    linkedid: str
    at: float
    outcome: Outcome
    key: str = ""

    def verdict(self, keys: Mapping[str, int]) -> Verdict:
        """The level under today's key mapping (a rated key no longer mapped: invalid)."""
        if self.outcome is not Outcome.RATED:
            return Verdict(self.outcome, None, self.key)
        level = keys.get(self.key)
        if level is None:
            return Verdict(Outcome.INVALID, None, self.key)
        return Verdict(Outcome.RATED, Level(level), self.key)


def _epoch(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{RATE_EVENT}: time {text[:40]!r} is not a number") from None
    if not math.isfinite(value) or not 0 < value < _MAX_EPOCH:
        raise ValueError(f"{RATE_EVENT}: time {text[:40]!r} is out of range")
    return value


def parse_rating_data(linkedid: str, data: str) -> RatingFact:
    """The fact of a CCRATE line from its call id and data fields (`<time.ms>|<outcome>|<key>`).

    Raises ValueError for anything the dialplan cannot have written; extra fields after
    the key are ignored (a later dialplan may add some).
    """
    if not _LINKEDID.match(linkedid) or linkedid in ("NONE", "MANAGER"):
        raise ValueError(f"{RATE_EVENT}: bad call id {linkedid[:70]!r}")
    fields = data.split("|")
    if len(fields) < 3:
        raise ValueError(f"{RATE_EVENT}: expected <time>|<outcome>|<key>, got {data[:80]!r}")
    at = _epoch(fields[0])
    try:
        outcome = Outcome(fields[1])
    except ValueError:
        raise ValueError(f"{RATE_EVENT}: unknown outcome {fields[1][:40]!r}") from None
    key = fields[2]
    if key and (len(key) != 1 or key not in DTMF_KEYS):
        raise ValueError(f"{RATE_EVENT}: key {key[:20]!r} is not one DTMF key")
    if outcome is Outcome.RATED and not key:
        raise ValueError(f"{RATE_EVENT}: rated without a key")
    return RatingFact(linkedid, at, outcome, key)


def parse_rating_line(line: str) -> RatingFact | None:
    """A queue_log line's rating fact; None for a line of another event.

    Raises ValueError for a CCRATE line that is malformed, so the reconciler counts it as
    a bad line like any other.
    """
    parts = line.rstrip("\r\n").split("|", 5)
    if len(parts) < 5 or parts[4] != RATE_EVENT:
        return None
    return parse_rating_data(parts[1], parts[5] if len(parts) > 5 else "")


def rating_facts(lines: Iterable[str]) -> tuple[dict[str, RatingFact], int]:
    """The first rating fact of each call in `lines`, and how many CCRATE lines were bad."""
    facts: dict[str, RatingFact] = {}
    bad = 0
    for line in lines:
        try:
            fact = parse_rating_line(line)
        except ValueError:
            bad += 1
            continue
        if fact is not None:
            facts.setdefault(fact.linkedid, fact)
    return facts, bad


# -- figures --------------------------------------------------------------------------------

GROUPINGS = ("all", "zone", "seat", "number")


@dataclass(frozen=True)
class FigureRow:
    """One answered call in the figures: where it is counted and its level (None: 未评价)."""

    seat: str
    zone: str
    hotline: str
    level: int | None

    def key(self, grouping: str) -> str:
        if grouping == "all":
            return ""
        return {"zone": self.zone, "seat": self.seat, "number": self.hotline}[grouping]


@dataclass
class RatingFigures:
    answered: int = 0
    levels: dict[int, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))

    def add(self, level: int | None) -> None:
        self.answered += 1
        if level is not None:
            self.levels[level] += 1

    @property
    def rated(self) -> int:
        return sum(self.levels.values())

    @property
    def satisfied(self) -> int:
        return sum(n for lv, n in self.levels.items() if Level(lv).satisfied)

    @property
    def unrated(self) -> int:
        return self.answered - self.rated

    @property
    def rated_share(self) -> float | None:
        return self.rated / self.answered if self.answered else None

    @property
    def satisfaction(self) -> float | None:
        """满意率: (非常满意 + 满意 + 基本满意) / rated."""
        return self.satisfied / self.rated if self.rated else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "answered": self.answered,
            "rated": self.rated,
            "unrated": self.unrated,
            "levels": {str(k): v for k, v in self.levels.items()},
            "satisfied": self.satisfied,
            "rated_share": self.rated_share,
            "satisfaction": self.satisfaction,
        }


def rating_figures(rows: Iterable[FigureRow], grouping: str = "all") -> dict[str, RatingFigures]:
    """The figures of answered calls, per zone, seat or number (or `all`, under "")."""
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; one of {', '.join(GROUPINGS)}")
    out: dict[str, RatingFigures] = {}
    for row in rows:
        out.setdefault(row.key(grouping), RatingFigures()).add(row.level)
    return out


def answered_by_trunk(route: str) -> bool:
    """A call the 12366 sub-centre answered over its trunk: never back in our dialplan, so
    never asked to rate, and not among the calls to be rated (docs/figures.md)."""
    return route.startswith("trunk:")


def figure_rows(
    calls: Iterable[Mapping[str, Any]], ratings: Mapping[str, Mapping[str, Any]]
) -> list[FigureRow]:
    """One row per call a 12345 seat answered (`answered_at` set, not the 12366 trunk's):
    filed as its rating says, or, with no rating row, under the call's own seat, route and
    number as 未评价."""
    out = []
    for call in calls:
        if call.get("answered_at") is None or answered_by_trunk(call.get("route") or ""):
            continue
        r = ratings.get(call["linkedid"])
        if r is None:
            out.append(
                FigureRow(
                    call.get("seat") or "",
                    zone_of_route(call.get("route") or ""),
                    call.get("hotline") or "",
                    None,
                )
            )
        else:
            out.append(FigureRow(r["seat"], r["zone"], r["hotline"], r["level"]))
    return out

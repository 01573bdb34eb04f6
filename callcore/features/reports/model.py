"""What a report is and the rules that turn summed counters into figures (docs/figures.md,
"Reports"). Pure: no I/O.

The database sums counters per group (`queries.py`); everything here works on those sums,
so a figure is defined once whichever way it is grouped. The counters of
`queues.stats.COUNTERS` keep their meaning (`queues.stats.Figures` computes answer rate,
SL15 and the average wait and talk from them); the report adds its own counters
(`EXTRA_COUNTERS`), counters only an optional column source gives (`OPTIONAL_COUNTERS`),
whole-second histograms of waits for the percentiles, and seat time by state.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from config.schema import ServiceTargets, SiteConfig
from queues.stats import COUNTERS, Figures

BUCKET_SECONDS = 900  # the database groups arrivals in 15-minute UTC buckets (see below)
INTERVALS = (15, 30, 60)  # minutes
DAY_SECONDS = 86400.0
PERCENTILE = 0.9


class Grouping(StrEnum):
    INTERVAL = "interval"
    DAY = "day"
    WEEK = "week"
    NUMBER = "number"
    UNIT = "unit"
    ZONE = "zone"
    SEAT = "seat"


GROUPING_LABELS: dict[Grouping, tuple[str, str]] = {
    Grouping.INTERVAL: ("时段", "interval"),
    Grouping.DAY: ("日", "day"),
    Grouping.WEEK: ("周", "week"),
    Grouping.NUMBER: ("号码", "number"),
    Grouping.UNIT: ("责任单位", "unit"),
    Grouping.ZONE: ("专区", "zone"),
    Grouping.SEAT: ("座席", "seat"),
}

# Counters the database sums beside queues.stats.COUNTERS (docs/figures.md, "Reports").
EXTRA_COUNTERS = (
    "short_abandoned",  # abandoned within short_abandon_seconds of arrival
    "reach_ms",  # arrival to a human answering (answered calls)
    "reach_n",
    "handled",  # answered by a 12345 seat (not the sub-centre over its trunk)
    "handled_talk_ms",
    "wrap_ms",  # those calls' wrap-up (seat_events)
    "transfers",  # seat transfers (call_legs blind / attended)
    "transferred",  # calls with at least one
    "subcentre",  # answered by the sub-centre over its trunk
    "queued",  # joined a queue
    "queued_wait_ms",  # their time in the queue, answered or not (patience estimate)
    "queue_abandoned",  # abandoned in the queue (not during the notice)
)
# Counters a column source gives (`sources.py`: ratings, QA, callbacks); absent without one.
OPTIONAL_COUNTERS = (
    "rated",
    "satisfied",
    "qa_sum",
    "qa_n",
    "missed",
    "callback_1h",
    "callback_24h",
)
SEAT_STATES_BUSY = ("ringing", "talking", "wrap_up")
SEAT_STATES_STAFFED = ("available", *SEAT_STATES_BUSY)
SEAT_STATES_LOGGED_IN = (*SEAT_STATES_STAFFED, "paused", "unreachable")


# -- the range of a report -------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """[start, end) in the site's time zone; `kind` says how it was asked for."""

    start: datetime
    end: datetime
    kind: str = "range"

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def label(self) -> str:
        last = self.end - timedelta(microseconds=1)
        if self.start.time() == time() and self.end.time() == time():
            if last.date() == self.start.date():
                return self.start.date().isoformat()
            return f"{self.start.date().isoformat()} ~ {last.date().isoformat()}"
        return f"{self.start:%Y-%m-%d %H:%M} ~ {self.end:%Y-%m-%d %H:%M}"


def midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(tz))


def resolve_range(
    kind: str,
    tz: str,
    day: date | None = None,
    start: datetime | date | None = None,
    end: datetime | date | None = None,
) -> Range:
    """A day, the ISO week (Monday to Sunday) or the calendar month holding `day`; or any
    range: dates are whole local days (`end` inclusive), times are taken as given."""
    if kind in ("day", "week", "month"):
        if day is None:
            raise ValueError(f"a {kind} report needs its day")
        if kind == "day":
            first, days = day, 1
        elif kind == "week":
            first, days = day - timedelta(days=day.weekday()), 7
        else:
            first = day.replace(day=1)
            nxt = (first + timedelta(days=32)).replace(day=1)
            days = (nxt - first).days
        return Range(midnight(first, tz), midnight(first + timedelta(days=days), tz), kind)
    if kind != "range":
        raise ValueError(f"unknown period {kind!r}: use day, week, month or range")
    if start is None or end is None:
        raise ValueError("a range needs its start and end")
    lo = _local(start, tz, end=False)
    hi = _local(end, tz, end=True)
    if hi <= lo:
        raise ValueError(f"the range ends ({hi.isoformat()}) before it starts ({lo.isoformat()})")
    return Range(lo, hi, "range")


def _local(value: datetime | date, tz: str, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        return (
            value.astimezone(ZoneInfo(tz)) if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz))
        )
    return midnight(value + timedelta(days=1) if end else value, tz)


# -- group keys -------------------------------------------------------------------------
# The database groups arrivals by 15-minute bucket of UTC epoch time. Every UTC offset in
# use is a whole number of quarter hours, so a bucket lies inside one local 15-, 30- or
# 60-minute interval and one local day: local groupings are unions of buckets.


def bucket_start(bucket: int, tz: str) -> datetime:
    return datetime.fromtimestamp(bucket * BUCKET_SECONDS, tz=ZoneInfo(tz))


def interval_key(bucket: int, tz: str, minutes: int) -> str:
    local = bucket_start(bucket, tz)
    floor = local.replace(minute=local.minute - local.minute % minutes)
    return floor.strftime("%Y-%m-%d %H:%M")


def day_key(bucket: int, tz: str) -> str:
    return bucket_start(bucket, tz).date().isoformat()


def week_key(bucket: int, tz: str) -> str:
    y, w, _ = bucket_start(bucket, tz).isocalendar()
    return f"{y}-W{w:02d}"


def zone_of_route(route: str) -> str:
    """A call's zone from its route: `q-<zone>` is the zone, `trunk:<id>` the sub-centre
    (kept as is), no route the empty key."""
    return route[2:] if route.startswith("q-") else route


def labeller(cfg: SiteConfig, grouping: Grouping, lang: str) -> Callable[[str], str]:
    """How a group key is shown: the zone's, number's, seat's or trunk's name."""
    zh = lang == "zh"
    if grouping is Grouping.ZONE:
        names = {z.id: z.name for z in cfg.zones}
        names |= {f"trunk:{t.id}": t.name for t in cfg.trunks}
        return lambda k: names.get(k, k or ("未路由" if zh else "not routed"))
    if grouping is Grouping.NUMBER:
        names = {h.number: f"{h.number} {h.name}" for h in cfg.hotlines}
        return lambda k: names.get(k, k or ("未知号码" if zh else "unknown number"))
    if grouping is Grouping.SEAT:
        names = {s.id: f"{s.id} {s.name}" for s in cfg.seats}
        names |= {t.id: t.name for t in cfg.trunks}
        return lambda k: names.get(k, k or ("未接通" if zh else "not answered"))
    if grouping is Grouping.UNIT:
        return lambda k: k or ("未知单位" if zh else "unknown unit")
    return lambda k: k


def unit_of_number(cfg: SiteConfig) -> dict[str, str]:
    return {h.number: h.unit for h in cfg.hotlines}


# -- accumulated sums -------------------------------------------------------------------


@dataclass
class Acc:
    """The sums of one group: counters, whole-second histograms of the answered calls'
    waits and times to a human, and seat seconds by (state, pause reason)."""

    counters: Counter[str] = field(default_factory=Counter)
    wait_hist: Counter[int] = field(default_factory=Counter)
    reach_hist: Counter[int] = field(default_factory=Counter)
    seat_time: Counter[tuple[str, str]] = field(default_factory=Counter)
    sources: set[str] = field(default_factory=set)  # optional counters some source gave

    def merge(self, other: Acc) -> None:
        self.counters.update(other.counters)
        self.wait_hist.update(other.wait_hist)
        self.reach_hist.update(other.reach_hist)
        self.seat_time.update(other.seat_time)
        self.sources |= other.sources


def percentile(hist: Mapping[int, int], q: float = PERCENTILE) -> int | None:
    """Nearest rank: the smallest whole number of seconds s such that at least q of the
    calls took at most s (a histogram of each call's time rounded up to whole seconds)."""
    n = sum(hist.values())
    if n == 0:
        return None
    rank = math.ceil(q * n)
    seen = 0
    for s in sorted(hist):
        seen += hist[s]
        if seen >= rank:
            return s
    return None  # pragma: no cover - the loop always reaches n >= rank


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _avg_s(ms: float, n: float) -> float | None:
    return ms / n / 1000 if n else None


@dataclass(frozen=True)
class Figure:
    id: str
    zh: str
    en: str
    unit: str  # count | share | seconds | minutes | score
    compute: Callable[[Acc, Figures], Any]
    optional: tuple[str, ...] = ()  # the optional counters it needs
    seats: bool = False  # from seat time: only where seats are grouped (zone, seat, all)

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def _c(name: str) -> Callable[[Acc, Figures], int]:
    return lambda a, _f: int(a.counters[name])


def _seat_s(a: Acc, states: Iterable[str]) -> float:
    wanted = set(states)
    return sum(v for (state, _r), v in a.seat_time.items() if state in wanted)


def _occupancy(a: Acc, _f: Figures) -> float | None:
    return _ratio(_seat_s(a, SEAT_STATES_BUSY), _seat_s(a, SEAT_STATES_STAFFED))


def _aht(a: Acc, _f: Figures) -> float | None:
    c = a.counters
    return _avg_s(c["handled_talk_ms"] + c["wrap_ms"], c["handled"])


def _share(fid: str, zh: str, en: str, num: str, den: str, unit: str = "share") -> Figure:
    """An optional figure: one source counter over another."""
    return Figure(
        fid, zh, en, unit, lambda a, _f: _ratio(a.counters[num], a.counters[den]), (den, num)
    )


FIGURES: tuple[Figure, ...] = (
    Figure("offered", "呼入量", "offered", "count", _c("offered")),
    Figure("answered", "人工接通量", "answered", "count", _c("answered")),
    Figure("abandoned", "放弃量", "abandoned", "count", _c("abandoned")),
    Figure("short_abandoned", "其中短时放弃", "of which short", "count", _c("short_abandoned")),
    Figure("timeout", "超时", "timeout", "count", _c("timeout")),
    Figure("failed", "失败", "failed", "count", _c("failed")),
    Figure("answer_rate", "接通率", "connection rate", "share", lambda _a, f: f.answer_rate),
    Figure("sl15", "15秒接通率", "SL15", "share", lambda _a, f: f.sl),
    Figure(
        "timely_rate",
        "人工应答及时率",
        "answered in time",
        "share",
        lambda _a, f: _ratio(f.within_sl, f.answered),
    ),
    Figure("avg_wait", "平均排队时长(秒)", "avg wait (s)", "seconds", lambda _a, f: f.avg_wait),
    Figure(
        "p90_wait",
        "90%排队时长(秒)",
        "90th pct wait (s)",
        "seconds",
        lambda a, _f: percentile(a.wait_hist),
    ),
    Figure(
        "avg_reach",
        "来电至人工应答平均时长(秒)",
        "avg time to a human (s)",
        "seconds",
        lambda a, _f: _avg_s(a.counters["reach_ms"], a.counters["reach_n"]),
    ),
    Figure(
        "p90_reach",
        "来电至人工应答90%时长(秒)",
        "90th pct time to a human (s)",
        "seconds",
        lambda a, _f: percentile(a.reach_hist),
    ),
    Figure("avg_talk", "平均通话时长(秒)", "avg talk (s)", "seconds", lambda _a, f: f.avg_talk),
    Figure("aht", "平均处理时长(秒)", "avg handle time (s)", "seconds", _aht),
    Figure("transfers", "转接次数", "transfers", "count", _c("transfers")),
    Figure("transferred", "转接通话数", "calls transferred", "count", _c("transferred")),
    Figure("subcentre", "分中心接听", "sub-centre answered", "count", _c("subcentre")),
    Figure(
        "logged_in_minutes",
        "签入时长(分钟)",
        "logged in (min)",
        "minutes",
        lambda a, _f: _seat_s(a, SEAT_STATES_LOGGED_IN) / 60,
        seats=True,
    ),
    Figure("occupancy", "座席占用率", "occupancy", "share", _occupancy, seats=True),
    Figure(
        "rated_share",
        "评价率",
        "rated share",
        "share",
        lambda a, _f: _ratio(a.counters["rated"], a.counters["handled"]),
        optional=("rated",),
    ),
    _share("satisfaction", "满意率", "satisfaction", "satisfied", "rated"),
    _share("qa_avg", "质检平均分", "QA average", "qa_sum", "qa_n", unit="score"),
    _share("callback_1h", "1小时内回拨率", "called back within 1 h", "callback_1h", "missed"),
    _share("callback_24h", "24小时内回拨率", "called back within 24 h", "callback_24h", "missed"),
)
FIGURE_IDS = tuple(f.id for f in FIGURES)


def pause_figure_id(reason: str) -> str:
    return f"pause_{reason}"


def row_figures(acc: Acc, pause_reasons: Sequence[str], seats: bool) -> dict[str, Any]:
    """Every figure of one group; None where it has no value (no calls, no source)."""
    base = Figures.from_counters({k: acc.counters[k] for k in COUNTERS})
    out: dict[str, Any] = {}
    for fig in FIGURES:
        if fig.seats and not seats:
            out[fig.id] = None
        elif fig.optional and not set(fig.optional) <= acc.sources:
            out[fig.id] = None
        else:
            out[fig.id] = fig.compute(acc, base)
    for reason in pause_reasons:
        secs = acc.seat_time[("paused", reason)]
        out[pause_figure_id(reason)] = secs / 60 if seats else None
    return out


# -- the worst continuous 24 hours (GB/T 33358) -----------------------------------------


@dataclass(frozen=True)
class WorstWindow:
    """The 24 hours [start, end) of the range with the lowest connection rate, the earliest
    such window (docs/figures.md). `whole_range`: the range is not longer than 24 hours,
    so this is the whole range."""

    start: datetime
    end: datetime
    offered: int
    answered: int
    whole_range: bool = False

    @property
    def rate(self) -> float:
        return self.answered / self.offered

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "whole_range": self.whole_range,
            "offered": self.offered,
            "answered": self.answered,
            "answer_rate": self.rate,
        }


def worst_window(
    arrivals: Sequence[float] | np.ndarray,
    answered: Sequence[bool] | np.ndarray,
    start: float,
    end: float,
    tz: str,
    span: float = DAY_SECONDS,
) -> WorstWindow | None:
    """The lowest connection rate of the windows [t, t + span) inside [start, end), and the
    earliest window with it; None if no call arrived.

    Exact: call i is in the window from t iff a_i - span < t <= a_i, so as t moves the calls
    change only just after t passes an arrival a_i or a point a_i - span, and each stretch
    between two such points holds the same calls as the window starting at its end. The
    windows starting at an arrival, at 24 hours before one, or at the range's first or last
    possible start are therefore every distinct window there is.
    """
    a = np.asarray(arrivals, dtype=np.float64)
    ok = np.asarray(answered, dtype=bool)
    if a.size == 0:
        return None
    order = np.argsort(a, kind="stable")
    a, ok = a[order], ok[order]
    cum = np.concatenate(([0], np.cumsum(ok, dtype=np.int64)))
    zone = ZoneInfo(tz)

    def when(t: float) -> datetime:
        return datetime.fromtimestamp(t, tz=UTC).astimezone(zone)

    if end - start <= span:
        return WorstWindow(when(start), when(end), int(a.size), int(cum[-1]), whole_range=True)
    last = end - span
    t = np.unique(np.concatenate(([start, last], a, a - span)))
    t = t[(t >= start) & (t <= last)]
    lo = np.searchsorted(a, t, side="left")
    hi = np.searchsorted(a, t + span, side="left")
    off = hi - lo
    ans = cum[hi] - cum[lo]
    has = off > 0
    if not has.any():
        return None
    rate = np.where(has, ans / np.maximum(off, 1), np.inf)
    low = int(np.argmin(rate))
    # the same rate exactly (cross products of counts); t is sorted: the first is earliest
    i = int(np.flatnonzero(has & (ans * off[low] == ans[low] * off))[0])
    t0 = float(t[i])
    return WorstWindow(when(t0), when(t0 + span), int(off[i]), int(ans[i]))


# -- the report -------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    label: str
    figures: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, **self.figures}


@dataclass
class Report:
    range: Range
    interval: int
    targets: ServiceTargets
    total: Row
    groups: dict[str, list[Row]]
    worst24: WorstWindow | None
    absent: list[str]  # figures no source gives today
    pause_reasons: list[tuple[str, str, str]]  # id, zh, en
    generated_at: datetime
    lang: str = "zh"

    def columns(self) -> list[tuple[str, str]]:
        """(figure id, header) in the order the exports show them."""
        cols = [(f.id, f.label(self.lang)) for f in FIGURES]
        for rid, zh, en in self.pause_reasons:
            prefix = "暂停" if self.lang == "zh" else "paused"
            unit = "分钟" if self.lang == "zh" else "min"
            cols.append(
                (pause_figure_id(rid), f"{prefix}:{zh if self.lang == 'zh' else en}({unit})")
            )
        return cols

    def as_dict(self) -> dict[str, Any]:
        return {
            "range": {
                "start": self.range.start.isoformat(),
                "end": self.range.end.isoformat(),
                "kind": self.range.kind,
                "label": self.range.label(),
            },
            "interval_minutes": self.interval,
            "targets": self.targets.model_dump(),
            "total": self.total.as_dict(),
            "groups": {g: [r.as_dict() for r in rows] for g, rows in self.groups.items()},
            "worst_24h": self.worst24.as_dict() if self.worst24 else None,
            "absent": self.absent,
            "generated_at": self.generated_at.isoformat(),
        }

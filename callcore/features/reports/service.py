"""Reports and staffing from the store: synchronous (the API runs them in a thread), every
collaborator given to the constructor."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from config.schema import SiteConfig

from . import erlang, queries, rollups
from .model import (
    BUCKET_SECONDS,
    FIGURES,
    SEAT_STATES_LOGGED_IN,
    SEAT_STATES_STAFFED,
    Acc,
    Grouping,
    Range,
    Report,
    Row,
    day_key,
    interval_key,
    labeller,
    midnight,
    row_figures,
    unit_of_number,
    week_key,
    worst_window,
    zone_of_route,
)
from .queries import ColumnSource
from .sources import standard

# Which database column each grouping sums by.
_DB_KEY = {
    Grouping.INTERVAL: "bucket",
    Grouping.DAY: "bucket",
    Grouping.WEEK: "bucket",
    Grouping.NUMBER: "hotline",
    Grouping.UNIT: "hotline",
    Grouping.ZONE: "route",
    Grouping.SEAT: "seat",
}
_SEAT_KEY = {Grouping.ZONE: "zone", Grouping.SEAT: "seat"}
# How many days back the hourly upkeep of rollups looks: the forecast's four weeks (the
# monitor's staffing reads them every interval) and a week more for late reconciliations.
ROLLUP_DAYS = 35


class ReportService:
    def __init__(
        self,
        engine: Engine,
        config: Callable[[], SiteConfig],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sources: Sequence[ColumnSource] | None = None,
    ):
        """`sources`: the optional figures' column sources; by default ratings, QA
        scores and callbacks (`sources.standard`)."""
        self.engine = engine
        self.config = config
        self.clock = clock
        self.sources = standard() if sources is None else tuple(sources)

    # -- figures -------------------------------------------------------------------------

    def report(
        self,
        rng: Range,
        groupings: Iterable[Grouping | str] = (Grouping.INTERVAL,),
        interval: int = 30,
        lang: str | None = None,
    ) -> Report:
        """Every figure of the calls that arrived in the range, in total and per grouping."""
        cfg = self.config()
        lang = lang or cfg.site.lang
        wanted = [Grouping(g) for g in groupings]
        if interval not in (15, 30, 60):
            raise ValueError(f"interval {interval}: use 15, 30 or 60 minutes")
        now = self.clock()
        targets = cfg.site.targets
        reasons = [r.id for r in cfg.pause_reasons]
        dims = {_DB_KEY[g] for g in wanted} | {"bucket"}
        with self.engine.connect() as conn:
            queries.tune(conn)
            part = rollups.gather(
                conn, rng, cfg.site.timezone, targets, now, dims, sources=self.sources
            )
            conn.commit()
        _mark_sources(part, {n for src in self.sources for n in src.counters})
        sums = {
            g: _group(part.sums.get(_DB_KEY[g], {}), self._key_of(cfg, g, interval)) for g in wanted
        }
        whole = _group(part.sums.get("bucket", {}), lambda *_k: "")
        times, answered = part.arrivals()
        seat_rows = part.seat_rows
        total = whole.get("", Acc())
        total.sources |= {n for src in self.sources for n in src.counters}
        seat_time = _seat_time(seat_rows)
        total.seat_time.update(seat_time[None].get("", Acc()).seat_time)
        groups: dict[str, list[Row]] = {}
        for g in wanted:
            accs = self._fill(g, sums[g], rng, cfg.site.timezone, interval)
            if g in _SEAT_KEY:
                for key, acc in seat_time[_SEAT_KEY[g]].items():
                    accs.setdefault(key, Acc()).seat_time.update(acc.seat_time)
            label = labeller(cfg, g, lang)
            seats = g in _SEAT_KEY
            groups[g.value] = [
                Row(k, label(k), row_figures(accs[k], reasons, seats)) for k in sorted(accs)
            ]
        names = "总计" if lang == "zh" else "total"
        absent = [f.id for f in FIGURES if f.optional and not set(f.optional) <= total.sources]
        tz = cfg.site.timezone
        worst = worst_window(times, answered, rng.start.timestamp(), rng.end.timestamp(), tz)
        return Report(
            range=rng,
            interval=interval,
            targets=targets,
            total=Row("", names, row_figures(total, reasons, True)),
            groups=groups,
            worst24=worst,
            absent=absent,
            pause_reasons=[(r.id, r.name, r.id) for r in cfg.pause_reasons],
            generated_at=now,
            lang=lang,
        )

    def keep_rollups(self, first: date | None = None, last: date | None = None) -> list[Any]:
        """Bring the kept days first..last (default: the last `ROLLUP_DAYS` local days) up
        to date, so that reports read them rather than build them: (day, kept | built |
        unsettled) per day. Run by the engine every hour, and by `callcore report rollups`."""
        cfg = self.config()
        now = self.clock()
        tz = cfg.site.timezone
        today = now.astimezone(ZoneInfo(tz)).date()
        last = last or today
        first = first or last - timedelta(days=ROLLUP_DAYS)
        with self.engine.connect() as conn:
            queries.tune(conn)
            return rollups.build(conn, first, last, tz, cfg.site.targets, now, self.sources)

    @staticmethod
    def _key_of(cfg: SiteConfig, g: Grouping, interval: int) -> Callable[[Any], str]:
        """The group a database key value belongs to."""
        tz = cfg.site.timezone
        units = unit_of_number(cfg)
        return cache(
            {
                Grouping.INTERVAL: lambda b: interval_key(int(b), tz, interval),
                Grouping.DAY: lambda b: day_key(int(b), tz),
                Grouping.WEEK: lambda b: week_key(int(b), tz),
                Grouping.NUMBER: lambda n: n or "",
                Grouping.UNIT: lambda n: units.get(n or "", ""),
                Grouping.ZONE: lambda r: zone_of_route(r or ""),
                Grouping.SEAT: lambda s: s or "",
            }[g]
        )

    def _fill(
        self, g: Grouping, accs: dict[Any, Acc], rng: Range, tz: str, interval: int
    ) -> dict[str, Acc]:
        """Time groupings show every interval (day, week) of the range, with calls or not."""
        if g not in (Grouping.INTERVAL, Grouping.DAY, Grouping.WEEK):
            return dict(accs)
        key_of = self._key_of(self.config(), g, interval)
        out = {key_of(b): Acc() for b in _buckets(rng)}
        for k, acc in accs.items():
            out.setdefault(k, Acc()).merge(acc)
        return out

    # -- staffing ------------------------------------------------------------------------

    def staffing(self, day: date, interval: int = 30) -> Staffing:
        """Seats needed per interval and zone from the day's own traffic, beside the seats
        that were logged in."""
        tz = self.config().site.timezone
        rng = Range(midnight(day, tz), midnight(day + timedelta(days=1), tz), "day")
        with self.engine.connect() as conn:
            queries.tune(conn)
            traffic = self._traffic(conn, [rng], interval)
            on_duty = self._on_duty(conn, rng, interval)
        return self._size(day, interval, "observed", [day], traffic, on_duty)

    def forecast(self, day: date, weeks: int = 4, interval: int = 30) -> Staffing:
        """Seats needed for a coming day: each interval's calls the mean of the same weekday
        in the `weeks` weeks before, handle time and patience pooled over those days."""
        tz = self.config().site.timezone
        history = [day - timedelta(days=7 * k) for k in range(1, weeks + 1)]
        ranges = [
            Range(midnight(d, tz), midnight(d + timedelta(days=1), tz), "day") for d in history
        ]
        rng = Range(midnight(day, tz), midnight(day + timedelta(days=1), tz), "day")
        with self.engine.connect() as conn:
            queries.tune(conn)
            traffic = self._traffic(conn, ranges, interval)
            on_duty = self._on_duty(conn, rng, interval)
        return self._size(day, interval, "forecast", history, traffic, on_duty)

    def _traffic(self, conn: Connection, ranges: list[Range], interval: int) -> _Traffic:
        """Calls per (time of day, zone), summed over the days, and per-zone sums."""
        cfg = self.config()
        tz = cfg.site.timezone
        per: dict[tuple[str, str], Acc] = defaultdict(Acc)
        zone: dict[str, Acc] = defaultdict(Acc)
        now = self.clock()
        slot_zone = cache(
            lambda b, r: (interval_key(int(b), tz, interval)[11:], zone_of_route(r or ""))
        )
        for rng in ranges:
            part = rollups.gather(
                conn, rng, tz, cfg.site.targets, now, ["bucket_route"], sources=self.sources
            )
            rows = _group(part.sums.get("bucket_route", {}), slot_zone)
            for (slot, z), acc in rows.items():
                if not z or z.startswith("trunk:"):
                    continue  # the sub-centre's own seats answer those
                per[(slot, z)].merge(acc)
                zone[z].merge(acc)
        return _Traffic(per, zone, len(ranges))

    def _on_duty(
        self, conn: Connection, rng: Range, interval: int
    ) -> dict[tuple[str, str], tuple[float, float]]:
        """Mean seats logged in and mean seats staffed (free or on a call) per (HH:MM, zone)."""
        tz = self.config().site.timezone
        logged: dict[tuple[str, str], float] = defaultdict(float)
        staffed: dict[tuple[str, str], float] = defaultdict(float)
        step = interval * 60
        for _seat, state, zone, a, b in queries.seat_periods(
            conn, rng.start, rng.end, self.clock()
        ):
            if state not in SEAT_STATES_LOGGED_IN:
                continue
            t = a
            while t < b:
                slot_start = (
                    math.floor((t - rng.start.timestamp()) / step) * step + rng.start.timestamp()
                )
                upto = min(b, slot_start + step)
                bucket = int(slot_start // BUCKET_SECONDS)
                key = (interval_key(bucket, tz, interval)[11:], zone)
                logged[key] += (upto - t) / step
                if state in SEAT_STATES_STAFFED:
                    staffed[key] += (upto - t) / step
                t = upto
        return {k: (logged[k], staffed.get(k, 0.0)) for k in logged}

    def _size(
        self,
        day: date,
        interval: int,
        kind: str,
        based_on: list[date],
        traffic: _Traffic,
        on_duty: dict[tuple[str, str], tuple[float, float]],
    ) -> Staffing:
        cfg = self.config()
        t = cfg.site.targets
        params = {z: _ZoneParams.of(acc) for z, acc in traffic.zone.items()}
        zones = sorted({z for _s, z in traffic.per} | {z for _s, z in on_duty})
        slots = sorted(
            {
                k[11:]
                for k in (
                    interval_key(b, cfg.site.timezone, interval)
                    for b in _day_buckets(day, cfg.site.timezone)
                )
            }
        )
        rows: list[StaffingRow] = []
        for slot in slots:
            for z in zones:
                acc = traffic.per.get((slot, z), Acc())
                offered = acc.counters["offered"] / traffic.days
                p = params.get(z, _ZoneParams())
                rate = offered / (interval * 60)
                need_c = need_a = 0
                if rate > 0 and p.aht:
                    need_c = erlang.erlang_c_agents(rate, p.aht, t.answer_seconds, t.sl_target)
                    need_a = erlang.erlang_a_agents(
                        rate, p.aht, p.patience, t.answer_seconds, t.sl_target, t.abandon_target
                    )
                logged, staffed = on_duty.get((slot, z), (0.0, 0.0))
                rows.append(
                    StaffingRow(
                        slot,
                        z,
                        offered,
                        rate * 3600,
                        p.aht,
                        p.patience,
                        rate * (p.aht or 0.0),
                        need_c,
                        need_a,
                        logged,
                        staffed,
                    )
                )
        return Staffing(day, interval, kind, based_on, rows, params)


def _group(accs: dict[Any, Acc], key_of: Callable[..., Any]) -> dict[Any, Acc]:
    """Sums at the database's keys merged into the report's groups."""
    out: dict[Any, Acc] = {}
    for key, acc in accs.items():
        out.setdefault(key_of(*key), Acc()).merge(acc)
    return out


def _mark_sources(part: rollups.Part, names: set[str]) -> None:
    """Every group with calls shows the sources' figures (zero rather than absent): kept
    days hold the counters but not which sources gave them."""
    if not names:
        return
    for accs in part.sums.values():
        for acc in accs.values():
            acc.sources |= names


def _seat_time(rows: list[tuple[str, str, str, str, float]]) -> dict[str | None, dict[str, Acc]]:
    """Seat seconds by seat, by zone (the seat's zone at the time) and for everyone (None)."""
    out: dict[str | None, dict[str, Acc]] = {"seat": {}, "zone": {}, None: {}}
    for seat, zone, state, reason, secs in rows:
        for key, value in (("seat", seat), ("zone", zone), (None, "")):
            out[key].setdefault(value, Acc()).seat_time[(state, reason)] += secs
    return out


def _buckets(rng: Range) -> range:
    first = int(rng.start.timestamp() // BUCKET_SECONDS)
    last = math.ceil(rng.end.timestamp() / BUCKET_SECONDS)
    return range(first, last)


def _day_buckets(day: date, tz: str) -> range:
    return _buckets(Range(midnight(day, tz), midnight(day + timedelta(days=1), tz)))


@dataclass
class _Traffic:
    per: dict[tuple[str, str], Acc]
    zone: dict[str, Acc]
    days: int


@dataclass(frozen=True)
class _ZoneParams:
    """A zone's handle time and its callers' patience, pooled over the days looked at.

    Patience is the exponential estimate: all the time callers spent in the queue divided
    by the callers who gave up there (None when nobody gave up: Erlang A becomes C)."""

    aht: float | None = None
    patience: float | None = None
    handled: int = 0
    queue_abandoned: int = 0

    @classmethod
    def of(cls, acc: Acc) -> _ZoneParams:
        c = acc.counters
        aht = (c["handled_talk_ms"] + c["wrap_ms"]) / c["handled"] / 1000 if c["handled"] else None
        ab = c["queue_abandoned"]
        patience = c["queued_wait_ms"] / ab / 1000 if ab else None
        return cls(aht, patience, int(c["handled"]), int(ab))

    def as_dict(self) -> dict[str, Any]:
        return {
            "aht": self.aht,
            "patience": self.patience,
            "handled": self.handled,
            "queue_abandoned": self.queue_abandoned,
        }


@dataclass(frozen=True)
class StaffingRow:
    slot: str  # HH:MM, local start of the interval
    zone: str
    offered: float  # calls in the interval (the mean over the days of a forecast)
    per_hour: float
    aht: float | None
    patience: float | None
    erlangs: float
    needed_c: int  # Erlang C: SL target
    needed_a: int  # Erlang A: SL and abandon targets
    logged_in: float  # mean seats of the zone logged in during the interval
    staffed: float  # of which free or on a call (not paused, not unreachable)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Staffing:
    day: date
    interval: int
    kind: str  # observed | forecast
    based_on: list[date]
    rows: list[StaffingRow]
    zones: dict[str, _ZoneParams] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "interval_minutes": self.interval,
            "kind": self.kind,
            "based_on": [d.isoformat() for d in self.based_on],
            "zones": {z: p.as_dict() for z, p in self.zones.items()},
            "rows": [r.as_dict() for r in self.rows],
        }

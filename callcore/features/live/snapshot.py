"""One read of the live state: the `Snapshot` the monitor, `monitor --once --json` and the
API all show.

Everything comes from one Redis pipeline (meta, waiting callers, seats, today's figures
and the last 60 minute buckets), however many seats and queues there are, so a refresh
costs one round trip. The figures are `queues.stats.Figures` summed from the counters the
engine keeps (docs/figures.md). If Redis cannot be read, or the engine has not written a
heartbeat recently, the snapshot says so (`available: false`, `problem`) and holds no
figures: never stale numbers presented as live.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

import orjson
from pydantic import Field
from redis.asyncio import Redis
from redis.exceptions import RedisError

from callcore.api.registry import Model
from callcore.features.live.keys import Keys
from callcore.features.live.ratings import RatingsView
from config.schema import SiteConfig
from queues.stats import COUNTERS, ROLLING_WINDOWS, Figures, day_of, minute_of
from seats.states import SeatState

# Seat states (seats/states.py), as supervisors read them: pauses and unreachable phones
# first (they watch those), logged-off seats last.
SEAT_ORDER = ("paused", "unreachable", "ringing", "talking", "wrap_up", "available", "logged_off")
assert set(SEAT_ORDER) == {s.value for s in SeatState}
STALE_AFTER = 5.0  # seconds without a heartbeat before the engine counts as silent
WINDOWS = ("today", *(f"m{m}" for m in ROLLING_WINDOWS))


class FiguresOut(Model):
    """Service figures of one window (docs/figures.md)."""

    offered: int
    answered: int
    abandoned: int
    timeout: int
    failed: int
    in_progress: int
    answered_within: int
    sl15: float | None
    answer_rate: float | None
    avg_wait: float | None
    max_wait: float | None
    avg_talk: float | None

    @classmethod
    def of(cls, f: Figures) -> FiguresOut:
        return cls(**f.as_dict())


class WindowFigures(Model):
    """Figures for today (since local midnight) and the rolling 15 and 60 minutes."""

    today: FiguresOut
    m15: FiguresOut
    m60: FiguresOut


class WaitingCaller(Model):
    linkedid: str
    queue: str
    position: int
    caller: str
    caller_name: str
    dialed: str
    hotline: str
    priority: int
    joined_at: float
    wait: float  # seconds so far, at the snapshot's time


class QueueView(Model):
    queue: str
    zone: str
    name: str
    kind: str
    waiting: int
    longest_wait: float | None
    seats: dict[str, int]  # member seats by state
    figures: WindowFigures
    sl_alert: bool


class NumberView(Model):
    number: str  # the directory number; "" for calls to unknown numbers
    name: str
    figures: WindowFigures


class SeatView(Model):
    seat: str
    name: str
    extension: str
    zone: str  # its zone now (a move changes it)
    state: str  # seats.states.SeatState
    reason: str  # pause reason id
    reason_name: str  # the site's name for it
    since: float | None
    for_seconds: float | None
    queues: list[str]
    call: str  # linkedid of the call it rings for, talks on or wraps up
    caller: str
    alert: bool  # paused longer than live.paused_alert_seconds


class Highlight(Model):
    kind: Literal["sl_low", "long_wait", "long_pause", "unsatisfied_rating"]
    target: str  # queue, linkedid or seat id
    label: str
    value: float
    threshold: float


class Snapshot(Model):
    """The whole live state at one moment."""

    at: float
    available: bool
    problem: Literal["redis_unavailable", "engine_silent"] | None = None
    detail: str | None = None
    site: str
    answer_seconds: int
    sl_target: float
    heartbeat_age: float | None = None
    # parts of the engine impaired while calls still flow, as the engine last said:
    # {"database": "<records waiting in the journal>", "ami": ""} (callcore/supervision.py)
    degraded: dict[str, str] = Field(default_factory=dict)
    totals: WindowFigures | None = None
    queues: list[QueueView] = Field(default_factory=list)
    numbers: list[NumberView] = Field(default_factory=list)
    waiting: list[WaitingCaller] = Field(default_factory=list)
    seats: list[SeatView] = Field(default_factory=list)
    seat_states: dict[str, int] = Field(default_factory=dict)
    highlights: list[Highlight] = Field(default_factory=list)
    ratings: RatingsView | None = None  # today's 一次一评 (None: ratings off, or not yet read)


# Sum the minute buckets of the rolling windows inside Redis, so a refresh receives two
# hashes instead of 60 (a busy floor has ~700 fields per minute). KEYS: the minute
# buckets, oldest first; ARGV[1]: how many of the newest make the short window. Returns
# {short window, long window} as flat field/value lists; `wait_max_ms` fields take the max.
WINDOWS_LUA = """
local short = tonumber(ARGV[1])
local n = #KEYS
local long, shrt = {}, {}
for i = 1, n do
  local h = redis.call('HGETALL', KEYS[i])
  local inshort = (i > n - short)
  for j = 1, #h, 2 do
    local f, v = h[j], tonumber(h[j + 1])
    if v then
      if string.sub(f, -12) == '|wait_max_ms' then
        if (long[f] or -1) < v then long[f] = v end
        if inshort and (shrt[f] or -1) < v then shrt[f] = v end
      else
        long[f] = (long[f] or 0) + v
        if inshort then shrt[f] = (shrt[f] or 0) + v end
      end
    end
  end
end
local a, b = {}, {}
for f, v in pairs(shrt) do a[#a + 1] = f; a[#a + 1] = string.format('%d', v) end
for f, v in pairs(long) do b[#b + 1] = f; b[#b + 1] = string.format('%d', v) end
return {a, b}
"""


def _pairs(flat: list) -> dict[str, str]:
    return {
        (flat[i].decode() if isinstance(flat[i], bytes) else flat[i]): (
            flat[i + 1].decode() if isinstance(flat[i + 1], bytes) else flat[i + 1]
        )
        for i in range(0, len(flat), 2)
    }


def _decode(raw: dict) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in (raw or {}).items()
    }


def _scoped(hashes: Iterable[dict]) -> tuple[dict[str, Counter], dict[str, int]]:
    """Sum `<scope>|<counter>` fields over hashes; max of `wait_max_ms`."""
    sums: dict[str, Counter] = {}
    maxes: dict[str, int] = {}
    for h in hashes:
        for field, value in h.items():
            f = field.decode() if isinstance(field, bytes) else field
            scope, _, counter = f.rpartition("|")
            try:
                n = int(value)
            except ValueError:
                continue
            if counter == "wait_max_ms":
                if n > maxes.get(scope, -1):
                    maxes[scope] = n
            elif counter in COUNTERS:
                sums.setdefault(scope, Counter())[counter] += n
    return sums, maxes


def _figures(sums: dict[str, Counter], maxes: dict[str, int], scope: str) -> Figures:
    return Figures.from_counters(sums.get(scope, {}), maxes.get(scope))


async def read_snapshot(
    redis: Redis, keys: Keys, cfg: SiteConfig, now: float | None = None
) -> Snapshot:
    now = time.time() if now is None else now
    base = {
        "at": now,
        "site": f"{cfg.site.city} {cfg.site.name}",
        "answer_seconds": cfg.site.targets.answer_seconds,
        "sl_target": cfg.site.targets.sl_target,
    }
    at = datetime.fromtimestamp(now, UTC)
    minute = minute_of(at)
    short, long = ROLLING_WINDOWS
    try:
        script = redis.register_script(WINDOWS_LUA)
        async with redis.pipeline(transaction=False) as p:
            p.hgetall(keys.meta)
            p.hgetall(keys.waiting)
            p.hgetall(keys.seats)
            p.hgetall(keys.day(day_of(at, cfg.site.timezone)))
            await script(
                keys=[keys.minute(m) for m in range(minute - long + 1, minute + 1)],
                args=[short],
                client=p,
            )
            p.get(keys.ratings(day_of(at, cfg.site.timezone)))
            res = await p.execute()
    except (RedisError, OSError, TimeoutError) as exc:
        return Snapshot(
            **base,
            available=False,
            problem="redis_unavailable",
            detail=f"{type(exc).__name__}: {exc}",
        )
    meta = _decode(res[0])
    try:
        beat = float(meta.get("heartbeat", "nan"))
        age = round(max(now - beat, 0.0), 3)
    except ValueError:
        age = None
    if age is None or age != age or age > STALE_AFTER:  # NaN: never written
        return Snapshot(
            **base,
            available=False,
            problem="engine_silent",
            heartbeat_age=None if age is None or age != age else age,
            detail="no engine has written the live state recently",
        )
    m_short, m_long = res[4]
    rolling = {f"m{short}": _pairs(m_short), f"m{long}": _pairs(m_long)}
    snap = build(cfg, now, age, res[1], res[2], res[3], rolling, res[5])
    snap.degraded = _degraded(meta.get("degraded"))
    return snap


def _degraded(raw: str | None) -> dict[str, str]:
    try:
        value = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


_Windows = dict[str, tuple[dict[str, Counter], dict[str, int]]]  # window -> _scoped sums


def build(
    cfg: SiteConfig,
    now: float,
    heartbeat_age: float | None,
    waiting_raw: dict,
    seats_raw: dict,
    day: dict,
    rolling: dict[str, dict],
    ratings_raw: bytes | str | None = None,
) -> Snapshot:
    """The snapshot from raw hashes: today's, and each rolling window's summed buckets.

    Each table is built by its own step; highlights come in the order supervisors read
    them: the site's service level, then long waits, long pauses and low queues.
    """
    windows: _Windows = {"today": _scoped([day])}
    for name, summed in rolling.items():
        windows[name] = _scoped([summed])
    target = cfg.site.targets.sl_target
    waiting, wait_alerts = _waiting(waiting_raw, now, cfg.live.waiting_alert_seconds)
    seats, state_count, by_queue, pause_alerts = _seats(
        seats_raw, now, cfg.live.paused_alert_seconds
    )
    queues, queue_alerts = _queues(cfg, windows, waiting, by_queue)
    totals = _window_figures(windows, "all")
    ratings = _ratings(ratings_raw)
    highlights = _site_alert(cfg, totals) + wait_alerts + pause_alerts + queue_alerts
    highlights += _unsatisfied(ratings, now)
    return Snapshot(
        at=now,
        available=True,
        site=f"{cfg.site.city} {cfg.site.name}",
        answer_seconds=cfg.site.targets.answer_seconds,
        sl_target=target,
        heartbeat_age=heartbeat_age,
        totals=totals,
        queues=queues,
        numbers=_numbers(cfg, windows),
        waiting=_positions(waiting),
        seats=seats,
        seat_states={st: state_count.get(st, 0) for st in SEAT_ORDER},
        highlights=highlights,
        ratings=ratings,
    )


UNSATISFIED_ALERT_SECONDS = 3600.0  # an unsatisfied rating is highlighted for an hour


def _ratings(raw: bytes | str | None) -> RatingsView | None:
    if not raw:
        return None
    try:
        return RatingsView.model_validate(orjson.loads(raw))
    except ValueError:  # orjson's and pydantic's errors: an unreadable value is no view
        return None


def _unsatisfied(ratings: RatingsView | None, now: float) -> list[Highlight]:
    """Each rating 不满意 or 非常不满意 of the last hour, newest first: followed up."""
    if ratings is None:
        return []
    return [
        Highlight(
            kind="unsatisfied_rating",
            target=r.linkedid,
            label=r.seat or r.zone,
            value=r.level,
            threshold=4,
        )
        for r in ratings.unsatisfied
        if now - r.at <= UNSATISFIED_ALERT_SECONDS
    ]


def _window_figures(windows: _Windows, scope: str) -> WindowFigures:
    return WindowFigures(
        **{w: FiguresOut.of(_figures(*windows[w], scope)) for w in WINDOWS}  # type: ignore[arg-type]
    )


def _waiting(
    waiting_raw: dict, now: float, alert_after: float
) -> tuple[list[WaitingCaller], list[Highlight]]:
    """Waiting callers, longest wait first, and a highlight for each waiting too long."""
    waiting = []
    for v in waiting_raw.values():
        w = orjson.loads(v)
        waiting.append(WaitingCaller(**w, wait=round(max(now - w["joined_at"], 0.0), 1)))
    waiting.sort(key=lambda w: -w.wait)
    alerts = [
        Highlight(
            kind="long_wait",
            target=w.linkedid,
            label=f"{w.caller or '?'} @ {w.queue}",
            value=w.wait,
            threshold=alert_after,
        )
        for w in waiting
        if w.wait > alert_after
    ]
    return waiting, alerts


def _seats(
    seats_raw: dict, now: float, alert_after: float
) -> tuple[list[SeatView], Counter, dict[str, Counter], list[Highlight]]:
    """Seats in the supervisors' order, the count per state and per queue and state, and
    a highlight for each seat paused too long; one pass over the seats."""
    seats = []
    alerts = []
    state_count: Counter = Counter()
    by_queue: dict[str, Counter] = {}
    for v in seats_raw.values():
        s = orjson.loads(v)
        state = s["state"]
        since = s.get("since") or None
        for_seconds = round(max(now - since, 0.0), 1) if since else None
        alert = state == "paused" and (for_seconds or 0) > alert_after
        seats.append(
            SeatView(
                seat=s["seat"],
                name=s.get("name", ""),
                extension=s.get("extension", ""),
                zone=s.get("zone", ""),
                state=state,
                reason=s.get("reason", ""),
                reason_name=s.get("reason_name", ""),
                since=since,
                for_seconds=for_seconds,
                queues=s.get("queues", []),
                call=s.get("call", ""),
                caller=s.get("caller", ""),
                alert=alert,
            )
        )
        state_count[state] += 1
        for q in s.get("queues", []):
            by_queue.setdefault(q, Counter())[state] += 1
        if alert:
            alerts.append(
                Highlight(
                    kind="long_pause",
                    target=s["seat"],
                    label=f"{s['seat']} {s.get('name', '')}",
                    value=for_seconds or 0.0,
                    threshold=alert_after,
                )
            )
    order = {st: i for i, st in enumerate(SEAT_ORDER)}
    seats.sort(key=lambda s: (order.get(s.state, 99), -(s.for_seconds or 0), s.seat))
    return seats, state_count, by_queue, alerts


def _queues(
    cfg: SiteConfig,
    windows: _Windows,
    waiting: list[WaitingCaller],
    by_queue: dict[str, Counter],
) -> tuple[list[QueueView], list[Highlight]]:
    """A row per zone queue and per trunk to a sub-centre, and a highlight for each whose
    last hour's service level is below target."""
    target = cfg.site.targets.sl_target
    queues = []
    alerts = []
    routes = [(z.queue, z.id, z.name, z.kind.value) for z in cfg.zones]
    routes += [
        (f"trunk:{t.id}", t.id, t.name, "trunk") for t in cfg.trunks if t.id != cfg.carrier_trunk
    ]
    for queue, zone, name, kind in routes:
        mine = [w for w in waiting if w.queue == queue]
        f = _window_figures(windows, f"q:{queue}")
        alert = f.m60.sl15 is not None and f.m60.sl15 < target
        queues.append(
            QueueView(
                queue=queue,
                zone=zone,
                name=name,
                kind=kind,
                waiting=len(mine),
                longest_wait=max((w.wait for w in mine), default=None),
                seats=dict(by_queue.get(queue, {})),
                figures=f,
                sl_alert=alert,
            )
        )
        if alert:
            alerts.append(
                Highlight(
                    kind="sl_low",
                    target=queue,
                    label=name,
                    value=round(f.m60.sl15 or 0.0, 4),
                    threshold=target,
                )
            )
    return queues, alerts


def _numbers(cfg: SiteConfig, windows: _Windows) -> list[NumberView]:
    """The directory numbers that had calls today or in the last hour, then calls to
    numbers the directory does not know."""
    numbers = []
    for h in cfg.hotlines:
        f = _window_figures(windows, f"n:{h.number}")
        if f.today.offered or f.m60.offered:
            numbers.append(NumberView(number=h.number, name=h.name, figures=f))
    unknown = _window_figures(windows, "n:")
    if unknown.today.offered or unknown.m60.offered:
        numbers.append(NumberView(number="", name="", figures=unknown))
    return numbers


def _site_alert(cfg: SiteConfig, totals: WindowFigures) -> list[Highlight]:
    """The whole site's last hour below its service-level target, if it is."""
    target = cfg.site.targets.sl_target
    if totals.m60.sl15 is not None and totals.m60.sl15 < target:
        return [
            Highlight(
                kind="sl_low",
                target="all",
                label=cfg.site.name,
                value=round(totals.m60.sl15, 4),
                threshold=target,
            )
        ]
    return []


def _positions(waiting: list[WaitingCaller]) -> list[WaitingCaller]:
    """Longest waiting first, as supervisors read it; `position` within each queue is
    Asterisk's order (priority first, then arrival)."""
    per_queue: dict[str, list[WaitingCaller]] = {}
    for w in waiting:
        per_queue.setdefault(w.queue, []).append(w)
    pos: dict[str, int] = {}
    for items in per_queue.values():
        items.sort(key=lambda w: (-w.priority, w.joined_at))
        for i, w in enumerate(items):
            pos[w.linkedid] = i + 1
    return [w.model_copy(update={"position": pos[w.linkedid]}) for w in waiting]

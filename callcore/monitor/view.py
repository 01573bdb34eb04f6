"""What the monitor shows, as plain rows of text (no terminal code here).

Each function turns part of a `Snapshot` into a header and rows, in the chosen language;
the textual app fills its tables from them and `--once` prints them with rich. Numbers
are shown rounded, missing values as "—", caller-supplied text as is (never as markup).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from callcore.features.live.snapshot import FiguresOut, Highlight, Snapshot
from callcore.features.reports.current import IntervalNeed
from callcore.features.reports.model import SEAT_STATES_LOGGED_IN, SEAT_STATES_STAFFED
from callcore.i18n import pause_reason, t
from seats.states import state_label

DASH = "—"


def state(value: str, lang: str) -> str:
    """A seat state in words (the seats' own labels, seats/states.py)."""
    try:
        return state_label(value, lang)
    except ValueError:
        return value


def num(v: float | None, digits: int = 0) -> str:
    return DASH if v is None else f"{v:.{digits}f}"


def pct(v: float | None) -> str:
    return DASH if v is None else f"{v * 100:.1f}%"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[tuple[str, list[str]]]  # (row key, cells)
    alert_rows: set[str]  # keys of rows to highlight


def banner(snap: Snapshot, lang: str) -> tuple[str, bool]:
    """The status line, and whether it is an alarm."""
    clock = time.strftime("%H:%M:%S", time.localtime(snap.at))
    if not snap.available:
        why = t(snap.problem or "live_unavailable", lang)
        return f"{t('live_unavailable', lang)}: {why}  [{clock}]", True
    head = f"{t('monitor_title', lang)} · {snap.site} · {t('live_ok', lang)} {clock}"
    if snap.degraded:
        parts = [t(f"degraded_{k}", lang).format(v) for k, v in sorted(snap.degraded.items())]
        return f"{head} · {t('degraded', lang)}: " + "; ".join(parts), True
    return head, False


def highlight_text(h: Highlight, lang: str) -> str:
    if h.kind == "sl_low":
        return f"{t('sl_low', lang)}: {h.label} {pct(h.value)} < {pct(h.threshold)}"
    if h.kind == "long_wait":
        return f"{t('long_wait', lang)}: {h.label} {num(h.value)}s > {num(h.threshold)}s"
    return f"{t('long_pause', lang)}: {h.label} {num(h.value)}s > {num(h.threshold)}s"


def highlights(snap: Snapshot, lang: str, limit: int = 4) -> str:
    if not snap.available:
        return ""
    if not snap.highlights:
        return f"{t('highlights', lang)}: {t('no_alerts', lang)}"
    items = [highlight_text(h, lang) for h in snap.highlights[:limit]]
    more = len(snap.highlights) - limit
    return f"{t('highlights', lang)}: " + " | ".join(items) + (f" (+{more})" if more > 0 else "")


def _long_waits(snap: Snapshot) -> set[str]:
    return {h.target for h in snap.highlights if h.kind == "long_wait"}


def _fig_cells(f: FiguresOut) -> list[str]:
    return [
        str(f.offered),
        str(f.answered),
        str(f.abandoned),
        pct(f.sl15),
        pct(f.answer_rate),
        num(f.avg_wait, 1),
        num(f.max_wait, 1),
        num(f.avg_talk, 1),
    ]


def _fig_columns(lang: str) -> list[str]:
    return [
        t("offered", lang),
        t("answered", lang),
        t("abandoned", lang),
        t("sl15", lang),
        t("answer_rate", lang),
        t("avg_wait", lang),
        t("max_wait", lang),
        t("avg_talk", lang),
    ]


def totals(snap: Snapshot, lang: str) -> Table:
    cols = ["", *_fig_columns(lang)]
    rows = []
    if snap.totals is not None:
        for w in ("today", "m15", "m60"):
            rows.append((w, [t(w, lang), *_fig_cells(getattr(snap.totals, w))]))
    return Table(t("total", lang), cols, rows, set())


def queues(snap: Snapshot, lang: str) -> Table:
    cols = [
        t("queue", lang),
        t("waiting", lang),
        t("longest_wait", lang),
        t("seats_free", lang),
        *[f"{c}·{t('today', lang)}" for c in _fig_columns(lang)[:5]],
        f"{t('sl15', lang)}·{t('m15', lang)}",
        f"{t('sl15', lang)}·{t('m60', lang)}",
        t("avg_wait", lang),
        t("avg_talk", lang),
    ]
    queue_of = {w.linkedid: w.queue for w in snap.waiting}
    long_queues = {queue_of.get(lid) for lid in _long_waits(snap)}
    rows, alerts = [], set()
    for q in snap.queues:
        on = sum(n for s, n in q.seats.items() if s != "logged_off")
        free = q.seats.get("available", 0)
        today = q.figures.today
        rows.append(
            (
                q.queue,
                [
                    q.name,
                    str(q.waiting),
                    num(q.longest_wait),
                    f"{free}/{on}",
                    *_fig_cells(today)[:5],
                    pct(q.figures.m15.sl15),
                    pct(q.figures.m60.sl15),
                    num(today.avg_wait, 1),
                    num(today.avg_talk, 1),
                ],
            )
        )
        if q.sl_alert or q.queue in long_queues:
            alerts.add(q.queue)
    return Table(t("queues_title", lang), cols, rows, alerts)


def numbers(snap: Snapshot, lang: str) -> Table:
    cols = [t("number", lang), t("hotline", lang), *_fig_columns(lang)]
    rows = [
        (
            n.number or "?",
            [n.number or DASH, n.name or t("unknown_number", lang), *_fig_cells(n.figures.today)],
        )
        for n in snap.numbers
    ]
    return Table(t("numbers_title", lang), cols, rows, set())


def waiting(snap: Snapshot, lang: str, limit: int = 200) -> Table:
    cols = [
        t("wait_so_far", lang),
        t("caller", lang),
        t("name", lang),
        t("dialed", lang),
        t("queue", lang),
        t("position", lang),
        t("priority", lang),
    ]
    long = _long_waits(snap)
    rows, alerts = [], set()
    for w in snap.waiting[:limit]:
        rows.append(
            (
                w.linkedid,
                [
                    num(w.wait),
                    w.caller,
                    w.caller_name,
                    w.dialed,
                    w.queue,
                    str(w.position),
                    str(w.priority),
                ],
            )
        )
        if w.linkedid in long:
            alerts.add(w.linkedid)
    return Table(t("callers_waiting", lang), cols, rows, alerts)


def seats(snap: Snapshot, lang: str) -> Table:
    cols = [
        t("seat", lang),
        t("name", lang),
        t("zone", lang),
        t("state", lang),
        t("reason", lang),
        t("for", lang),
        t("caller", lang),
    ]
    rows, alerts = [], set()
    for s in snap.seats:
        rows.append(
            (
                s.seat,
                [
                    s.seat,
                    s.name,
                    s.zone,
                    state(s.state, lang),
                    pause_reason(s.reason, lang, s.reason_name) if s.reason else "",
                    num(s.for_seconds),
                    s.caller,
                ],
            )
        )
        if s.alert:
            alerts.add(s.seat)
    counts = "  ".join(f"{state(k, lang)} {v}" for k, v in snap.seat_states.items() if v)
    return Table(f"{t('seats_title', lang)}  {counts}", cols, rows, alerts)


def staffing(
    snap: Snapshot, need: IntervalNeed | None, lang: str, names: dict[str, str] | None = None
) -> Table:
    """Seats needed per zone in the interval under way (Erlang A, computed once per
    interval) beside the zone's seats logged in and staffed (free or on a call) now."""
    names = names or {}
    cols = [
        t("zone", lang),
        t("staff_expected", lang),
        t("staff_needed", lang),
        t("staff_logged_in", lang),
        t("staff_staffed", lang),
        t("staff_gap", lang),
        t("staff_basis", lang),
    ]
    logged: dict[str, int] = {}
    staffed: dict[str, int] = {}
    for s in snap.seats:
        if s.state in SEAT_STATES_LOGGED_IN:
            logged[s.zone] = logged.get(s.zone, 0) + 1
        if s.state in SEAT_STATES_STAFFED:
            staffed[s.zone] = staffed.get(s.zone, 0) + 1
    zones = need.zones if need else {}
    rows, alerts = [], set()
    for z in sorted(set(zones) | set(logged)):
        n = zones.get(z)
        free = staffed.get(z, 0)
        cells = [
            names.get(z, z),
            DASH if n is None else num(n.offered, 1),
            DASH if n is None else str(n.needed_a),
            str(logged.get(z, 0)),
            str(free),
            DASH if n is None else f"{free - n.needed_a:+d}",
            t(f"staff_basis_{n.basis if n else 'none'}", lang),
        ]
        rows.append((z, cells))
        if n is not None and free < n.needed_a:
            alerts.add(z)
    when = f"{need.slot} · {need.interval}{t('minutes', lang)}" if need else t("computing", lang)
    return Table(f"{t('staffing_title', lang)} ({when})", cols, rows, alerts)

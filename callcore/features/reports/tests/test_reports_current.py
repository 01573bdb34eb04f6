"""Seats needed this interval for the monitor, on the hand-worked store: from the same
weekday's history when there is one, from today's interval before when not; computed
once per interval, in a thread, never waited for by a refresh."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import Engine

from callcore.features.reports import current
from callcore.features.reports.current import CurrentNeed, compute, slot_of
from callcore.features.reports.service import ReportService

from . import fixture_store
from .conftest import CFG

TZ = CFG.site.timezone


def service(store: Engine, now: datetime) -> ReportService:
    return ReportService(store, lambda: CFG, lambda: now)


def test_slot_of_is_local():
    assert slot_of(fixture_store.at("08:44:59"), TZ, 30)[1] == "08:30"
    day, slot = slot_of(fixture_store.at("00:10:00", day=4), TZ, 60)
    assert (day.isoformat(), slot) == ("2025-03-04", "00:00")


def test_need_from_the_same_weekday(store: Engine):
    now = fixture_store.at("08:10:00", day=10)  # the Monday after: history is the 3rd
    need = compute(service(store, now), now, 30)
    assert (need.day.isoformat(), need.slot) == ("2025-03-10", "08:00")
    general = need.zones["general"]
    assert general.basis == "forecast"
    assert general.offered == 3 / 4  # A1 A2 A3 on one Monday of four
    assert general.needed_a >= 1 and general.needed_c >= 1


def test_need_from_the_interval_before_without_history(store: Engine):
    now = fixture_store.at("08:40:00")  # the 3rd itself: no Mondays before it
    need = compute(service(store, now), now, 30)
    assert need.slot == "08:30"
    general = need.zones["general"]
    assert general.basis == "previous" and general.offered == 3  # 08:00-08:30
    assert general.needed_a >= 1


async def test_computed_once_per_interval_off_the_loop(store: Engine, monkeypatch):
    clock = [fixture_store.at("08:10:00", day=10)]
    calls = []

    def counted(svc, now, interval=30, weeks=4):
        calls.append(now)
        return compute(svc, now, interval, weeks)

    monkeypatch.setattr(current, "compute", counted)
    need = CurrentNeed(service(store, clock[0]), 30, clock=lambda: clock[0])
    assert need.get() is None  # not waited for: computing in a thread
    first = await need.wait()
    assert first is not None and first.slot == "08:00"
    for minute in (12, 20, 29):
        clock[0] = fixture_store.at(f"08:{minute}:00", day=10)
        assert need.get() is first
    clock[0] = fixture_store.at("08:31:00", day=10)
    assert need.get() is first  # the new interval is being computed
    second = await need.wait()
    assert second is not None and second.slot == "08:30"
    assert len(calls) == 2


async def test_a_store_away_is_retried_later(monkeypatch):
    def broken(svc, now, interval=30, weeks=4):
        raise OSError("store away")

    monkeypatch.setattr(current, "compute", broken)
    clock = [fixture_store.at("08:10:00", day=10)]
    need = CurrentNeed(ReportService(None, lambda: CFG), 30, clock=lambda: clock[0])  # type: ignore[arg-type]
    need.get()
    assert await need.wait() is None
    task = need._task
    need.get()
    assert need._task is task  # not retried at once (a refresh every second)
    clock[0] = fixture_store.at("08:12:00", day=10)
    need.get()
    assert need._task is not task
    await asyncio.sleep(0)

"""The daily draw: when it runs, which day it draws, that it draws in a thread, and that the
engine wires it to its own store."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from callcore.features.quality.schedule import DailyDraw, day_before, seconds_to_next
from callcore.features.quality.service import QualityService
from callcore.instance import Instance
from callcore.records import CallRecord
from callcore.store import db
from callcore.wiring.engine import Engine
from config.loader import DEFAULT_PATH

TZ = "Asia/Shanghai"
pytestmark = pytest.mark.timeout(60)


def test_the_day_before_and_the_next_run_are_local():
    late = datetime(2026, 3, 2, 16, 10, tzinfo=UTC)  # 2026-03-03 00:10 in Shanghai
    assert day_before(late, TZ) == date(2026, 3, 2)
    assert seconds_to_next(late, TZ) == 20 * 60  # 00:30 the same local day
    after = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 exactly: the next day's
    assert seconds_to_next(after, TZ) == 24 * 3600
    assert seconds_to_next(after, TZ, time(6, 0)) == 5.5 * 3600


def answered(linkedid: str, seat: str, entered: datetime, talk: float) -> CallRecord:
    return CallRecord(
        linkedid=linkedid, seat=seat, route="q-general", hotline="12345", entered_at=entered,
        answered_at=entered + timedelta(seconds=5), talk_seconds=talk,
        as_of=entered.timestamp() + 5,
    )  # fmt: skip


async def test_the_engine_draws_the_day_before_in_a_thread(tmp_path):
    engine = Engine(Instance(tmp_path / "home", DEFAULT_PATH))
    db.upgrade(engine.db)
    zone = ZoneInfo(engine.inst.config.site.timezone)
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    noon = datetime.combine(yesterday, time(12, 0), tzinfo=zone).astimezone(UTC)
    with engine.db.begin() as conn:  # one long call (sampled by rule) and an ordinary one
        db.upsert_calls(conn, [answered("long", "G01", noon, 40 * 60),
                               answered("short", "G02", noon, 60)])  # fmt: skip
    threads: list[threading.Thread] = []
    service: QualityService = engine.quality
    draw = service.draw

    def recorded(day: date):
        threads.append(threading.current_thread())
        return draw(day)

    service.draw = recorded  # type: ignore[method-assign]
    engine.daily_draw._ready = lambda: True  # the writer (which migrates) is not started here
    task = asyncio.create_task(engine.daily_draw.run())
    try:
        for _ in range(200):
            if engine.daily_draw.last is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
    assert engine.daily_draw.last == yesterday
    assert threads and threads[0] is not threading.main_thread()
    drawn = {q.sample.linkedid: q.sample for q in service.samples(day=yesterday, status="all")}
    assert "long" in drawn["long"].reasons and drawn["long"].reviewer in {"QA01", "QA02"}
    assert engine.services.quality is service
    again = engine.daily_draw.once()  # drawing the day again adds nothing
    assert again == len(drawn)
    engine.db.dispose()


def test_a_site_without_a_qa_desk_draws_nothing(tmp_path):
    inst = Instance(tmp_path / "home", DEFAULT_PATH)
    cfg = inst.config.model_copy(update={"quality": None})
    service = QualityService(db.make_engine(f"sqlite:///{tmp_path}/s.db"), lambda: cfg)
    assert DailyDraw(service, lambda: TZ).once() == 0
    assert DailyDraw(service, lambda: TZ, ready=lambda: False).once() is None

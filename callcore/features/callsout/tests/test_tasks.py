"""The callback list in a real store (SQLite and PostgreSQL): misses merge into one open
task per caller, a caller who got through makes none, a claim is taken once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from callcore.features.callsout import tasks
from callcore.features.callsout.tasks import Miss
from callcore.records import CallRecord, Outcome
from callcore.store.db import upsert_rows
from callcore.store.rows import clean_row

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=30)


def miss(n: int, caller: str = "13900000001", at: datetime = T0, **kw) -> Miss:  # type: ignore[no-untyped-def]
    return Miss(f"call-{n}", caller, kw.get("zone", "general"), "12345", kw.get("ent", False), at)


def test_later_misses_join_the_open_task_keeping_the_first_time(engine: Engine) -> None:
    first = tasks.add_miss(engine, miss(1), WINDOW)
    again = tasks.add_miss(engine, miss(2, at=T0 + timedelta(minutes=5)), WINDOW)
    dup = tasks.add_miss(engine, miss(2, at=T0 + timedelta(minutes=5)), WINDOW)
    assert first is not None and again == first and dup is None
    task = tasks.get(engine, first)
    assert task is not None
    assert task["misses"] == 2 and task["first_missed"] == T0
    assert task["last_missed"] == T0 + timedelta(minutes=5)
    other = tasks.add_miss(engine, miss(3, caller="13900000002"), WINDOW)
    assert other not in (None, first)


def test_a_caller_who_got_through_makes_no_task(engine: Engine) -> None:
    rec = CallRecord(
        linkedid="answered-1", caller_number="13900000003", entered_at=T0 - timedelta(minutes=9),
        answered_at=T0 - timedelta(minutes=8), ended_at=T0 - timedelta(minutes=4),
        outcome=Outcome.ANSWERED, as_of=1.0,
    )  # fmt: skip
    with engine.begin() as conn:
        upsert_rows(conn, [clean_row(rec)])
    assert tasks.add_miss(engine, miss(4, caller="13900000003"), WINDOW) is None
    later = T0 + timedelta(hours=1)
    assert tasks.add_miss(engine, miss(5, caller="13900000003", at=later), WINDOW) is not None


def test_calling_in_closes_the_task(engine: Engine) -> None:
    tid = tasks.add_miss(engine, miss(6, caller="13900000004"), WINDOW)
    assert tasks.close_for_caller(engine, "13900000004", "called_in", T0) == 1
    task = tasks.get(engine, tid or "")
    assert task is not None and task["status"] == "closed" and task["closed_reason"] == "called_in"
    # a new miss opens a new task
    assert tasks.add_miss(engine, miss(7, caller="13900000004"), WINDOW) not in (None, tid)


def test_a_task_is_claimed_once(engine: Engine) -> None:
    tid = tasks.add_miss(engine, miss(8, caller="13900000005"), WINDOW) or ""
    now = T0 + timedelta(minutes=1)
    assert tasks.claim(engine, tid, "G01", now) is not None
    assert tasks.claim(engine, tid, "G02", now) is None
    # an engine that died mid-dial: the claim goes stale
    assert tasks.claim(engine, tid, "G02", now + tasks.STALE_CLAIM * 2) is not None


def test_order_and_retry(engine: Engine) -> None:
    a = tasks.add_miss(engine, miss(10, caller="13900000010", at=T0), WINDOW) or ""
    b = tasks.add_miss(
        engine, miss(11, caller="13900000011", at=T0 + timedelta(minutes=1), ent=True), WINDOW
    )
    c = tasks.add_miss(engine, miss(12, caller="13900000012", at=T0 - timedelta(minutes=1)), WINDOW)
    now = T0 + timedelta(minutes=2)
    assert [t.id for t in tasks.ordered(engine, ["general"], now)] == [b, c, a]
    got = tasks.claim_next(engine, ["general"], "G01", now)
    assert got is not None and got["id"] == b
    tasks.finish(engine, b or "", "busy", "retry", now, now + timedelta(minutes=30))
    assert [t.id for t in tasks.ordered(engine, ["general"], now)] == [c, a]
    later = now + timedelta(minutes=31)
    assert [t.id for t in tasks.ordered(engine, None, later)] == [b, c, a]
    tasks.finish(engine, a, "reached", "reached", now, now)
    figs = tasks.figures(engine, now)
    assert figs["open"] == 2 and figs["oldest"] == T0 - timedelta(minutes=1)


def test_two_engines_racing_for_one_task_dial_it_once(engine: Engine) -> None:
    """Two engines on the same store (two connection pools), each claiming every open task
    for its own seats at once: every task is claimed exactly once."""
    import threading

    from sqlalchemy import create_engine

    ids = [
        tasks.add_miss(engine, miss(100 + i, caller=f"1390000{i:04d}"), WINDOW) for i in range(20)
    ]
    other = create_engine(engine.url)
    won: dict[str, list[str]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def run(db: Engine, name: str) -> None:
        start.wait()
        for tid in ids:
            if tasks.claim(db, tid or "", f"seat-{name}", T0 + timedelta(minutes=1)) is not None:
                won[name].append(tid or "")

    threads = [
        threading.Thread(target=run, args=(db, n)) for db, n in ((engine, "a"), (other, "b"))
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.dispose()
    assert sorted(won["a"] + won["b"]) == sorted(i or "" for i in ids)
    assert not set(won["a"]) & set(won["b"])

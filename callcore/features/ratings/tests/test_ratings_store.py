"""Ratings in the store, on SQLite and PostgreSQL: through the writer, once per call, and the
SQL figures agree with the pure ones and with the hand count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import JSON, Engine, column, insert, select, table
from sqlalchemy.exc import IntegrityError

import config
from callcore.features.ratings import kinds  # noqa: F401  (registers the `rating` kind)
from callcore.features.ratings.model import (
    CallContext,
    Level,
    Outcome,
    RatingFact,
    Source,
    Verdict,
    figure_rows,
    rating_figures,
    rating_record,
)
from callcore.features.ratings.service import RatingService, ratings
from callcore.records import CallRecord
from callcore.store.db import upsert_calls
from callcore.store.models import Call, CallLeg, UTCDateTime
from callcore.store.writer import StoreWriter

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Yancheng
SITE = config.load()


def call(
    n: int,
    seat: str,
    route: str = "q-general",
    hotline: str = "12345",
    answered=True,
    entered: datetime = T0,
) -> CallRecord:
    return CallRecord(
        linkedid=f"1772413200.{n}",
        hotline=hotline,
        route=route,
        seat=seat if answered else "",
        entered_at=entered + timedelta(minutes=n),
        answered_at=entered + timedelta(minutes=n, seconds=10) if answered else None,
        as_of=entered.timestamp() + n * 60 + 10,
    )


def rows_of(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        stmt = select(ratings).order_by(ratings.c.linkedid)
        return [dict(r) for r in conn.execute(stmt).mappings()]


async def test_ratings_go_through_the_writer_once_and_the_live_one_stays(
    url: str, engine: Engine, tmp_path: Path
) -> None:
    writer = StoreWriter(url, tmp_path / "journal")  # the schema is there already
    writer.start()
    try:
        with writer.engine.begin() as conn:
            upsert_calls(conn, [call(1, "G01")])
        service = RatingService(writer.engine, writer.submit, lambda: SITE)
        press = T0.timestamp() + 200
        verdict = Verdict(Outcome.RATED, Level.BASICALLY_SATISFIED, "3")
        ctx = CallContext("G01", (), "12345", "general")
        live = service.record("1772413200.1", verdict, press, context=ctx)
        # the engine was also told by queue_log (a reconciliation after a reconnect), twice
        fact = RatingFact("1772413200.1", press, Outcome.RATED, "3")
        service.reconcile([fact, fact])
        await writer.flush()
        rows = rows_of(writer.engine)
        assert len(rows) == 1
        assert rows[0]["source"] == "live" and rows[0]["level"] == 3
        assert rows[0]["at"] == live.at and rows[0]["legs"] == []
        assert writer.stats()["rejected"] == 0
    finally:
        assert await writer.close()


def test_reconciled_ratings_take_their_context_from_the_store(engine: Engine) -> None:
    lid = "1772413200.2"
    with engine.begin() as conn:
        upsert_calls(conn, [call(2, "G02")])
        conn.execute(
            insert(CallLeg.__table__),
            [
                {
                    "id": f"{lid}/0",
                    "linkedid": lid,
                    "seq": 0,
                    "kind": "queue",
                    "target": "q-general",
                    "seat": "G02",
                    "answered_at": T0,
                    "as_of": 1.0,
                },
                {
                    "id": f"{lid}/1",
                    "linkedid": lid,
                    "seq": 1,
                    "kind": "blind",
                    "target": "q-legal",
                    "seat": "E-legal1",
                    "answered_at": T0,
                    "as_of": 1.0,
                },
            ],
        )
        order = {**ORDER, "id": lid, "registered_at": T0, "updated_at": T0}
        conn.execute(insert(WORK_ORDERS), [order])
    written = []
    service = RatingService(engine, written.append, lambda: SITE)
    (rec,) = service.reconcile([RatingFact(lid, T0.timestamp() + 400, Outcome.RATED, "4")])
    assert rec == written[0]
    assert (rec.seat, rec.zone, rec.hotline, rec.request_id) == ("E-legal1", "legal", "12345", lid)
    assert rec.legs == [f"{lid}/0", f"{lid}/1"]
    assert rec.source == "reconciled" and rec.level == 4 and rec.unsatisfied
    assert rec.as_of == T0.timestamp() + 400 - 1.0


# the work order the call registered, by the work orders' table's name (a sibling feature)
_LISTS = ("assist_units", "calls_in", "calls_out", "recordings", "ratings")
WORK_ORDERS = table(
    "workorders", column("id"), column("state"), column("version"), column("rev"),
    column("registered_at", UTCDateTime()), column("updated_at", UTCDateTime()),
    *(column(name, JSON()) for name in _LISTS),
)  # fmt: skip
ORDER = {"state": "registered", "version": 1, "rev": 1, **{name: [] for name in _LISTS}}


def test_the_level_and_outcome_constraints_hold(engine: Engine) -> None:
    good = rating_record("x", Verdict(Outcome.NO_KEY), CallContext(), T0.timestamp(), Source.LIVE)
    row = {k: getattr(good, k) for k in good.__dataclass_fields__}
    for bad in (
        {"level": 6, "outcome": "rated"},
        {"level": 2},
        {"outcome": "rated"},
        {"source": "guess"},
    ):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(ratings), [{**row, **bad}])


def seed_figures(engine: Engine) -> RatingService:
    """Eight answered calls (and one abandoned) on the first day, one on the next."""
    calls = [
        call(1, "G01"),
        call(2, "G01"),
        call(3, "G01"),
        call(4, "G01"),
        call(5, "E-hrss1", route="q-hrss", hotline="12333"),
        call(6, "E-hrss1", route="q-hrss", hotline="12333"),
        call(7, "E-hrss1", route="q-hrss"),
        call(8, "E-hrss1", route="q-hrss"),
        call(9, "", answered=False),
        call(10, "G01", entered=T0 + timedelta(days=1)),
    ]
    levels = {
        1: ("1", Outcome.RATED),
        2: ("3", Outcome.RATED),
        3: ("4", Outcome.RATED),
        4: ("", Outcome.HANGUP),
        5: ("2", Outcome.RATED),
        6: ("5", Outcome.RATED),
        7: ("9", Outcome.INVALID),
        10: ("1", Outcome.RATED),
    }  # call 8: no rating row
    with engine.begin() as conn:
        upsert_calls(conn, calls)
    service = RatingService(engine, lambda rec: None, lambda: SITE)
    records = []
    for n, (key, outcome) in levels.items():
        c = calls[n - 1]
        level = Level(SITE.ratings.keys[key]) if outcome is Outcome.RATED else None
        ctx = CallContext(c.seat, (), c.hotline, c.route[2:])
        records.append(
            rating_record(
                c.linkedid,
                Verdict(outcome, level, key),
                ctx,
                c.answered_at.timestamp() + 100,
                Source.LIVE,
            )
        )
    with engine.begin() as conn:
        conn.execute(
            insert(ratings), [{k: getattr(r, k) for k in r.__dataclass_fields__} for r in records]
        )
    return service


def test_stored_figures_worked_by_hand(engine: Engine) -> None:
    service = seed_figures(engine)
    day = (T0, T0 + timedelta(days=1))
    every = service.figures(*day)[""]
    # 8 answered; rated: 1, 3, 4, 2, 5 (hung up, invalid and no row are 未评价)
    assert (every.answered, every.rated, every.satisfied) == (8, 5, 3)
    assert every.rated_share == 5 / 8 and every.satisfaction == 3 / 5
    seats = service.figures(*day, grouping="seat")
    assert set(seats) == {"G01", "E-hrss1"}
    assert (seats["G01"].rated, seats["G01"].satisfied, seats["G01"].answered) == (3, 2, 4)
    assert seats["E-hrss1"].levels == {1: 0, 2: 1, 3: 0, 4: 0, 5: 1}
    numbers = service.figures(*day, grouping="number")
    assert numbers["12333"].satisfaction == 1 / 2 and numbers["12345"].answered == 6
    zones = service.figures(*day, grouping="zone")
    assert (zones["general"].answered, zones["hrss"].answered) == (4, 4)
    # the next day holds only call 10; a day without calls has no figures
    assert service.figures(T0 + timedelta(days=1), T0 + timedelta(days=2))[""].rated == 1
    assert service.figures(T0 - timedelta(days=1), T0) == {}


@pytest.mark.parametrize("grouping", ["all", "zone", "seat", "number"])
def test_sql_figures_are_the_pure_figures(engine: Engine, grouping: str) -> None:
    service = seed_figures(engine)
    since, until = T0, T0 + timedelta(days=1)
    with engine.connect() as conn:
        calls = Call.__table__
        call_rows = (
            conn.execute(
                select(calls).where(calls.c.entered_at >= since, calls.c.entered_at < until)
            )
            .mappings()
            .all()
        )
        by_call = {r["linkedid"]: r for r in conn.execute(select(ratings)).mappings()}
    pure = rating_figures(figure_rows(call_rows, by_call), grouping)
    stored = service.figures(since, until, grouping)
    assert {k: v.as_dict() for k, v in stored.items()} == {k: v.as_dict() for k, v in pure.items()}


def test_ratings_are_listed_by_time_seat_and_dissatisfaction(engine: Engine) -> None:
    service = seed_figures(engine)
    day = (T0, T0 + timedelta(days=1))
    assert len(service.ratings(*day)) == 7
    assert [r["key"] for r in service.ratings(*day, seat="G01")] == ["1", "3", "4", ""]
    assert [r["level"] for r in service.ratings(*day, unsatisfied=True)] == [4, 5]
    every = [f"1772413200.{n}" for n in range(1, 11)]
    assert service.unsatisfied_calls(every) == {"1772413200.3", "1772413200.6"}

"""The QA desk on the store, SQLite and PostgreSQL: drawing from stored calls and ratings,
the reviewer's queue, scores that cannot be edited, corrections as versions, the audit, and
the migration up and down."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError

import config
from callcore.features.quality.model import Marks, QualityError
from callcore.features.quality.service import QualityService, audit_t, scores_t
from callcore.features.ratings.service import RatingService
from callcore.features.ratings.tables import Rating
from callcore.records import CallRecord
from callcore.store.db import alembic_config, make_engine, upgrade, upsert_calls
from callcore.store.models import CallLeg

DAY = date(2026, 3, 2)
START = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # 2026-03-02 00:00 in Asia/Shanghai
SITE = config.load()
FULL = {"opening": 10, "listening": 25, "answer": 30, "attitude": 20, "closing": 15}
SITE_SAMPLING = SITE.model_copy(
    update={
        "quality": SITE.quality.model_copy(
            update={
                "sampling": SITE.quality.sampling.model_copy(update={"random_share": 0.1}),
                "seats_started": {"G08": DAY - timedelta(days=2)},
            }
        )
    }
)


def call(lid: str, seat: str, minute: int, talk: float = 120.0, **kw) -> CallRecord:
    entered = START + timedelta(minutes=minute)
    return CallRecord(
        linkedid=lid, seat=seat, route="q-general", hotline="12345", entered_at=entered,
        answered_at=entered + timedelta(seconds=5), talk_seconds=talk,
        as_of=entered.timestamp() + 5, **kw,
    )  # fmt: skip


def seed(engine: Engine) -> None:
    """A day of G01 (30 calls, one long, one transferred, one rated 不满意), G08 (a new seat,
    2 calls), an unanswered call, and a call of the day before."""
    records = [call(f"g01.{i}", "G01", i) for i in range(30)]
    records[3] = call("g01.3", "G01", 3, talk=20 * 60)
    records += [call("g08.0", "G08", 40), call("g08.1", "G08", 41)]
    records += [CallRecord(linkedid="lost", entered_at=START, as_of=START.timestamp())]
    records += [call("before", "G01", -10)]
    with engine.begin() as conn:
        upsert_calls(conn, records)
        conn.execute(insert(CallLeg.__table__), [
            {"id": f"g01.5/{n}", "linkedid": "g01.5", "seq": n, "kind": "queue",
             "target": t, "as_of": 1.0} for n, t in enumerate(["q-general", "q-hrss"])
        ])  # fmt: skip
        conn.execute(insert(Rating.__table__), [
            {"linkedid": "g01.7", "seat": "G01", "legs": [], "key": "4", "level": 4,
             "outcome": "rated", "at": START, "source": "live", "as_of": 1.0},
            {"linkedid": "g01.8", "seat": "G01", "legs": [], "key": "2", "level": 2,
             "outcome": "rated", "at": START, "source": "live", "as_of": 1.0},
        ])  # fmt: skip


def service(engine: Engine, clock: float = 1_772_500_000.0) -> QualityService:
    ratings = RatingService(engine, lambda rec: None, lambda: SITE_SAMPLING)
    return QualityService(
        engine,
        lambda: SITE_SAMPLING,
        unsatisfied=ratings.unsatisfied_calls,
        rating_of=ratings.rating_of,
        clock=lambda: clock,
    )


def test_the_day_is_drawn_from_the_store_and_drawing_again_changes_nothing(engine) -> None:
    seed(engine)
    qa = service(engine)
    samples = qa.draw(DAY)
    reasons = {s.linkedid: s.reasons for s in samples}
    assert reasons["g01.3"][-1] == "long"
    assert "transferred" in reasons["g01.5"] and "unsatisfied" in reasons["g01.7"]
    assert all("new_seat" in reasons[f"g08.{i}"] for i in range(2))
    randoms = [lid for lid, r in reasons.items() if "random" in r]
    assert sum(lid.startswith("g01.") for lid in randoms) == 3  # 10 % of 30
    assert sum(lid.startswith("g08.") for lid in randoms) == 1  # 10 % of 2, rounded up
    assert "lost" not in reasons and "before" not in reasons and "g01.8" not in reasons
    assert {s.reviewer for s in samples} <= {"QA01", "QA02"} and all(s.reviewer for s in samples)
    assert {s.day for s in samples} == {DAY}
    assert service(engine, clock=1_772_600_000.0).draw(DAY) == samples


def test_a_reason_found_later_is_added_and_the_reviewer_stays(engine) -> None:
    seed(engine)
    qa = service(engine)
    first = {s.linkedid: s for s in qa.draw(DAY)}
    with engine.begin() as conn:  # g01.3 (long) is rated 非常不满意 after the draw
        conn.execute(insert(Rating.__table__), [
            {"linkedid": "g01.3", "seat": "G01", "legs": [], "key": "5", "level": 5,
             "outcome": "rated", "at": START, "source": "reconciled", "as_of": 1.0}
        ])  # fmt: skip
    again = {s.linkedid: s for s in qa.draw(DAY)}
    assert set(again) == set(first)
    assert "unsatisfied" in again["g01.3"].reasons and "long" in again["g01.3"].reasons
    assert again["g01.3"].reviewer == first["g01.3"].reviewer


def test_score_correct_history_audit_and_what_a_seat_sees(engine) -> None:
    seed(engine)
    qa = service(engine)
    samples = qa.draw(DAY)
    mine = samples[0]
    queue = qa.queue(mine.reviewer)
    assert mine in queue and all(s.reviewer == mine.reviewer for s in queue)

    v1 = qa.submit(mine.reviewer, mine.linkedid, Marks({**FULL, "answer": 12}, comment="口径错"))
    assert (v1.version, v1.total) == (1, 82)
    assert mine not in qa.queue(mine.reviewer)
    assert mine in qa.queue(mine.reviewer, include_scored=True)
    with pytest.raises(QualityError) as exc:
        qa.submit("QA02", mine.linkedid, Marks(FULL))
    assert exc.value.code == "already_scored"

    v2 = qa.correct(
        "QA02", mine.linkedid, Marks(FULL, fails=("disclosure",)), "复听：泄露来电人号码"
    )
    history = qa.history(mine.linkedid)
    assert history == [v1, v2]
    assert (history[0].total, history[1].total, history[1].raw_total) == (82, 0, 100)
    assert history[1].reason == "复听：泄露来电人号码" and history[1].failed

    seat_view = qa.seat_scores(mine.seat, DAY, DAY + timedelta(days=1))
    assert seat_view == [v2]
    (summary,) = qa.summary(DAY, DAY + timedelta(days=1), "month", seat=mine.seat)
    assert (summary.count, summary.average, summary.fails) == (1, 0.0, 1)

    with engine.connect() as conn:
        audit = conn.execute(select(audit_t).order_by(audit_t.c.action)).mappings().all()
    assert [(a["action"], a["actor"], a["role"], a["target"]) for a in audit] == [
        ("qa_correct", "QA02", "qa", mine.linkedid),
        ("qa_score", mine.reviewer, "qa", mine.linkedid),
    ]
    detail = json.loads(audit[0]["detail"])
    assert detail["version"] == 2 and detail["total"] == 0 and detail["reason"]


def test_refused_operations_write_nothing(engine) -> None:
    seed(engine)
    qa = service(engine)
    lid = qa.draw(DAY)[0].linkedid
    refusals = [
        (lambda: qa.submit("G01", lid, Marks(FULL)), "not_a_reviewer"),
        (lambda: qa.submit("QA01", "nope", Marks(FULL)), "unknown_sample"),
        (lambda: qa.submit("QA01", lid, Marks({**FULL, "answer": 99})), "bad_marks"),
        (lambda: qa.correct("QA01", lid, Marks(FULL), "why"), "not_scored"),
        (lambda: qa.summary(DAY, DAY, "year"), "bad_period"),
    ]
    for attempt, code in refusals:
        with pytest.raises(QualityError) as exc:
            attempt()
        assert exc.value.code == code
    qa.submit("QA01", lid, Marks(FULL))
    with pytest.raises(QualityError) as exc:
        qa.correct("QA01", lid, Marks(FULL), "")
    assert exc.value.code == "no_reason"
    with engine.connect() as conn:
        assert conn.execute(select(scores_t.c.version)).scalars().all() == [1]
        assert len(conn.execute(select(audit_t.c.id)).all()) == 1


def test_the_database_refuses_to_edit_or_delete_a_score(engine) -> None:
    seed(engine)
    qa = service(engine)
    lid = qa.draw(DAY)[0].linkedid
    qa.submit("QA01", lid, Marks(FULL))
    for sql in ("UPDATE qa_scores SET total = 0", "DELETE FROM qa_scores"):
        with pytest.raises(DBAPIError, match="never"), engine.begin() as conn:
            conn.execute(text(sql))
    assert qa.history(lid)[0].total == 100


def test_two_corrections_racing_for_one_version_keep_the_first(engine) -> None:
    seed(engine)
    qa = service(engine)
    lid = qa.draw(DAY)[0].linkedid
    v1 = qa.submit("QA01", lid, Marks(FULL))
    v2 = qa.correct("QA01", lid, Marks({**FULL, "closing": 0}), "结束语缺失")
    with engine.begin() as conn, pytest.raises(DBAPIError):  # the other writer's same version
        conn.execute(insert(scores_t), [{**v2.row(), "reviewer": "QA02"}])
    assert qa.history(lid) == [v1, v2]


def test_the_migration_goes_up_and_down(url: str) -> None:
    upgrade(url)
    eng = make_engine(url)
    try:
        assert {"ratings", "qa_samples", "qa_scores"} <= set(inspect(eng).get_table_names())
        cfg = alembic_config()
        with eng.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003_audit")
        names = set(inspect(eng).get_table_names())
        assert not names & {"ratings", "qa_samples", "qa_scores"} and "audit" in names
        if eng.dialect.name == "postgresql":
            with eng.connect() as conn:
                gone = (
                    "SELECT count(*) FROM pg_proc WHERE proname = 'qa_scores_refuse'"
                    " AND pronamespace = current_schema()::regnamespace"
                )
                assert conn.execute(text(gone)).scalar_one() == 0
        upgrade(eng)  # and up again, triggers included
        seed(eng)
        qa = service(eng)
        lid = qa.draw(DAY)[0].linkedid
        qa.submit("QA01", lid, Marks(FULL))
        with pytest.raises(DBAPIError), eng.begin() as conn:
            conn.execute(text("UPDATE qa_scores SET total = 1"))
    finally:
        eng.dispose()

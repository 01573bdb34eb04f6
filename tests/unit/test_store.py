"""The request store's database side, on a real SQLite file and on the real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, inspect, text
from sqlalchemy.exc import IntegrityError

import callcore.wiring.schema  # noqa: F401  (every feature's tables: the migrations make them)
from callcore.records import CallRecord, Outcome, from_epoch
from callcore.store.db import (
    _sqlite_upsert,
    alembic_config,
    get_call,
    make_engine,
    newest_per_call,
    query_calls,
    upgrade,
    upsert_calls,
    upsert_rows,
)
from callcore.store.models import RECORD_COLUMNS, Base, Call
from callcore.store.rows import RejectedRecord, clean_record, clean_row

T0 = 1_760_000_000.0


def rec(linkedid: str = "1760000000.1", as_of: float = T0, **kw) -> CallRecord:
    kw.setdefault("entered_at", from_epoch(T0))
    return CallRecord(linkedid=linkedid, as_of=as_of, **kw)


def write(engine: Engine, *records: CallRecord) -> int:
    with engine.begin() as conn:
        return upsert_calls(conn, list(records))


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM calls")).scalar_one()


def bookkeeping(engine: Engine, linkedid: str) -> tuple:
    with engine.connect() as conn:
        t = Call.__table__
        row = conn.execute(
            t.select()
            .with_only_columns(t.c.created_at, t.c.updated_at)
            .where(t.c.linkedid == linkedid)
        ).one()
        return tuple(row)


# -- migrations ------------------------------------------------------------------------------


def test_migration_up_from_empty(url: str) -> None:
    upgrade(url)
    eng = make_engine(url)
    try:
        insp = inspect(eng)
        assert "calls" in insp.get_table_names()
        cols = {c["name"] for c in insp.get_columns("calls")}
        assert cols == {c.name for c in Call.__table__.columns}
        assert insp.get_pk_constraint("calls")["constrained_columns"] == ["linkedid"]
        indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("calls")}
        assert indexes == {
            "ix_calls_entered_at": ["entered_at"],
            "ix_calls_caller_number": ["caller_number"],
            "ix_calls_seat": ["seat"],
            "ix_calls_outcome": ["outcome"],
            "ix_calls_entered_updated": ["entered_at", "updated_at"],
        }
        assert [c["name"] for c in insp.get_check_constraints("calls")] == ["ck_calls_outcome"]
        heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        with eng.connect() as conn:
            assert set(MigrationContext.configure(conn).get_current_heads()) == heads
        upgrade(url)  # already there: a no-op
        with eng.connect() as conn:
            assert set(MigrationContext.configure(conn).get_current_heads()) == heads
    finally:
        eng.dispose()


def _modelled(name: str | None, type_: str, parent_names: dict) -> bool:
    """Leave out what migrations create beside the models (full-text search indexes)."""
    return name not in Base.metadata.info.get("unmodelled", ())


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_name": _modelled}
        ctx = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(ctx, Base.metadata) == []


def test_downgrade_and_upgrade_again(url: str, engine: Engine) -> None:
    write(engine, rec())
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "calls" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert count(engine) == 0


# -- the upsert ------------------------------------------------------------------------------


def test_same_record_twice_is_one_row_with_the_same_values(engine: Engine) -> None:
    r = rec(caller_number="13800138000", caller_name="张三", flags=["vip"])
    write(engine, r)
    first = get_call(engine, r.linkedid)
    stamps = bookkeeping(engine, r.linkedid)
    write(engine, r)
    write(engine, r, r)
    assert count(engine) == 1
    assert get_call(engine, r.linkedid) == first == clean_record(r)
    assert bookkeeping(engine, r.linkedid) == stamps  # a replay leaves the row untouched


def test_an_older_snapshot_never_overwrites_a_newer_one(engine: Engine) -> None:
    newer = rec(as_of=T0 + 30, seat="s001", outcome=Outcome.ANSWERED)
    older = rec(as_of=T0 + 10, seat="")
    write(engine, newer)
    write(engine, older)
    assert get_call(engine, newer.linkedid) == clean_record(newer)
    write(engine, older, newer, older)  # in one batch too
    assert get_call(engine, newer.linkedid) == clean_record(newer)
    assert count(engine) == 1


def test_a_newer_snapshot_replaces_and_an_equal_one_rewrites(engine: Engine) -> None:
    write(engine, rec(as_of=T0, reason="first"))
    created, updated = bookkeeping(engine, "1760000000.1")
    write(engine, rec(as_of=T0 + 1, reason="second"))
    assert get_call(engine, "1760000000.1").reason == "second"
    created2, updated2 = bookkeeping(engine, "1760000000.1")
    assert created2 == created and updated2 >= updated
    write(engine, rec(as_of=T0 + 1, reason="third"))  # same as_of: the later write wins
    assert get_call(engine, "1760000000.1").reason == "third"


def test_an_ended_record_closes_an_open_row_whatever_their_as_of(engine: Engine) -> None:
    """A reconciled end is stamped from queue_log's milliseconds, the last open snapshot of
    a dead engine from AMI's microseconds: the end closes the row all the same, and no open
    record, replayed or late, older or newer, reopens it."""
    answered = from_epoch(T0 - 2)
    open_row = rec(as_of=T0 + 0.297083, seat="s001", answered_at=answered)
    final = rec(as_of=T0 + 0.296, seat="s001", answered_at=answered,
                ended_at=from_epoch(T0 + 0.296), outcome=Outcome.ANSWERED,
                flags=["asterisk_lost", "reconciled"])
    write(engine, open_row)
    stamps = bookkeeping(engine, final.linkedid)
    write(engine, final)
    assert get_call(engine, final.linkedid) == clean_record(final)
    assert bookkeeping(engine, final.linkedid)[1] >= stamps[1]
    stamps = bookkeeping(engine, final.linkedid)
    write(engine, open_row)
    write(engine, rec(as_of=T0 + 60, seat="late"))
    write(engine, open_row, final, rec(as_of=T0 + 61))  # in one batch too
    assert get_call(engine, final.linkedid) == clean_record(final)
    assert bookkeeping(engine, final.linkedid) == stamps  # none of that moved the row
    # between two ended records the newer as_of wins, as between two open ones
    live = rec(as_of=T0 + 0.5, seat="s001", answered_at=answered, ended_at=from_epoch(T0 + 0.4),
               outcome=Outcome.ANSWERED, reason="the live tracker's")
    write(engine, live)
    write(engine, final)
    assert get_call(engine, final.linkedid) == clean_record(live)
    # and in a batch a final record closes an open one of the same batch
    write(engine, rec("1760000000.2", as_of=T0 + 9), rec("1760000000.2", as_of=T0 + 1,
                                                         ended_at=from_epoch(T0 + 1)))
    assert get_call(engine, "1760000000.2").ended_at == from_epoch(T0 + 1)
    assert count(engine) == 2


def test_newest_per_call_is_what_applying_in_order_leaves() -> None:
    ended = from_epoch(T0)
    rows = [
        {"linkedid": "a", "as_of": 1.0, "ended_at": None, "v": 1},
        {"linkedid": "a", "as_of": 3.0, "ended_at": None, "v": 2},
        {"linkedid": "b", "as_of": 1.0, "ended_at": None, "v": 3},
        {"linkedid": "a", "as_of": 2.0, "ended_at": None, "v": 4},
        {"linkedid": "a", "as_of": 3.0, "ended_at": None, "v": 5},
        {"linkedid": "c", "as_of": 5.0, "ended_at": None, "v": 6},
        {"linkedid": "c", "as_of": 4.0, "ended_at": ended, "v": 7},  # closes, older or not
        {"linkedid": "c", "as_of": 9.0, "ended_at": None, "v": 8},  # never reopens
    ]
    assert sorted(r["v"] for r in newest_per_call(rows)) == [3, 5, 7]


HOSTILE = [
    "张三",
    "欧阳娜娜·热依扎",
    'O\'Brien "the" `quoted`',
    "'; DROP TABLE calls;--",
    '"); DELETE FROM calls; --',
    "\x01\x02\x07\x08\t\n\r\x0b\x0c\x1b[31mred\x1b[0m\x7f\x80\x9f",
    "名" * 3500,  # 10.5 kB of UTF-8
    "x" * 10_240,
    "📞🙂👨‍👩‍👧‍👦🇨🇳",
    'back\\slash \\\\ \\x00 \\u0000 {a,b} "c" NULL null',
    "%s %(name)s %% ::text $1 ?",
    '{"json": ["not", "parsed"]}',
    " leading and trailing spaces ",
    "",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_strings_round_trip_intact(engine: Engine, value: str) -> None:
    number = value[:128]
    r = rec(
        caller_number=number,
        caller_name=value,
        hotline_name=value,
        reason=value,
        transfer_target=value[:128],
        flags=[value, "fallback"],
    )
    write(engine, r)
    got = get_call(engine, r.linkedid)
    assert got is not None
    assert got.caller_name == value
    assert got.hotline_name == value and got.reason == value
    assert got.caller_number == number and got.transfer_target == value[:128]
    assert got.flags == [value, "fallback"]
    assert [c.linkedid for c in query_calls(engine, caller=number)] == [r.linkedid]
    assert count(engine) == 1


def test_nul_and_lone_surrogates_become_replacement_characters(engine: Engine) -> None:
    r = rec(caller_name="a\x00b\ud800c", flags=["\x00"], seat="s\x00")
    write(engine, r)
    got = get_call(engine, r.linkedid)
    assert got.caller_name == "a\ufffdb\ufffdc"
    assert got.flags == ["\ufffd"] and got.seat == "s\ufffd"


def test_overlong_identifiers_are_clipped_the_same_everywhere(engine: Engine) -> None:
    r = rec(caller_number="1" * 10_000, seat="s" * 100, hotline="9" * 50, route="q" * 500)
    write(engine, r)
    got = get_call(engine, r.linkedid)
    assert (len(got.caller_number), len(got.seat), len(got.hotline), len(got.route)) == (
        128,
        64,
        32,
        128,
    )
    assert got == clean_record(r)


@pytest.mark.parametrize(
    "bad",
    [
        {"linkedid": ""},
        {"linkedid": "1" * 65},
        {"outcome": "hung-up"},
        {"as_of": float("nan")},
        {"as_of": float("inf")},
        {"entered_at": "yesterday"},
        {"priority": "high"},
    ],
    ids=lambda d: next(iter(d)),
)
def test_unstorable_records_are_rejected_before_any_sql(engine: Engine, bad: dict) -> None:
    r = rec()
    for k, v in bad.items():
        setattr(r, k, v)
    with pytest.raises(RejectedRecord):
        write(engine, rec("1760000000.2"), r)
    assert count(engine) == 0


def test_the_outcome_check_constraint_holds(engine: Engine) -> None:
    row = clean_row(rec())
    row.update(outcome="bogus", created_at=datetime.now(UTC), updated_at=datetime.now(UTC))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(Call.__table__), [row])


def test_numbers_and_flags_are_normalized(engine: Engine) -> None:
    r = rec(priority=2**40, hangup_cause=-(2**40), wait_seconds=float("nan"), talk_seconds=1.25)
    r.fallback = 1  # type: ignore[assignment]
    write(engine, r)
    got = get_call(engine, r.linkedid)
    assert (got.priority, got.hangup_cause) == (2**31 - 1, -(2**31))
    assert got.wait_seconds is None and got.talk_seconds == 1.25 and got.fallback is True


def test_datetimes_come_back_aware_utc_and_exact(engine: Engine) -> None:
    beijing = timezone(timedelta(hours=8))
    entered = datetime(2025, 10, 1, 9, 30, 15, 123456, tzinfo=beijing)
    answered = datetime(2025, 10, 1, 1, 30, 20, 1)  # naive: taken as UTC
    r = rec(entered_at=entered, answered_at=answered, as_of=1759282220.000001)
    write(engine, r)
    got = get_call(engine, r.linkedid)
    assert got.entered_at == entered and got.entered_at.tzinfo is UTC
    assert got.answered_at == answered.replace(tzinfo=UTC)
    assert got.queued_at is None and got.ended_at is None
    assert got.as_of == 1759282220.000001


def test_query_filters_and_order(engine: Engine) -> None:
    base = datetime(2025, 10, 1, tzinfo=UTC)
    records = [
        rec("c3", T0, entered_at=base + timedelta(minutes=3), caller_number="139", seat="s2"),
        rec("c1", T0, entered_at=base + timedelta(minutes=1), caller_number="138", seat="s1"),
        rec(
            "c2",
            T0,
            entered_at=base + timedelta(minutes=2),
            caller_number="138",
            seat="s2",
            outcome=Outcome.ABANDONED,
        ),
        rec("c0", T0, entered_at=None, caller_number="138"),
    ]
    write(engine, *records)
    ids = lambda cs: [c.linkedid for c in cs]  # noqa: E731
    assert ids(query_calls(engine)) == ["c1", "c2", "c3", "c0"]  # no entered_at: last
    minute2 = base + timedelta(minutes=2)
    assert ids(query_calls(engine, since=minute2)) == ["c2", "c3"]  # since is inclusive
    assert ids(query_calls(engine, until=minute2)) == ["c1"]  # until is exclusive
    assert ids(query_calls(engine, since=minute2.replace(tzinfo=None))) == ["c2", "c3"]
    assert ids(query_calls(engine, caller="138")) == ["c1", "c2", "c0"]
    assert ids(query_calls(engine, seat="s2")) == ["c2", "c3"]
    assert ids(query_calls(engine, outcome=Outcome.ABANDONED)) == ["c2"]
    assert ids(query_calls(engine, outcome="abandoned", seat="s1")) == []
    assert ids(query_calls(engine, limit=2)) == ["c1", "c2"]
    assert get_call(engine, "nope") is None
    with engine.connect() as conn:  # a Connection works as well as an Engine
        assert ids(query_calls(conn, caller="139")) == ["c3"]


def test_sqlite_binding_matches_sqlalchemys_own(tmp_path) -> None:
    """upsert_rows binds SQLite parameters itself: the stored bytes must be SQLAlchemy's."""
    rows = [
        clean_row(
            rec(
                f"c{i}",
                T0 + i,
                caller_name=v,
                flags=[v],
                outcome=Outcome.ANSWERED,
                answered_at=datetime(2025, 1, 2, 3, 4, 5, 6 * i, tzinfo=UTC),
                wait_seconds=0.1 * i,
                hangup_cause=16,
                fallback=bool(i % 2),
            )
        )
        for i, v in enumerate(HOSTILE)
    ]
    now = datetime.now(UTC)
    dumps = []
    for name, via_sqlalchemy in (("ours", False), ("theirs", True)):
        url = f"sqlite:///{tmp_path}/{name}.db"
        upgrade(url)
        eng = make_engine(url)
        with eng.begin() as conn:
            if via_sqlalchemy:
                conn.execute(
                    _sqlite_upsert(), [r | {"created_at": now, "updated_at": now} for r in rows]
                )
            else:
                upsert_rows(conn, rows)
            cols = ", ".join(RECORD_COLUMNS)  # all but created_at/updated_at
            raw = conn.exec_driver_sql(f"SELECT {cols} FROM calls ORDER BY linkedid").all()
        dumps.append([tuple(r) for r in raw])
        eng.dispose()
    assert dumps[0] == dumps[1]


# -- the property ----------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=20)
_snapshot = st.fixed_dictionaries(
    {
        "caller_name": _text,
        "seat": _text,
        "reason": _text,
        "priority": st.integers(-5, 5),
        "outcome": st.sampled_from([None, *Outcome]),
        "flags": st.lists(_text, max_size=3),
        "wait_seconds": st.none() | st.floats(0, 1e6),
    }
)


@st.composite
def _interleavings(
    draw: st.DrawFn,
) -> tuple[dict[int, list[dict]], list[tuple[int, int]], list[int]]:
    """Calls with snapshots of distinct as_of, and any order with any repetition of them."""
    calls = {
        c: draw(st.lists(_snapshot, min_size=1, max_size=5)) for c in range(draw(st.integers(1, 3)))
    }
    everything = [(c, i) for c, snaps in calls.items() for i in range(len(snaps))]
    extra = draw(st.lists(st.sampled_from(everything), max_size=10))
    order = draw(st.permutations(everything + extra))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=4)))
    return calls, order, cuts


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=_interleavings())
def test_any_interleaving_ends_with_the_newest_snapshot(engine: Engine, case) -> None:
    calls, order, cuts = case
    run = uuid.uuid4().hex[:8]

    def snapshot(c: int, i: int) -> CallRecord:
        return rec(f"{run}.{c}", as_of=T0 + i, **calls[c][i])  # later index: newer

    batches, start = [], 0
    for cut in [*cuts, len(order)]:
        batches.append(order[start:cut])
        start = cut
    for batch in batches:
        write(engine, *(snapshot(c, i) for c, i in batch))
    for c, snaps in calls.items():
        assert get_call(engine, f"{run}.{c}") == clean_record(snapshot(c, len(snaps) - 1))

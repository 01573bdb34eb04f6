"""Today's ratings in the live state and the monitor: read from the store, written to Redis,
read back in the snapshot with an alert for each unsatisfied rating, and shown in words."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import Engine

from callcore.features.live.keys import Keys
from callcore.features.live.ratings import RatingsFeed, ratings_view
from callcore.features.live.snapshot import build, read_snapshot
from callcore.features.live.state import make_client
from callcore.features.ratings.model import RatingRecord
from callcore.features.ratings.service import RatingService
from callcore.features.ratings.tests.test_ratings_api import store_calls
from callcore.monitor import view
from tests.unit.supervisors_helpers import CFG, REDIS_URL, namespace, redis_or_skip

pytestmark = pytest.mark.timeout(60)


def service(engine: Engine) -> RatingService:
    return RatingService(engine, lambda rec: None, lambda: CFG)


def test_todays_view_per_zone_seat_number_with_the_unsatisfied(engine: Engine):
    store_calls(engine)
    v = ratings_view(service(engine), CFG, time.time())
    assert (v.total.answered, v.total.rated, v.total.unsatisfied) == (3, 2, 1)
    assert v.total.satisfaction == 0.5
    assert {g.key: g.rated for g in v.seats} == {"G01": 2, "G02": 0}
    assert {g.key for g in v.zones} == {"general", "hrss"}
    assert [(u.linkedid, u.label) for u in v.unsatisfied] == [("L1", "不满意")]


def snapshot_with(engine: Engine, now: float):
    raw = orjson.dumps(ratings_view(service(engine), CFG, now).model_dump())
    return build(CFG, now, 0.1, {}, {}, {}, {"m15": {}, "m60": {}}, raw)


def test_the_snapshot_highlights_each_recent_unsatisfied_rating(engine: Engine):
    store_calls(engine)  # rated five minutes after an answer of today
    snap = snapshot_with(engine, time.time())
    assert snap.ratings is not None and snap.ratings.total.rated == 2
    (h,) = [h for h in snap.highlights if h.kind == "unsatisfied_rating"]
    assert (h.target, h.label, h.value) == ("L1", "G01", 4)
    later = snapshot_with(engine, time.time() + 3600)  # an hour on: no longer highlighted
    assert not [h for h in later.highlights if h.kind == "unsatisfied_rating"]
    assert "不满意评价: G01 不满意" in view.highlights(snap, "zh")
    line = view.ratings_line(snap, "zh")
    assert "已评价 2/3" in line and "参评率 66.7%" in line and "满意率 50.0%" in line
    assert "satisfaction 50.0%" in view.ratings_line(snap, "en")
    table = view.ratings(snap, "zh")
    rows = dict(table.rows)
    assert rows["seat:G01"] == ["座席 G01", "2", "2", "100.0%", "50.0%", "1"]
    assert table.alert_rows == {"seat:G01"}


def test_an_unreadable_value_is_no_view():
    snap = build(CFG, time.time(), 0.1, {}, {}, {}, {"m15": {}, "m60": {}}, b"{not json")
    assert snap.ratings is None and view.ratings_line(snap, "zh") == ""


def record(level: int | None) -> RatingRecord:
    return RatingRecord(
        linkedid="L7", seat="G01", legs=[], hotline="12345", zone="general", request_id="",
        key=str(level or ""), level=level, outcome="rated" if level else "no_key",
        at=datetime.now(UTC), source="live", as_of=0.0,
    )  # fmt: skip


async def test_each_unsatisfied_rating_raises_an_alert_and_the_view_reaches_redis(engine):
    redis_or_skip()
    store_calls(engine)
    events: list[dict] = []
    with namespace() as ns:
        client = make_client(REDIS_URL)
        try:
            keys = Keys(ns)
            feed = RatingsFeed(service(engine), lambda: CFG, client, keys, events.append)
            feed.on_rating(record(2))
            feed.on_rating(record(5))
            assert [e["data"]["level"] for e in events] == [5]  # 满意 raises nothing
            assert events[0]["type"] == "rating.unsatisfied"
            assert events[0]["data"]["label"] == "非常不满意"
            written = await feed.refresh()
            assert written is not None
            snap = await read_snapshot(client, keys, CFG)
            # no engine heartbeat in this namespace: the snapshot is unavailable, but the
            # value is there for the next one
            raw = await client.get(keys.ratings(written.day))
            assert orjson.loads(raw)["total"]["rated"] == 2 and snap is not None
        finally:
            await client.aclose()

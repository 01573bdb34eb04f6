"""The pure parts of recordings: Range headers, the spool file's name, where a recording
goes in the store, and when it expires."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from callcore.features.recordings.model import (
    BYTES_PER_SECOND,
    RangeError,
    SpoolName,
    duration_of,
    parse_range,
    retention_cutoff,
    stored_path,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-100", (900, 999)),
        ("bytes=-5000", (0, 999)),  # a suffix longer than the file: all of it
        ("bytes=990-5000", (990, 999)),  # past the end: up to the end
        ("Bytes = 5-5", (5, 5)),
    ],
)
def test_ranges_that_are_served(header: str | None, expected: tuple[int, int] | None):
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1000-",  # starts past the end
        "bytes=50-10",  # backwards
        "bytes=0-1,5-9",  # several ranges
        "items=0-1",  # another unit
        "bytes=abc",
        "bytes=-",
        "bytes=1-x",
        "bytes=-0",
        "bytes",
    ],
)
def test_ranges_that_are_refused(header: str):
    with pytest.raises(RangeError):
        parse_range(header, 1000)


def test_an_empty_file_has_no_range():
    with pytest.raises(RangeError):
        parse_range("bytes=0-", 0)
    assert parse_range(None, 0) is None


def test_the_spool_name_carries_the_call():
    n = SpoolName.parse("1764748800.12+seat+8001+1764748805.15+1764748806")
    assert (n.linkedid, n.leg, n.endpoint, n.uniqueid) == (
        "1764748800.12",
        "seat",
        "8001",
        "1764748805.15",
    )
    assert n.started_at == datetime(2025, 12, 3, 8, 0, 6, tzinfo=UTC)
    assert n.id == "1764748805.15"
    # a leg kind the dialplan does not know is a seat's; an empty endpoint is allowed
    assert SpoolName.parse("1.1+odd++1.2+1").leg == "seat"
    for bad in ("x", "1+seat+8001+1", "1.1+seat+80 01+1.2+1", "../1+seat+8001+1.2+1"):
        with pytest.raises(ValueError):
            SpoolName.parse(bad)


def test_the_store_is_partitioned_by_the_local_day():
    n = SpoolName.parse("1764748800.12+trunk+tax12366+1764748805.15+1764748806")
    rel = stored_path(n, "opus", date(2025, 12, 3))
    assert rel == "2025/12/03/1764748800-12_trunk_1764748805-15.opus"
    assert stored_path(n, "flac", date(2025, 12, 4)).endswith(".flac")


def test_duration_from_the_raw_size():
    assert duration_of(BYTES_PER_SECOND * 150) == 150.0
    assert duration_of(BYTES_PER_SECOND // 2) == 0.5


def test_retention_cutoff():
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert retention_cutoff(now, 180) == now - timedelta(days=180)
    assert retention_cutoff(now, 0) is None  # kept for ever

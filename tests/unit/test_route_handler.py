"""The `route` request end to end over TCP: what lands on the caller's channel, for each case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

import config
from agi.server import FastAgiServer
from callcore.contract import ROUTE_FIELDS
from callcore.features.routing.agi import (
    make_route_handler,
    route_fields,
    valid_channel,
)
from callcore.features.routing.decision import decide
from config.directory import Directory
from tests.unit.test_agi_server import Exchange, agi_env, fake_asterisk

pytestmark = pytest.mark.timeout(20)

CHAN = "PJSIP/carrier-0000002a"
ORDER = [
    "CC_KIND",
    "CC_QUEUE",
    "CC_PRIO",
    "CC_HOTLINE",
    "CC_NOTICE",
    "CC_TRUNK",
    "CC_TRUNK_EXTEN",
    "CC_TRUNK_TIMEOUT",
    "CC_FLAGS",
    "CC_AFF_SEAT",
    "CC_AFF_DIAL",
    "CC_AFF_SECS",
]
GENERAL = {
    "CC_KIND": "queue",
    "CC_QUEUE": "q-general",
    "CC_PRIO": "0",
    "CC_HOTLINE": "",
    "CC_NOTICE": "",
    "CC_TRUNK": "",
    "CC_TRUNK_EXTEN": "",
    "CC_TRUNK_TIMEOUT": "0",
    "CC_FLAGS": "",
    "CC_AFF_SEAT": "",
    "CC_AFF_DIAL": "",
    "CC_AFF_SECS": "",
}


def expect(**values: str) -> list[tuple[str, str]]:
    merged = GENERAL | values
    return [(k, merged[k]) for k in ORDER]


MAIN = expect(
    CC_HOTLINE="12345",
)
CANCELLED_IN = expect(
    CC_HOTLINE="12349",
    CC_NOTICE="notice-12349",
    CC_FLAGS="cancelled",
)
CANCELLED_OUT = expect(
    CC_HOTLINE="12349",
    CC_FLAGS="cancelled+outside_transition",
)


@dataclass
class Site:
    directory: Directory
    enterprises: frozenset[str] = frozenset()
    now: datetime = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def directory() -> Directory:
    return Directory(config.load())


@pytest.fixture
def site(directory: Directory) -> Site:
    return Site(directory)


@pytest.fixture
async def server(site: Site) -> AsyncIterator[FastAgiServer]:
    handler = make_route_handler(
        lambda: site.directory, lambda: site.enterprises, clock=lambda: site.now
    )
    srv = FastAgiServer({"route": handler}, "127.0.0.1", 0, header_timeout=0.5, request_timeout=0.5)
    await srv.start()
    yield srv
    await srv.close(grace=1.0)


async def route_call(
    srv: FastAgiServer,
    dialed: str | bytes,
    channel: str | bytes = CHAN,
    caller: str | bytes = "13800000000",
    **env: str | bytes,
) -> Exchange:
    return await fake_asterisk(srv.bound_port, agi_env("route", (dialed, channel, caller), **env))


def shared_vars(ex: Exchange, channel: str = CHAN) -> list[tuple[str, str]]:
    """The decision's (CC_X, value) pairs, checking it is ONE SET VARIABLE on `channel`."""
    assert len(ex.words) == 1, ex.words
    words = ex.words[0]
    assert len(words) == 4 and words[:2] == ["SET", "VARIABLE"], words
    assert words[2] == f"SHARED(CC_ROUTE,{channel})", words[2]
    values = words[3].split("|")
    assert len(values) == len(ROUTE_FIELDS), values
    return list(zip((f.variable for f in ROUTE_FIELDS), values, strict=True))


# ------------------------------------------------------------------ decisions


@pytest.mark.parametrize(
    ("dialed", "expected"),
    [
        ("12345", MAIN),
        ("+8651512345", MAIN),
        ("0515 12345", MAIN),
        (
            "12333",
            expect(
                CC_QUEUE="q-hrss",
                CC_HOTLINE="12333",
            ),
        ),
        ("12349", CANCELLED_IN),
        (
            "883486661",
            expect(
                CC_HOTLINE="88348666-1",
                CC_NOTICE="notice-883486661",
                CC_FLAGS="cancelled",
            ),
        ),
        (
            "12366",
            expect(
                CC_KIND="trunk",
                CC_QUEUE="q-tax",
                CC_PRIO="10",
                CC_HOTLINE="12366",
                CC_TRUNK="tax12366",
                CC_TRUNK_EXTEN="12366",
                CC_TRUNK_TIMEOUT="20",
            ),
        ),
        (
            "99999",
            expect(
                CC_FLAGS="unknown_number"
            ),
        ),
        (
            "",
            expect(
                CC_FLAGS="unknown_number"
            ),
        ),
    ],
    ids=[
        "12345",
        "12345-e164",
        "12345-area",
        "kept",
        "cancelled",
        "extension",
        "12366",
        "unknown",
        "empty",
    ],
)
async def test_route_sets_the_decision_on_the_caller(server: FastAgiServer, dialed, expected):
    ex = await route_call(server, dialed)
    assert shared_vars(ex) == expected  # exactly these, in this order, in one command
    assert ex.closed_by_server
    assert server.stats.ok == 1


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2027, 6, 30, 15, 59, 59, tzinfo=UTC), CANCELLED_IN),  # 23:59:59 in Shanghai
        (datetime(2027, 6, 30, 16, 0, 0, tzinfo=UTC), CANCELLED_OUT),  # 1 July in Shanghai
        (datetime(2021, 11, 19, 16, 0, 0, tzinfo=UTC), CANCELLED_IN),  # 20 Nov, first day
        (datetime(2021, 11, 19, 15, 59, 0, tzinfo=UTC), CANCELLED_OUT),
    ],
    ids=["last-day", "day-after", "first-day", "day-before"],
)
async def test_transition_window_in_site_time_zone(
    server: FastAgiServer, site: Site, now, expected
):
    site.now = now
    assert shared_vars(await route_call(server, "12349")) == expected


async def test_enterprise_caller_and_reloads_apply_without_restart(
    server: FastAgiServer, site: Site, directory: Directory
):
    assert shared_vars(await route_call(server, "12345", caller="+13800000000")) == MAIN
    site.enterprises = frozenset({"13800000000"})
    assert shared_vars(await route_call(server, "12345", caller="+13800000000")) == expect(
        **(
            dict(MAIN)
            | {
                "CC_QUEUE": "q-enterprise",  # the enterprise zone, not the general seats
                "CC_PRIO": "5",
                "CC_FLAGS": "enterprise",
            }
        )
    )
    text = config.loader.default_path().read_text(encoding="utf-8")
    site.directory = Directory(config.parse(text.replace("end: 2027-06-30", "end: 2025-05-31")))
    assert shared_vars(await route_call(server, "12349", caller="139")) == CANCELLED_OUT


# ------------------------------------------------------------------ hostile inputs

HOSTILE = [
    '"; HANGUP',
    '"\\"; EXEC Dial PJSIP/evil',
    "x\\",
    "\t\"'`$(id)${CHANNEL}",
    "9" * 5000,
    "张" * 2000,
    b"\xff\xfe\x00\xc3",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_caller_number_and_name_change_nothing(server: FastAgiServer, value):
    ex = await route_call(server, "12345", caller=value, agi_calleridname=value, agi_callerid=value)
    assert shared_vars(ex) == MAIN


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_dialed_number_routes_as_unknown(server: FastAgiServer, value):
    ex = await route_call(server, value)
    got = dict(shared_vars(ex))
    assert got["CC_FLAGS"] == "unknown_number" and got["CC_QUEUE"] == "q-general"
    assert len(ex.commands) == 1


@pytest.mark.parametrize(
    "channel",
    [
        "",
        '"; HANGUP',
        "PJSIP/carrier-1,x",
        "PJSIP/carrier-1)",
        'PJSIP/carrier-1" "x',
        "PJSIP/carrier 1",
        "PJSIP/${EVIL}",
        "PJSIP/",
        "/carrier-1",
        "carrier-1",
        "PJSIP/x\\",
        "PJSIP/" + "a" * 5000,
        b"PJSIP/\xff\xfe",
        "PJSIP/载体-1",
    ],
)
async def test_invalid_caller_channel_gets_no_commands(server: FastAgiServer, channel):
    ex = await route_call(server, "12345", channel=channel)
    assert ex.commands == [] and ex.closed_by_server
    assert server.stats.bad_requests == 1


async def test_smuggled_line_cannot_redirect_the_decision(server: FastAgiServer):
    # An LF inside the caller number would let it repeat agi_arg_2 (another caller's
    # channel); a repeated key is refused before any command.
    ex = await route_call(server, "12345", caller=b"138\nagi_arg_2: PJSIP/victim-00000001")
    assert ex.commands == [] and server.stats.header_errors == 1


async def test_smuggled_blank_line_never_completes_a_decision(server: FastAgiServer):
    # Ending the environment early leaves a stray line where a reply is due: at most the
    # one decision made from the genuine arguments was written, then the request is dropped.
    ex = await route_call(server, "12345", caller=b"138\n\nSET VARIABLE X Y")
    assert len(ex.commands) <= 1
    if ex.commands:
        assert shared_vars(ex) == MAIN
    assert server.stats.errors == 1


# ------------------------------------------------------------------ pieces


def test_route_fields_order_matches_decision(directory: Directory):
    r = decide(directory, "12366", "", datetime(2025, 6, 1).date())
    names = [n for n, _ in route_fields(r)]
    assert names == ORDER


@pytest.mark.parametrize(
    "name",
    [
        "PJSIP/carrier-0000002a",
        "PJSIP/127.0.0.2-00000001",
        "SIP/carrier-000001ab",
        "IAX2/peer-1234",
        "DAHDI/i1/5551234-1",
        "Local/route@cc-route-00000001;1",
    ],
)
def test_valid_channel_names(name: str):
    assert valid_channel(name)

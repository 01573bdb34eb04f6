"""The FastAGI wire format: environment reading, replies, quoting, all against res_agi.c's rules."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agi.protocol import (
    AgiClosed,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    AgiRequest,
    AgiTimeoutError,
    clip,
    parse_args,
    parse_reply,
    quote,
    read_env,
    read_reply,
)

# What Asterisk 22's launch_netscript + setup_env send for the route request.
ASTERISK_ENV = (
    "agi_network: yes\n"
    "agi_network_script: route\n"
    "agi_request: agi://127.0.0.1:4573/route\n"
    "agi_channel: Local/route@cc-route-00000001;2\n"
    "agi_language: zh\n"
    "agi_type: Local\n"
    "agi_uniqueid: 1732590000.42\n"
    "agi_version: 22.10.1\n"
    "agi_callerid: 13800000000\n"
    "agi_calleridname: 张三\n"
    "agi_callingpres: 0\n"
    "agi_callingani2: 0\n"
    "agi_callington: 0\n"
    "agi_callingtns: 0\n"
    "agi_dnid: unknown\n"
    "agi_rdnis: unknown\n"
    "agi_context: cc-route\n"
    "agi_extension: route\n"
    "agi_priority: 1\n"
    "agi_enhanced: 0.0\n"
    "agi_accountcode: \n"
    "agi_threadid: 140234567890\n"
    "agi_arg_1: 12345\n"
    "agi_arg_2: PJSIP/carrier-0000002a\n"
    "agi_arg_3: 13800000000\n"
    "\n"
).encode()


def reader_of(data: bytes, *, eof: bool = True, limit: int = 2**16) -> asyncio.StreamReader:
    r = asyncio.StreamReader(limit=limit)
    r.feed_data(data)
    if eof:
        r.feed_eof()
    return r


# ------------------------------------------------------------------ environment


async def test_reads_asterisk_environment():
    env = await read_env(reader_of(ASTERISK_ENV + b"200 result=1\n"))
    req = AgiRequest.from_env(env)
    assert req.script == "route"
    assert req.args == ["12345", "PJSIP/carrier-0000002a", "13800000000"]
    assert env["agi_calleridname"] == "张三"
    assert env["agi_accountcode"] == ""
    assert req.arg(2) == "PJSIP/carrier-0000002a" and req.arg(4) == "" and req.arg(0) == ""


async def test_stops_at_blank_line_leaving_the_rest():
    r = reader_of(ASTERISK_ENV + b"200 result=1\n")
    await read_env(r)
    assert (await read_reply(r)).result == "1"


async def test_crlf_and_invalid_utf8_are_tolerated():
    data = (
        b"agi_network_script: route\r\nagi_calleridname: \xff\xfe\xe5\xbc\r\nagi_arg_1: x\r\n\r\n"
    )
    env = await read_env(reader_of(data))
    assert env["agi_calleridname"].startswith("\ufffd")
    assert env["agi_arg_1"] == "x"


async def test_args_stop_at_first_gap():
    env = {"agi_arg_1": "a", "agi_arg_2": "", "agi_arg_4": "d"}
    assert AgiRequest.from_env(env).args == ["a", ""]
    assert AgiRequest.from_env({}).script == ""


@pytest.mark.parametrize(
    "data",
    [b"", b"agi_network: yes\n", b"agi_network: yes\nagi_network_script: ro", b"agi_x: 1"],
)
async def test_eof_before_blank_line_raises_closed(data):
    with pytest.raises(AgiClosed):
        await read_env(reader_of(data))


async def test_silence_times_out():
    with pytest.raises(AgiTimeoutError):
        await read_env(reader_of(b"agi_network: yes\n", eof=False), deadline=0.05)


@pytest.mark.parametrize(
    ("data", "kwargs"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", {}),
        (b"\n", {}),  # blank line first: no environment at all
        (b"agi_network yes\n\n", {}),
        (b"AGI_NETWORK: yes\n\n", {}),
        (b"agi_a: 1\n" * 9 + b"\n", {"max_headers": 8}),
        (b"agi_a: " + b"x" * 100 + b"\n\n", {"max_line": 64}),
        (b"agi_arg_1: 1\nagi_arg_2: PJSIP/a-1\nagi_arg_2: PJSIP/victim-2\n\n", {}),
    ],
    ids=["http", "blank", "no-colon", "upper", "too-many", "too-long", "repeated-key"],
)
async def test_bad_environments_raise_protocol_error(data, kwargs):
    with pytest.raises(AgiProtocolError):
        await read_env(reader_of(data), **kwargs)


async def test_line_over_stream_limit_raises_protocol_error():
    with pytest.raises(AgiProtocolError):
        await read_env(reader_of(b"agi_a: " + b"x" * 500 + b"\n\n", limit=128))


_env_bytes = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"agi_arg_1: ", b"agi_x: y", b"\n", b"\r\n", b"\n\n", b":", b"\xff"]),
    ),
    max_size=30,
).map(b"".join)


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for all examples of a property test (a loop per example is slow)."""
    with asyncio.Runner() as r:
        yield r


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_env_bytes, limit=st.sampled_from([16, 64, 2**16]))
def test_env_reader_raises_only_its_own_errors(runner: asyncio.Runner, data: bytes, limit: int):
    async def run() -> None:
        try:
            env = await read_env(
                reader_of(data, limit=limit), deadline=1.0, max_line=48, max_headers=6
            )
        except AgiError:
            return
        assert env and all(k.startswith("agi_") for k in env)
        assert all("\n" not in v for v in env.values())

    runner.run(run())


# ------------------------------------------------------------------ replies


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "extra"),
    [
        ("200 result=1", 200, "1", None, ""),
        ("200 result=0", 200, "0", None, ""),
        ("200 result=-1", 200, "-1", None, ""),
        ("200 result=1 (testvariable)", 200, "1", "testvariable", ""),
        ("200 result=0 (timeout)", 200, "0", "timeout", ""),
        ("200 result=1 (a (b) c) endpos=1234", 200, "1", "a (b) c", "endpos=1234"),
        ("200 result=1 (税务)", 200, "1", "税务", ""),
        ("200 result=1 ()", 200, "1", "", ""),
        ("510 Invalid or unknown command", 510, "", None, ""),
        ("511 Command Not Permitted on a dead channel", 511, "", None, ""),
        ("520 Invalid command syntax.  Proper usage not available.", 520, "", None, ""),
    ],
)
def test_parse_reply(line, code, result, data, extra):
    r = parse_reply(line)
    assert (r.code, r.result, r.data, r.extra) == (code, result, data, extra)
    assert r.ok is (code == 200)


def test_reply_text_and_int():
    assert parse_reply("510 Invalid or unknown command").text == "Invalid or unknown command"
    assert parse_reply("200 result=-1").result_int == -1
    assert parse_reply("200 result=").result_int is None


@pytest.mark.parametrize("line", ["", "HELLO", "20 result=1", "200", "200 res=1", "200-result=1"])
def test_parse_reply_rejects_garbage(line):
    with pytest.raises(AgiProtocolError):
        parse_reply(line)


@given(st.text(max_size=80))
def test_parse_reply_raises_only_protocol_error(line: str):
    try:
        parse_reply(line)
    except AgiProtocolError:
        pass


async def test_read_reply_multi_line_usage():
    data = (
        b"520-Invalid command syntax.  Proper usage follows:\n"
        b" Usage: SET VARIABLE <variablename> <value>\n"
        b"\n"
        b"520 End of proper usage.\n"
        b"200 result=1\n"
    )
    r = reader_of(data)
    reply = await read_reply(r)
    assert reply.code == 520 and not reply.ok
    assert reply.usage == (" Usage: SET VARIABLE <variablename> <value>", "")
    assert (await read_reply(r)).ok


async def test_read_reply_hangup_and_eof():
    with pytest.raises(AgiHangup):
        await read_reply(reader_of(b"HANGUP\n200 result=1\n"))
    with pytest.raises(AgiClosed):
        await read_reply(reader_of(b"200 resu"))
    with pytest.raises(AgiProtocolError):
        await read_reply(reader_of(b"520-x\n" + b"more\n" * 10), max_lines=5)


# ------------------------------------------------------------------ quoting


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("", '""'),
        ("q-general", '"q-general"'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("end\\", '"end\\\\"'),
        ("a\r\nb\0c", '"abc"'),
        ("税务 12366", '"税务 12366"'),
    ],
)
def test_quote(value, quoted):
    assert quote(value) == quoted


@pytest.mark.parametrize(
    "hostile",
    [
        '"; HANGUP',
        '"\nHANGUP',
        'x" "y',
        "x\\",
        '\\"\nEXEC Dial PJSIP/evil\n',
        "a\tb  c",
        "\0\0",
        "x" * 5000,
    ],
)
def test_hostile_value_stays_one_argument(hostile):
    line = f"SET VARIABLE {quote('SHARED(CC_REASON,PJSIP/carrier-00000001)')} {quote(hostile)}"
    assert "\n" not in line and "\r" not in line and "\0" not in line
    words = parse_args(line)
    assert words == [
        "SET",
        "VARIABLE",
        "SHARED(CC_REASON,PJSIP/carrier-00000001)",
        hostile.replace("\r", "").replace("\n", "").replace("\0", ""),
    ]


@given(st.text())
def test_quote_never_emits_line_breaks(value: str):
    q = quote(value)
    assert "\r" not in q and "\n" not in q and "\0" not in q
    assert q.startswith('"') and q.endswith('"')


@given(st.text().map(lambda s: s.replace("\r", "").replace("\n", "").replace("\0", "")))
def test_quote_round_trips_through_asterisk_parse_args(value: str):
    assert parse_args(f"SET VARIABLE {quote('name')} {quote(value)}") == [
        "SET",
        "VARIABLE",
        "name",
        value,
    ]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("SET VARIABLE x y", ["SET", "VARIABLE", "x", "y"]),
        ('SET  VARIABLE "a b" ""', ["SET", "VARIABLE", "a b", ""]),
        ('VERBOSE "x\\"y" 1', ["VERBOSE", 'x"y', "1"]),
        ("a\\ b c", ["a b", "c"]),
        ('ab"c d"e', ["abc de"]),
        ("a\\qb", ["aqb"]),
    ],
)
def test_parse_args_matches_res_agi(line, words):
    assert parse_args(line) == words


def test_clip_never_cuts_a_character():
    assert clip("税务税务", 7) == "税务"  # 3 bytes each
    assert clip("abc", 3) == "abc"
    assert clip("", 0) == ""

"""AmiSession against a fake AMI server on a real loopback socket (no mocks of panoramisk).

The fake speaks the AMI text protocol: greeting, Login, Ping, scripted replies per action,
and raw bytes pushed to the client whenever a test wants (events, garbage, floods).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcore.ami import (
    AmiDisconnected,
    AmiError,
    AmiParser,
    AmiSession,
    AmiTimeout,
    header_values,
    parse_frame,
)

pytestmark = pytest.mark.timeout(20)

CAPTURE = Path(__file__).parent.parent / "data" / "ami-capture.raw"
SECRET = "s3cret-never-logged"


def frame(*lines: str) -> str:
    """One AMI frame from header lines such as "Event: Hangup"."""
    return "".join(line + "\r\n" for line in lines) + "\r\n"


def event(name: str, *lines: str) -> str:
    return frame(f"Event: {name}", "Privilege: call,all", *lines)


Reply = Callable[[str, dict[str, str]], str | None]


class FakeAmi:
    """A scriptable AMI server: `replies[action]` answers (ActionID, fields) with raw text."""

    def __init__(self, secret: str = SECRET):
        self.secret = secret
        self.replies: dict[str, Reply] = {}
        self.received: list[dict[str, str]] = []
        self.clients: list[asyncio.StreamWriter] = []
        self.silent: set[asyncio.StreamWriter] = set()
        self.login_attempts = 0
        self.port = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        self.drop()
        await self.server.wait_closed()

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.received if a.get("Action") == name]

    @property
    def client(self) -> asyncio.StreamWriter:
        return self.clients[-1]

    async def push(self, data: str | bytes, chunk: int | None = None, pause: float = 0) -> None:
        """Write raw bytes to the newest client, optionally in chunks with pauses between."""
        raw = data.encode() if isinstance(data, str) else data
        step = chunk or len(raw) or 1
        for i in range(0, len(raw), step):
            self.client.write(raw[i : i + step])
            await self.client.drain()
            if pause:
                await asyncio.sleep(pause)

    def drop(self) -> None:
        """Close every client connection, as an Asterisk restart would."""
        for writer in self.clients:
            writer.close()

    def go_silent(self) -> None:
        """The newest connection goes half-open: nothing answered, nothing sent, TCP kept."""
        self.silent.add(self.client)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(": ", 1) for line in raw.decode().strip().split("\r\n"))
                self.received.append(fields)
                if writer in self.silent:
                    continue
                reply = self._reply(fields)
                if reply:
                    writer.write(reply.encode())
                if fields["Action"] == "Login" and fields["Secret"] != self.secret:
                    await writer.drain()
                    break  # Asterisk hangs up after a failed login
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _reply(self, fields: dict[str, str]) -> str | None:
        action_id = fields.get("ActionID", "")
        name = fields["Action"]
        aid = f"ActionID: {action_id}"
        if name == "Login":
            self.login_attempts += 1
            if fields["Secret"] != self.secret:
                return frame("Response: Error", aid, "Message: Authentication failed")
            return frame("Response: Success", aid, "Message: Authentication accepted") + frame(
                "Event: FullyBooted", "Privilege: system,all", "Status: Fully Booted"
            )
        if name in self.replies:
            return self.replies[name](action_id, fields)
        if name == "Ping":
            return frame("Response: Success", aid, "Ping: Pong", "Timestamp: 1795663439.676264")
        return frame("Response: Success", aid, "Message: ok")


async def until(condition: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def next_event(session: AmiSession, name: str | None = None) -> dict:
    """The next event from the queue (skipping FullyBooted and others not named)."""
    async with asyncio.timeout(2):
        while True:
            ev = await session.events.get()
            if ev["Event"] == name or (name is None and ev["Event"] != "FullyBooted"):
                return ev


@pytest.fixture
async def ami():
    server = FakeAmi()
    await server.start()
    yield server
    await server.stop()


class Calls:
    """Async callbacks that count their calls."""

    def __init__(self) -> None:
        self.connected = 0
        self.disconnected = 0

    async def on_connected(self) -> None:
        self.connected += 1

    async def on_disconnected(self) -> None:
        self.disconnected += 1


@pytest.fixture
def calls() -> Calls:
    return Calls()


def make_session(port: int, calls: Calls | None = None, **kw) -> AmiSession:
    opts = dict(action_timeout=1.0, ping_interval=0.2, ping_timeout=0.2, reconnect_delay=0.05)
    if calls is not None:
        opts.update(on_connected=calls.on_connected, on_disconnected=calls.on_disconnected)
    opts.update(kw)
    return AmiSession("127.0.0.1", port, "cc", SECRET, **opts)


@pytest.fixture
async def session(ami: FakeAmi, calls: Calls):
    s = make_session(ami.port, calls)
    assert await s.start(wait=2)
    yield s
    await s.close()


# --- parser ------------------------------------------------------------------------------

NAME_FRAME = event(
    "Newchannel",
    "Channel: PJSIP/carrier-00000006",
    "CallerIDNum: 13912345678",
    "CallerIDName: 张三丰",
    "Uniqueid: 1795663239.12",
    "Linkedid: 1795663239.12",
).encode()


def test_capture_parses_whole():
    parser = AmiParser()
    msgs = parser.feed(CAPTURE.read_bytes())
    assert parser.greeting == "Asterisk Call Manager/11.0.0"
    assert msgs[0]["Response"] == "Success"
    assert [m["Event"] for m in msgs[1:3]] == ["FullyBooted", "Newchannel"]
    assert msgs[2]["CallerIDName"] == "张三丰"
    assert msgs[2]["AccountCode"] == ""
    assert len(msgs) == 31 and parser.stats.dropped_frames == 0


def test_utf8_split_at_every_byte_position():
    expected = AmiParser().feed(NAME_FRAME, now=0.0)
    assert expected[0]["CallerIDName"] == "张三丰"
    for cut in range(1, len(NAME_FRAME)):
        parser = AmiParser()
        got = parser.feed(NAME_FRAME[:cut], now=0.0) + parser.feed(NAME_FRAME[cut:], now=0.0)
        assert got == expected, cut


def test_repeated_headers_become_lists_and_odd_lines_are_tolerated():
    msg = parse_frame(
        "\r\nResponse: Success\r\nActionID: 7\r\nOutput: a: b\r\nOutput: \r\nVar:\r\njunk"
    )
    assert msg == {"Response": "Success", "ActionID": "7", "Output": ["a: b", ""], "Var": ""}
    assert header_values(msg, "Output") == ["a: b", ""]
    assert header_values(msg, "ActionID") == ["7"]
    assert header_values(msg, "Nope") == []


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Channel: a",
                "Channel:",
                "Channel",
                "_rx: x",
                ": v",
                "K: Channel: b",
                "Channel: b",
                "Uniqueid: 1.2",
                "",
                " Channel: c",
            ]
        ),
        max_size=8,
    )
)
def test_an_event_reads_the_same_lazily_and_whole(lines: list[str]):
    """Every key an event iterates answers on lookup, with its first value (fuzz find)."""
    (msg,) = AmiParser().feed(("Event: X\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode())
    assert msg["_rx"] == msg.get("_rx")
    for key in msg:
        first = header_values(msg, key)[0] if key != "_rx" else msg.rx
        assert msg[key] == first and key in msg, key
    assert "Channel" not in msg or msg["Channel"] in ("a", "b")


def test_invalid_utf8_is_replaced_not_fatal():
    msgs = AmiParser().feed(b"Event: X\r\nCallerIDName: \xe5\xbc\r\n\r\n")
    assert msgs[0]["CallerIDName"] == "\ufffd"


def test_unterminated_flood_sets_overflowed_after_the_complete_frames():
    parser = AmiParser(max_frame_bytes=1000)
    assert parser.feed(b"Event: X\r\n" * 50) == [] and not parser.overflowed
    msgs = parser.feed(b"\r\nEvent: Y\r\n\r\n" + b"Event: Z\r\n" * 120)
    assert [header_values(m, "Event") for m in msgs] == [["X"] * 50, ["Y"]]
    assert msgs[0]["Event"] == "X"  # an event answers with the first of a repeated header
    assert parser.overflowed


STREAM = (
    CAPTURE.read_bytes()
    + NAME_FRAME
    + event("VarSet", "ChanVariable: A=1", "ChanVariable: B=甲乙").encode()
    + b"garbage without headers\r\n\r\n"
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_chunking_yields_the_same_messages(cuts: list[int]):
    expected = AmiParser().feed(STREAM, now=0.0)
    parser = AmiParser()
    bounds = [0, *sorted(cuts), len(STREAM)]
    got = []
    for a, b in itertools.pairwise(bounds):
        got += parser.feed(STREAM[a:b], now=0.0)
    assert got == expected
    assert parser.stats.dropped_frames == 1
    assert header_values(expected[-1], "ChanVariable") == ["A=1", "B=甲乙"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_arbitrary_bytes_never_raise(chunks: list[bytes]):
    parser = AmiParser(max_frame_bytes=2000)
    for chunk in chunks:
        for msg in parser.feed(chunk):
            assert "Event" in msg or "Response" in msg


# --- session: reading --------------------------------------------------------------------


async def test_utf8_split_across_tcp_chunks(ami: FakeAmi, session: AmiSession):
    start = NAME_FRAME.index("张".encode())
    for cut in range(start, start + len("张三丰".encode()) + 1):
        await ami.push(NAME_FRAME[:cut])
        await asyncio.sleep(0.002)  # separate reads on the client side
        await ami.push(NAME_FRAME[cut:])
        ev = await next_event(session, "Newchannel")
        assert ev["CallerIDName"] == "张三丰", cut


async def test_events_delivered_in_order_with_rx_stamp(ami: FakeAmi, session: AmiSession):
    n = 2000
    stream = "".join(event("UserEvent", f"Seq: {i}", "Name: 李四") for i in range(n)).encode()
    rng = random.Random(7)
    pos = 0
    while pos < len(stream):
        step = rng.randint(1, 3000)
        await ami.push(stream[pos : pos + step])
        pos += step
    got = [await next_event(session, "UserEvent") for _ in range(n)]
    assert [int(e["Seq"]) for e in got] == list(range(n))
    assert all(a["_rx"] <= b["_rx"] for a, b in itertools.pairwise(got))
    assert session.stats.last_event_at == got[-1]["_rx"]
    assert session.stats.events >= n


async def test_garbage_frames_are_dropped_and_counted(ami: FakeAmi, session: AmiSession):
    await ami.push(b"hello world\r\n\r\nFoo: bar\r\n\r\n\xff\xfe\x00\r\n\r\n")
    await ami.push(event("Hangup", "Linkedid: 1.1"))
    ev = await next_event(session)
    assert ev["Event"] == "Hangup"
    assert session.stats.dropped_frames == 3
    assert (await session.action({"Action": "Ping"}))["Ping"] == "Pong"


async def test_unterminated_flood_aborts_and_reconnects(ami: FakeAmi, calls: Calls):
    s = make_session(ami.port, calls)  # default bound: 1 MiB
    assert await s.start(wait=2)
    try:
        await ami.push(b"X" * (1100 * 1024))
        await until(lambda: calls.connected == 2)
        assert s.stats.overflows == 1 and s.stats.reconnects == 1
        assert calls.disconnected == 1
        assert (await s.action({"Action": "Ping"}))["Response"] == "Success"
    finally:
        await s.close()


async def test_full_bounded_queue_counts_lost_events_and_keeps_reading(ami: FakeAmi):
    s = make_session(ami.port, events=asyncio.Queue(maxsize=2))
    assert await s.start(wait=2)  # FullyBooted takes one place
    try:
        await ami.push("".join(event("UserEvent", f"Seq: {i}") for i in range(5)))
        await until(lambda: s.stats.queue_full == 4)
        assert [s.events.get_nowait()["Event"] for _ in range(2)] == ["FullyBooted", "UserEvent"]
        assert (await s.action({"Action": "Ping"}))["Ping"] == "Pong"
    finally:
        await s.close()


# --- session: actions --------------------------------------------------------------------


def success(message: str, *extra: str) -> Reply:
    return lambda aid, _: frame(
        "Response: Success", f"ActionID: {aid}", f"Message: {message}", *extra
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"Action": "QueueAdd", "Queue": "q1", "Interface": "PJSIP/s1", "Paused": "true"},
            "Added interface to queue",
        ),
        (
            {"Action": "QueueRemove", "Queue": "q1", "Interface": "PJSIP/s1"},
            "Removed interface from queue",
        ),
        (
            {
                "Action": "QueuePause",
                "Queue": "q1",
                "Interface": "PJSIP/s1",
                "Paused": "true",
                "Reason": "午饭",
            },
            "Interface paused successfully",
        ),
        (
            {
                "Action": "Originate",
                "Channel": "PJSIP/s1",
                "Exten": "1",
                "Context": "c",
                "Priority": "1",
            },
            "Originate successfully queued",
        ),
        (
            {"Action": "Atxfer", "Channel": "PJSIP/s1-01", "Exten": "2", "Context": "c"},
            "Atxfer successfully queued",
        ),
        (
            {"Action": "PlayDTMF", "Channel": "PJSIP/s1-01", "Digit": "1"},
            "DTMF successfully queued",
        ),
        (
            {"Action": "Setvar", "Channel": "PJSIP/s1-01", "Variable": "CC_NAME", "Value": "王五"},
            "Variable Set",
        ),
        (
            {
                "Action": "Redirect",
                "Channel": "PJSIP/s1-01",
                "Exten": "1",
                "Context": "c",
                "Priority": "1",
            },
            "Redirect successful",
        ),
        ({"Action": "Reload", "Module": "app_queue.so"}, "Module Reloaded"),
    ],
)
async def test_single_reply_shapes(
    ami: FakeAmi, session: AmiSession, fields: dict[str, str], message: str
):
    """QueueAdd's reply and the "... successfully queued" ones hung or killed panoramisk."""
    ami.replies[fields["Action"]] = success(message)
    resp = await session.action(fields)
    assert resp["Response"] == "Success" and resp["Message"] == message
    sent = ami.actions(fields["Action"])[-1]
    assert {k: sent[k] for k in fields} == fields  # UTF-8 values arrive intact
    await session.action({"Action": "Ping"})
    assert session.connected and session.stats.logins == 1  # the connection survived
    assert not session._protocol.pending


async def test_async_originate_response_event_goes_to_the_queue(ami: FakeAmi, session: AmiSession):
    def originate(aid: str, _: dict[str, str]) -> str:
        return frame(
            "Response: Success", f"ActionID: {aid}", "Message: Originate successfully queued"
        ) + event(
            "OriginateResponse",
            f"ActionID: {aid}",
            "Response: Failure",
            "Channel: Local/1@x",
            "Reason: 0",
        )

    ami.replies["Originate"] = originate
    resp = await session.action(
        {"Action": "Originate", "Channel": "Local/1@x", "Application": "Wait", "Async": "true"}
    )
    ev = await next_event(session, "OriginateResponse")
    assert ev["ActionID"] == resp["ActionID"] and ev["Response"] == "Failure"


async def test_command_output_lines(ami: FakeAmi, session: AmiSession):
    ami.replies["Command"] = success("Command output follows", "Output: line one", "Output: 二")
    resp = await session.action({"Action": "Command", "Command": "core show uptime"})
    assert header_values(resp, "Output") == ["line one", "二"]


async def test_error_response_raises_with_message(ami: FakeAmi, session: AmiSession):
    ami.replies["Redirect"] = lambda aid, _: frame(
        "Response: Error", f"ActionID: {aid}", "Message: Channel does not exist: PJSIP/nope"
    )
    with pytest.raises(AmiError, match="Channel does not exist") as info:
        await session.action({"Action": "Redirect", "Channel": "PJSIP/nope", "Exten": "1"})
    assert info.value.response["Response"] == "Error"
    assert session.connected


async def test_action_timeout_and_late_reply(ami: FakeAmi, session: AmiSession):
    late: list[str] = []
    ami.replies["Status"] = lambda aid, _: late.append(aid)
    t0 = time.monotonic()
    with pytest.raises(AmiTimeout, match=r"Status got no reply within 0\.1 s"):
        await session.action({"Action": "Status"}, timeout=0.1)
    assert time.monotonic() - t0 < 0.5
    assert session.stats.action_timeouts == 1 and not session._protocol.pending
    await ami.push(frame("Response: Success", f"ActionID: {late[0]}", "Message: late"))
    await until(lambda: session.stats.unmatched_responses == 1)
    assert (await session.action({"Action": "Ping"}))["Ping"] == "Pong"


async def test_event_list_actions(ami: FakeAmi, session: AmiSession):
    def listing(message: str, *items: tuple[str, ...], complete: str) -> Reply:
        def reply(aid: str, _: dict[str, str]) -> str:
            out = frame(
                "Response: Success", f"ActionID: {aid}", "EventList: start", f"Message: {message}"
            )
            for name, *lines in items:
                out += event(name, *lines, f"ActionID: {aid}")
                out += event("Newexten", "Channel: PJSIP/x")  # unrelated, interleaved
            return out + frame(
                f"Event: {complete}",
                f"ActionID: {aid}",
                "EventList: Complete",
                f"ListItems: {len(items)}",
            )

        return reply

    ami.replies["QueueStatus"] = listing(
        "Queue status will follow",
        ("QueueParams", "Queue: q1", "Calls: 1"),
        ("QueueMember", "Queue: q1", "Name: 坐席1", "Location: PJSIP/s1", "Paused: 0"),
        ("QueueEntry", "Queue: q1", "CallerIDName: 张三丰"),
        complete="QueueStatusComplete",
    )
    ami.replies["CoreShowChannels"] = listing(
        "Channels will follow",
        ("CoreShowChannel", "Channel: PJSIP/carrier-01", "Linkedid: 9.1"),
        complete="CoreShowChannelsComplete",
    )
    ami.replies["QueueSummary"] = listing(
        "Queue summary will follow", complete="QueueSummaryComplete"
    )

    resp, items = await session.action_list(
        {"Action": "QueueStatus"}, complete_event="QueueStatusComplete"
    )
    assert resp["EventList"] == "start"
    assert [i["Event"] for i in items] == ["QueueParams", "QueueMember", "QueueEntry"]
    assert items[1]["Name"] == "坐席1" and items[2]["CallerIDName"] == "张三丰"
    _, items = await session.action_list(
        {"Action": "CoreShowChannels"}, complete_event="CoreShowChannelsComplete"
    )
    assert [i["Linkedid"] for i in items] == ["9.1"]
    _, items = await session.action_list(
        {"Action": "QueueSummary"}, complete_event="QueueSummaryComplete"
    )
    assert items == []
    assert [(await next_event(session))["Event"] for _ in range(4)] == ["Newexten"] * 4
    assert session.events.empty()


async def test_event_list_error_raises(ami: FakeAmi, session: AmiSession):
    ami.replies["QueueStatus"] = lambda aid, _: frame(
        "Response: Error", f"ActionID: {aid}", "Message: Permission denied"
    )
    with pytest.raises(AmiError, match="Permission denied"):
        await session.action_list({"Action": "QueueStatus"}, complete_event="QueueStatusComplete")


async def test_bad_fields_rejected(session: AmiSession):
    with pytest.raises(ValueError, match="CR/LF"):
        await session.action({"Action": "Setvar", "Variable": "X", "Value": "a\r\nAction: Logoff"})
    with pytest.raises(ValueError, match="Action"):
        await session.action({"Variable": "X"})


async def test_repeated_action_headers_are_sent(ami: FakeAmi, session: AmiSession):
    seen: list[str] = []
    ami.replies["Originate"] = lambda aid, f: (
        seen.append(f["Variable"])
        or frame("Response: Success", f"ActionID: {aid}", "Message: Originate successfully queued")
    )
    await session.action(
        {"Action": "Originate", "Channel": "Local/1@x", "Exten": "1", "Variable": ["A=1", "B=2"]}
    )
    assert seen == ["B=2"]  # the fake keeps the last; both were on the wire


# --- session: lifecycle ------------------------------------------------------------------


async def test_action_while_disconnected_fails_fast(ami: FakeAmi):
    s = make_session(ami.port)
    with pytest.raises(AmiDisconnected):
        await s.action({"Action": "Ping"})


async def test_reconnect_after_server_closes_without_resending(
    ami: FakeAmi, session: AmiSession, calls: Calls
):
    ami.replies["Status"] = lambda aid, _: None
    pending = asyncio.create_task(session.action({"Action": "Status"}, timeout=5))
    await until(lambda: ami.actions("Status"))
    t0 = time.monotonic()
    ami.drop()
    with pytest.raises(AmiDisconnected):
        await pending
    assert time.monotonic() - t0 < 0.5
    await until(lambda: calls.connected == 2 and session.connected)
    assert calls.disconnected == 1 and session.stats.reconnects == 1
    assert (await session.action({"Action": "Ping"}))["Ping"] == "Pong"
    await asyncio.sleep(0.1)
    assert len(ami.actions("Status")) == 1  # never re-sent after FullyBooted
    assert ami.actions("Login")[-1]["Events"] == "on"


async def test_watchdog_detects_half_open_connection(
    ami: FakeAmi, session: AmiSession, calls: Calls
):
    await until(lambda: len(ami.actions("Ping")) >= 1)  # pings are answered while healthy
    assert calls.connected == 1
    ami.go_silent()
    t0 = time.monotonic()
    await until(lambda: calls.connected == 2 and session.connected)
    assert time.monotonic() - t0 < 1.5  # ping_interval + ping_timeout + reconnect_delay = 0.45
    assert session.stats.ping_failures == 1 and calls.disconnected == 1
    assert (await session.action({"Action": "Ping"}))["Ping"] == "Pong"


async def test_start_before_asterisk_is_up(calls: Calls):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = make_session(port, calls)
    try:
        assert await s.start(wait=0.2) is False
        server = FakeAmi()
        await server.start(port)
        try:
            assert await s.start(wait=3) is True
            assert calls.connected == 1 and s.greeting == "Asterisk Call Manager/9.0.0"
        finally:
            await s.close()
            await server.stop()
    finally:
        await s.close()


async def test_bad_secret_is_logged_without_secret_and_retried(
    ami: FakeAmi, caplog: pytest.LogCaptureFixture
):
    ami.secret = "the-right-one"
    s = make_session(ami.port, reconnect_delay=0.02)
    caplog.set_level(logging.DEBUG)
    try:
        assert await s.start(wait=0.3) is False
        assert ami.login_attempts >= 2
        assert "rejected (Authentication failed)" in caplog.text
        assert SECRET not in caplog.text and SECRET not in repr(s)
        ami.secret = SECRET
        assert await s.start(wait=3) is True
    finally:
        await s.close()


async def test_close_stops_everything(ami: FakeAmi, calls: Calls):
    s = make_session(ami.port, calls)
    assert await s.start(wait=2)
    await s.close()
    assert not s.connected and calls.disconnected == 1
    with pytest.raises(AmiDisconnected):
        await s.action({"Action": "Ping"})
    await asyncio.sleep(0.2)
    assert ami.login_attempts == 1


async def test_failing_on_connected_is_logged_not_fatal(
    ami: FakeAmi, caplog: pytest.LogCaptureFixture
):
    async def broken() -> None:
        raise RuntimeError("resync bug")

    s = make_session(ami.port, on_connected=broken)
    try:
        assert await s.start(wait=2)
        await until(lambda: "resync bug" in caplog.text)
        assert (await s.action({"Action": "Ping"}))["Ping"] == "Pong"
    finally:
        await s.close()

"""The guarded FastAGI server over real TCP, with a scripted fake Asterisk and hostile peers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from agi.protocol import MAX_COMMAND_BYTES, AgiRequest, parse_args
from agi.server import AgiChannel, AgiHandler, BadRequest, FastAgiServer

pytestmark = pytest.mark.timeout(20)  # a frozen event loop must fail, not hang the run


# ------------------------------------------------------------------ the fake Asterisk


def agi_env(
    script: str = "route", args: tuple[str | bytes, ...] = (), **extra: str | bytes
) -> bytes:
    """The environment Asterisk sends, in its order, ending with the blank line."""

    def b(v: str | bytes) -> bytes:
        return v if isinstance(v, bytes) else v.encode()

    head: dict[str, str | bytes] = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1/{script}",
        "agi_channel": "Local/route@cc-route-00000001;2",
        "agi_language": "zh",
        "agi_type": "Local",
        "agi_uniqueid": "1732590000.42",
        "agi_version": "22.10.1",
        "agi_callerid": "13800000000",
        "agi_calleridname": "张三",
        "agi_context": "cc-route",
        "agi_extension": "route",
        "agi_priority": "1",
        "agi_threadid": "140234567890",
    }
    head.update(extra)
    lines = [k.encode() + b": " + b(v) for k, v in head.items()]
    lines += [b"agi_arg_%d: " % i + b(a) for i, a in enumerate(args, 1)]
    return b"\n".join(lines) + b"\n\n"


@dataclass
class Exchange:
    commands: list[str] = field(default_factory=list)  # command lines, without the newline
    closed_by_server: bool = False

    @property
    def words(self) -> list[list[str]]:
        """Each command as Asterisk's parse_args splits it."""
        return [parse_args(c) for c in self.commands]


Replier = Callable[[str], Awaitable[bytes | None]]


async def always_ok(_: str) -> bytes:
    return b"200 result=1\n"


async def fake_asterisk(
    port: int,
    env: bytes,
    reply: Replier = always_ok,
    *,
    within: float = 3.0,
) -> Exchange:
    """Send `env`, then answer each command line with `reply(line)` (None: vanish).

    Like res_agi, it reads one line, answers, then reads the next; a line over
    MAX_COMMAND_BYTES fails the test, since Asterisk would run its tail as a command.
    """
    ex = Exchange()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(env)
        async with asyncio.timeout(within):
            while True:
                raw = await reader.readline()
                if not raw:
                    ex.closed_by_server = True
                    return ex
                assert raw.endswith(b"\n") and len(raw) <= MAX_COMMAND_BYTES, raw[:80]
                line = raw[:-1].decode()
                ex.commands.append(line)
                answer = await reply(line)
                if answer is None:
                    return ex
                writer.write(answer)
    except (ConnectionResetError, BrokenPipeError):
        ex.closed_by_server = True
        return ex
    finally:
        writer.close()


async def hung_up(reader: asyncio.StreamReader, within: float = 2.0) -> bool:
    """True once the server has closed or reset the connection (anything it sent is dropped)."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
    except ConnectionError:
        pass
    return True


async def until(cond: Callable[[], bool], within: float = 3.0) -> None:
    """Poll a condition on server state (which has no event to wait on)."""
    async with asyncio.timeout(within):
        while not cond():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


# ------------------------------------------------------------------ handlers under test

seen: list[AgiRequest] = []


async def echo(req: AgiRequest, chan: AgiChannel) -> None:
    seen.append(req)
    await chan.set_variable("CC_A", req.arg(1))
    await chan.set_variable("CC_B", "2")


async def raises(req: AgiRequest, chan: AgiChannel) -> None:
    raise RuntimeError("handler bug")


async def sleeps(req: AgiRequest, chan: AgiChannel) -> None:
    await chan.set_variable("CC_A", "1")
    await asyncio.sleep(30)


async def refuses(req: AgiRequest, chan: AgiChannel) -> None:
    raise BadRequest("no")


async def talks(req: AgiRequest, chan: AgiChannel) -> None:
    await chan.verbose('caller said "hi"\nHANGUP')
    value = await chan.get_variable("CALLERID(name)")
    missing = await chan.get_variable("NOPE")
    await chan.set_variable("CC_SEEN", f"{value}|{missing}")


async def slow(req: AgiRequest, chan: AgiChannel) -> None:
    await asyncio.sleep(0.15)
    await chan.set_variable("CC_A", "late")


HANDLERS: dict[str, AgiHandler] = {
    "echo": echo,
    "raises": raises,
    "sleeps": sleeps,
    "refuses": refuses,
    "talks": talks,
    "slow": slow,
}


@pytest.fixture
async def server() -> AsyncIterator[FastAgiServer]:
    srv = FastAgiServer(
        HANDLERS, "127.0.0.1", 0, header_timeout=0.4, request_timeout=0.3, command_timeout=0.2
    )
    await srv.start()
    yield srv
    await srv.close(grace=1.0)


async def normal_request(srv: FastAgiServer) -> Exchange:
    return await fake_asterisk(srv.bound_port, agi_env("echo", ("x",)), within=5.0)


# ------------------------------------------------------------------ the happy path


async def test_request_runs_its_handler(server: FastAgiServer):
    seen.clear()
    ex = await fake_asterisk(server.bound_port, agi_env("echo", ("12345", "", "a b")))
    assert ex.words == [["SET", "VARIABLE", "CC_A", "12345"], ["SET", "VARIABLE", "CC_B", "2"]]
    assert ex.closed_by_server
    req = seen[-1]
    assert req.script == "echo" and req.args == ["12345", "", "a b"]
    assert req.env["agi_calleridname"] == "张三"
    st = server.stats
    assert (st.accepted, st.requests, st.ok, st.errors) == (1, 1, 1, 0)
    assert len(st.latencies) == 1
    p = st.percentiles()
    assert set(p) == {"p50", "p99"} and 0 < p["p50"] <= p["p99"]


async def test_verbose_and_get_variable(server: FastAgiServer):
    async def reply(line: str) -> bytes:
        if line.startswith("GET VARIABLE") and "NOPE" in line:
            return b"200 result=0\n"
        if line.startswith("GET VARIABLE"):
            return '200 result=1 (王 "五")\n'.encode()
        return b"200 result=1\n"

    ex = await fake_asterisk(server.bound_port, agi_env("talks"), reply)
    assert ex.words[0] == ["VERBOSE", 'caller said "hi"HANGUP', "1"]
    assert ex.words[-1] == ["SET", "VARIABLE", "CC_SEEN", '王 "五"|None']
    assert server.stats.ok == 1


async def test_many_concurrent_requests(server: FastAgiServer):
    results = await asyncio.gather(*(normal_request(server) for _ in range(50)))
    assert all(len(ex.commands) == 2 and ex.closed_by_server for ex in results)
    assert server.stats.ok == 50 and len(server.stats.latencies) == 50


# ------------------------------------------------------------------ refusals


async def test_unknown_script_closes_without_commands(server: FastAgiServer):
    for script in ("nope", "route?x=1", "", "ECHO"):
        ex = await fake_asterisk(server.bound_port, agi_env(script))
        assert ex.commands == [] and ex.closed_by_server
    assert server.stats.unknown_script == 4 and server.stats.ok == 0


async def test_bad_request_closes_without_commands(server: FastAgiServer):
    ex = await fake_asterisk(server.bound_port, agi_env("refuses"))
    assert ex.commands == [] and ex.closed_by_server
    assert server.stats.bad_requests == 1


async def test_max_connections_refuses_extra_peers():
    srv = FastAgiServer(HANDLERS, "127.0.0.1", 0, header_timeout=1.0, max_connections=2)
    await srv.start()
    try:
        silent = [await asyncio.open_connection("127.0.0.1", srv.bound_port) for _ in range(2)]
        await until(lambda: srv.active_connections == 2)
        ex = await fake_asterisk(srv.bound_port, agi_env("echo"), within=1.0)
        assert ex.commands == [] and ex.closed_by_server
        assert srv.stats.rejected == 1
        for _, w in silent:
            w.close()
        await until(lambda: srv.active_connections == 0)
        assert len((await normal_request(srv)).commands) == 2
    finally:
        await srv.close(grace=1.0)


# ------------------------------------------------------------------ hostile and broken peers


async def assert_idle(srv: FastAgiServer) -> None:
    """No connection task left, no task but the test's own, and the loop not busy."""
    await until(lambda: srv.active_connections == 0)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.sleep(0.1)
    assert time.process_time() - cpu < 0.5 * (time.perf_counter() - wall)


async def test_peer_closing_before_blank_line_does_not_spin(server: FastAgiServer):
    # panoramisk's header loop spins at 100 % CPU here and freezes the event loop
    _, w = await asyncio.open_connection("127.0.0.1", server.bound_port)
    w.write(b"agi_network: yes\nagi_network_script: echo\nagi_request: agi://127.0.0.1/echo\n")
    await w.drain()
    w.close()
    ex = await asyncio.wait_for(normal_request(server), timeout=1.0)
    assert len(ex.commands) == 2
    await assert_idle(server)
    assert server.stats.header_errors == 1 and server.stats.ok == 1


async def test_peer_closing_mid_line_and_at_once(server: FastAgiServer):
    for data in (b"agi_network: ye", b""):
        _, w = await asyncio.open_connection("127.0.0.1", server.bound_port)
        w.write(data)
        w.close()
    assert len((await normal_request(server)).commands) == 2
    await assert_idle(server)
    assert server.stats.header_errors == 2


async def test_silent_peer_is_cut_at_header_timeout(server: FastAgiServer):
    reader, w = await asyncio.open_connection("127.0.0.1", server.bound_port)
    assert len((await normal_request(server)).commands) == 2  # not blocked by the silent one
    assert await hung_up(reader)
    w.close()
    await assert_idle(server)
    assert server.stats.header_timeouts == 1


async def test_garbage_is_refused(server: FastAgiServer):
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00\xff" * 300 + b"\n", b"\n\n\n"):
        reader, w = await asyncio.open_connection("127.0.0.1", server.bound_port)
        w.write(junk)
        assert await hung_up(reader)
        w.close()
    assert server.stats.header_errors == 3
    assert len((await normal_request(server)).commands) == 2


async def test_overlong_line_is_refused(server: FastAgiServer):
    reader, w = await asyncio.open_connection("127.0.0.1", server.bound_port)
    w.write(b"agi_network: " + b"y" * 100_000)
    try:
        await w.drain()
    except ConnectionError:
        pass
    assert await hung_up(reader)
    w.close()
    assert server.stats.header_errors == 1


@pytest.mark.parametrize("pause", [0.0, 0.05], ids=["flood", "trickle"])
async def test_endless_headers_are_cut(server: FastAgiServer, pause: float):
    reader, w = await asyncio.open_connection("127.0.0.1", server.bound_port)

    async def flood() -> None:
        n = 0
        try:
            while True:
                n += 1
                w.write(b"agi_x%d: %s\n" % (n, b"v" * 50))
                await w.drain()
                await asyncio.sleep(pause)
        except ConnectionError:
            pass

    task = asyncio.create_task(flood())
    try:
        ex = await asyncio.wait_for(normal_request(server), timeout=1.0)
        assert len(ex.commands) == 2
        assert await hung_up(reader)
    finally:
        task.cancel()
        w.close()
        await asyncio.gather(task, return_exceptions=True)
    await assert_idle(server)
    st = server.stats
    assert st.header_errors + st.header_timeouts == 1


async def test_peer_vanishing_mid_command(server: FastAgiServer):
    async def vanish(_: str) -> None:
        return None  # read the first command, then close

    ex, normal = await asyncio.gather(
        fake_asterisk(server.bound_port, agi_env("echo", ("x",)), vanish), normal_request(server)
    )
    assert len(ex.commands) == 1 and len(normal.commands) == 2
    await until(lambda: server.stats.peer_gone == 1)
    await assert_idle(server)


async def test_hangup_stops_the_handler(server: FastAgiServer):
    async def hangup(_: str) -> bytes:
        return b"HANGUP\n"

    ex = await fake_asterisk(server.bound_port, agi_env("echo", ("x",)), hangup)
    assert len(ex.commands) == 1 and ex.closed_by_server
    assert server.stats.peer_gone == 1 and server.stats.ok == 0


async def test_asterisk_not_answering_a_command(server: FastAgiServer):
    async def mute(_: str) -> bytes:
        await asyncio.sleep(0.4)  # past command_timeout (0.2 s)
        return b"200 result=1\n"

    task = asyncio.create_task(fake_asterisk(server.bound_port, agi_env("echo", ("x",)), mute))
    assert len((await normal_request(server)).commands) == 2
    ex = await task
    assert len(ex.commands) == 1 and ex.closed_by_server
    assert server.stats.timeouts == 1


@pytest.mark.parametrize(
    ("answer", "counter"),
    [(b"510 Invalid or unknown command\n", "errors"), (b"agi_callingpres: 0\n", "errors")],
    ids=["refused", "not-a-reply"],
)
async def test_bad_replies_end_the_request(server: FastAgiServer, answer: bytes, counter: str):
    async def reply(_: str) -> bytes:
        return answer

    ex = await fake_asterisk(server.bound_port, agi_env("echo", ("x",)), reply)
    assert len(ex.commands) == 1 and ex.closed_by_server
    assert getattr(server.stats, counter) == 1


async def test_handler_that_raises(server: FastAgiServer):
    ex = await fake_asterisk(server.bound_port, agi_env("raises"))
    assert ex.commands == [] and ex.closed_by_server
    assert server.stats.errors == 1
    assert len((await normal_request(server)).commands) == 2


async def test_handler_sleeping_past_request_timeout(server: FastAgiServer):
    ex, normal = await asyncio.gather(
        fake_asterisk(server.bound_port, agi_env("sleeps")), normal_request(server)
    )
    assert len(ex.commands) == 1 and ex.closed_by_server
    assert len(normal.commands) == 2
    assert server.stats.timeouts == 1
    await assert_idle(server)


# ------------------------------------------------------------------ shutdown


async def test_close_lets_in_flight_requests_finish():
    srv = FastAgiServer(HANDLERS, "127.0.0.1", 0)
    await srv.start()
    port = srv.bound_port
    task = asyncio.create_task(fake_asterisk(port, agi_env("slow")))
    await until(lambda: srv.active_connections == 1)
    await srv.close()
    ex = await task
    assert ex.words == [["SET", "VARIABLE", "CC_A", "late"]]
    assert srv.stats.ok == 1
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_close_aborts_requests_past_its_bound():
    srv = FastAgiServer(HANDLERS, "127.0.0.1", 0, request_timeout=30.0)
    await srv.start()
    task = asyncio.create_task(fake_asterisk(srv.bound_port, agi_env("sleeps")))
    await until(lambda: srv.stats.requests == 1)
    await asyncio.wait_for(srv.close(grace=0.1), timeout=2.0)
    ex = await task
    assert ex.closed_by_server and srv.active_connections == 0

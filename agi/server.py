"""A small guarded FastAGI server on asyncio streams.

Asterisk waits on the routing request of every call (under the dialplan's own bound), so
the server's job is to answer fast and, above all, never to stall: each phase of a
connection has a deadline (headers, the whole request, each command), connections are
capped, and a handler that raises or hangs only loses its own request. Whatever goes
wrong, the connection is closed and the dialplan routes the call statically.
See docs/decisions/fastagi.md for why this replaces panoramisk's fast_agi.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agi.protocol import (
    MAX_COMMAND_BYTES,
    MAX_HEADERS,
    MAX_LINE,
    AgiClosed,
    AgiCommandError,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    AgiReply,
    AgiRequest,
    AgiTimeoutError,
    clip,
    quote,
    read_env,
    read_reply,
)

log = logging.getLogger("callcore.agi")

MAX_VALUE_BYTES = 900  # escaping at most doubles it: the SET VARIABLE line stays < 2047


class BadRequest(AgiError):
    """A handler refuses the request's arguments; the connection closes without commands."""


class AgiChannel:
    """The command side of one FastAGI connection: strictly one command, one reply.

    Commands are never pipelined: Asterisk reads them through a line-buffered FILE while
    polling the socket, so a second command already buffered would wait unseen.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        command_timeout: float | None = 1.0,
        max_line: int = MAX_LINE,
    ):
        self._reader = reader
        self._writer = writer
        self._timeout = command_timeout
        self._max_line = max_line
        self.commands = 0
        self.last_answer: float | None = None  # perf_counter() when the last reply arrived

    async def command(self, text: str) -> AgiReply:
        """Send one command line and wait (bounded) for its reply.

        Raises AgiProtocolError for a line Asterisk would split (CR/LF/NUL or over
        MAX_COMMAND_BYTES), AgiTimeoutError, AgiClosed, AgiHangup.
        """
        if any(c in text for c in "\r\n\0"):
            raise AgiProtocolError("a command line must not contain CR, LF or NUL")
        line = text.encode("utf-8", errors="replace") + b"\n"
        if len(line) > MAX_COMMAND_BYTES:
            raise AgiProtocolError(f"command of {len(line)} bytes; Asterisk would split it")
        try:
            async with asyncio.timeout(self._timeout):  # None: the request's bound only
                self._writer.write(line)
                await self._writer.drain()
                reply = await read_reply(self._reader, max_line=self._max_line)
        except TimeoutError:
            raise AgiTimeoutError(f"no reply within {self._timeout} s") from None
        except (ConnectionError, OSError) as exc:
            raise AgiClosed(f"connection lost: {exc}") from None
        self.commands += 1
        self.last_answer = time.perf_counter()
        return reply

    async def set_variable(self, name: str, value: str) -> None:
        """SET VARIABLE with both parts quoted; anything but `200 result=1` raises."""
        cmd = f"SET VARIABLE {quote(name)} {quote(clip(value, MAX_VALUE_BYTES))}"
        reply = await self.command(cmd)
        if not (reply.ok and reply.result == "1"):
            raise AgiCommandError(cmd, reply)

    async def get_variable(self, name: str) -> str | None:
        """The variable's value, or None when it is not set."""
        reply = await self.command(f"GET VARIABLE {quote(name)}")
        if not reply.ok:
            raise AgiCommandError("GET VARIABLE", reply)
        return reply.data if reply.result == "1" else None

    async def verbose(self, msg: str, level: int = 1) -> None:
        await self.command(f"VERBOSE {quote(clip(msg, MAX_VALUE_BYTES))} {int(level)}")


AgiHandler = Callable[[AgiRequest, AgiChannel], Awaitable[None]]


@dataclass
class ServerStats:
    """Counters and a bounded latency record, for health checks and benchmarks."""

    accepted: int = 0  # connections accepted
    rejected: int = 0  # closed at once: over max_connections
    requests: int = 0  # complete environments received
    ok: int = 0  # handler finished
    errors: int = 0  # handler raised (a bug, or a refused command)
    timeouts: int = 0  # request_timeout or command_timeout passed
    peer_gone: int = 0  # HANGUP or the peer closed mid-request
    bad_requests: int = 0  # handler refused the arguments (BadRequest)
    unknown_script: int = 0
    header_errors: int = 0  # garbage, early EOF, overlong or too many lines
    header_timeouts: int = 0  # silent or trickling peers
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def percentiles(self, *qs: float) -> dict[str, float]:
        """Latency quantiles in ms (accepted → last reply) of the recent ok requests."""
        qs = qs or (0.5, 0.99)
        data = sorted(self.latencies)
        out: dict[str, float] = {}
        for q in qs:
            key = f"p{q * 100:g}"
            out[key] = data[min(len(data) - 1, int(q * len(data)))] * 1000 if data else 0.0
        return out

    def counters(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)}


class FastAgiServer:
    """FastAGI over TCP: one handler per script name (`agi_network_script`)."""

    def __init__(
        self,
        handlers: dict[str, AgiHandler],
        host: str = "127.0.0.1",
        port: int = 4573,
        *,
        header_timeout: float = 2.0,
        request_timeout: float = 0.5,
        command_timeout: float = 1.0,
        max_connections: int = 1000,
        max_line: int = MAX_LINE,
        max_headers: int = MAX_HEADERS,
    ):
        self.handlers = dict(handlers)
        self.host = host
        self.port = port
        self.header_timeout = header_timeout
        self.request_timeout = request_timeout
        self.command_timeout = command_timeout
        self.max_connections = max_connections
        self.max_line = max_line
        self.max_headers = max_headers
        self.stats = ServerStats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def bound_port(self) -> int:
        """The port actually listened on (useful with port=0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server not started")
        return self._server.sockets[0].getsockname()[1]

    @property
    def active_connections(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=self.max_line + 2, reuse_address=True
        )
        log.info("FastAGI listening on %s:%d", self.host, self.bound_port)

    async def close(self, grace: float | None = None) -> None:
        """Stop accepting, let in-flight requests finish within `grace` s, abort the rest.

        The default bound is what one connection may take anyway (headers + request).
        """
        if self._server is None:
            return
        self._server.close()
        bound = self.header_timeout + self.request_timeout if grace is None else grace
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=bound)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted = time.perf_counter()
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats.accepted += 1
        clean = False
        try:
            if len(self._tasks) > self.max_connections:
                self.stats.rejected += 1
                log.warning("FastAGI connection refused: %d open", len(self._tasks) - 1)
                return
            clean = await self._request(reader, writer, accepted)
        finally:
            self._tasks.discard(task)
            _close(writer, clean)

    async def _request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, accepted: float
    ) -> bool:
        """Run one request; True when it ended well and the socket may close gracefully."""
        st = self.stats
        peer = writer.get_extra_info("peername")
        env = await self._read_env(reader, peer)
        if env is None:
            return False
        st.requests += 1
        req = AgiRequest.from_env(env)
        handler = self.handlers.get(req.script)
        if handler is None:
            st.unknown_script += 1
            log.warning("FastAGI %s: unknown script %r", peer, req.script[:60])
            return False
        # A command bound no shorter than the request's would only cost a timer per command.
        cmd_bound = self.command_timeout if self.command_timeout < self.request_timeout else None
        chan = AgiChannel(reader, writer, command_timeout=cmd_bound, max_line=self.max_line)
        return await self._run(handler, req, chan, peer, accepted)

    async def _read_env(self, reader: asyncio.StreamReader, peer: Any) -> dict[str, str] | None:
        """The request's environment, or None (counted and logged) when it did not come."""
        try:
            return await read_env(
                reader,
                deadline=self.header_timeout,
                max_line=self.max_line,
                max_headers=self.max_headers,
            )
        except AgiTimeoutError:
            self.stats.header_timeouts += 1
            log.debug("FastAGI %s: no environment in time", peer)
        except AgiError as exc:
            self.stats.header_errors += 1
            log.debug("FastAGI %s: bad environment: %s", peer, exc)
        return None

    async def _run(
        self, handler: AgiHandler, req: AgiRequest, chan: AgiChannel, peer: Any, accepted: float
    ) -> bool:
        """Run the script's handler under the request bound; each way it can end is counted
        apart (stats) so operators can tell slow peers from broken scripts."""
        st = self.stats
        try:
            async with asyncio.timeout(self.request_timeout):
                await handler(req, chan)
        except TimeoutError:
            st.timeouts += 1
            log.warning(
                "FastAGI %s %s: over request_timeout %.3f s", peer, req.script, self.request_timeout
            )
        except AgiTimeoutError as exc:
            st.timeouts += 1
            log.warning("FastAGI %s %s: %s", peer, req.script, exc)
        except (AgiHangup, AgiClosed) as exc:
            st.peer_gone += 1
            log.info("FastAGI %s %s: peer gone: %s", peer, req.script, exc)
        except BadRequest as exc:
            st.bad_requests += 1
            log.warning("FastAGI %s %s: bad request: %s", peer, req.script, exc)
        except AgiError as exc:  # a refused command or a reply that is not AGI
            st.errors += 1
            log.warning("FastAGI %s %s: %s", peer, req.script, exc)
        except Exception:
            st.errors += 1
            log.exception("FastAGI %s %s: handler failed", peer, req.script)
        else:
            st.ok += 1
            st.latencies.append((chan.last_answer or time.perf_counter()) - accepted)
            return True
        return False


def _close(writer: asyncio.StreamWriter, graceful: bool) -> None:
    """Close (FIN) after a good request, abort (RST, nothing left buffered) otherwise.

    After a good request the peer has answered every command, so nothing is left to
    flush and close() completes at once; there is no need to wait for it.
    """
    if graceful:
        writer.close()
    else:
        writer.transport.abort()

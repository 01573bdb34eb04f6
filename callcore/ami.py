"""The controller's one AMI session, over panoramisk's protocol with its defects designed out.

Asterisk is the truth about live calls, so the controller must read every event in order,
never lose a character of a caller's name, and notice within seconds that the connection
is gone. panoramisk 1.4 does none of these reliably (docs/decisions/ami.md lists why), so:

- `AmiParser` frames at the byte level and decodes only complete frames (a UTF-8 character
  split across TCP reads survives), into plain dicts, over twice as fast as panoramisk;
- `_Protocol` subclasses panoramisk's `AMIProtocol`, keeps its transport bookkeeping and
  `Action` (ActionID and wire format), and replaces reading, reply matching and loss
  handling: replies are matched by ActionID only, every action is bounded, and actions in
  flight fail on loss instead of being re-sent later;
- `AmiSession` replaces panoramisk's `Manager`: one supervisor task connects, logs in,
  runs the ping watchdog and reconnects with backoff; events go, in order, into one queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol

__all__ = [
    "EVERY",
    "AmiDisconnected",
    "AmiError",
    "AmiLoginError",
    "AmiParser",
    "AmiSession",
    "AmiStats",
    "AmiTimeout",
    "Event",
    "EventRouter",
    "EventTable",
    "Message",
    "Subscriptions",
    "event_time",
    "header_values",
    "parse_frame",
]

log = logging.getLogger(__name__)

Message = Mapping[str, Any]
"""An AMI event (`Event`) or response (a dict): header -> str (a response's repeated header
-> list[str]); `_rx` is the `time.monotonic()` of its receipt."""

Fields = Mapping[str, str | Sequence[str]]

TERMINATOR = b"\r\n\r\n"
GREETING = b"Asterisk Call Manager/"
MAX_FRAME_BYTES = 1 << 20
_OK_RESPONSES = frozenset({"Success", "Follows", "Goodbye"})


class AmiError(Exception):
    """An action failed; `response` is Asterisk's reply when it gave one."""

    def __init__(self, message: str, response: Message | None = None):
        super().__init__(message)
        self.response = response


class AmiTimeout(AmiError, TimeoutError):
    """No (complete) reply in time: the action may or may not have been carried out."""


class AmiDisconnected(AmiError):
    """Not connected, or the connection was lost before the reply: never re-sent."""


class AmiLoginError(AmiError):
    """Asterisk rejected the credentials."""


@dataclass
class AmiStats:
    """Counters of the session, across reconnections, for the controller to export."""

    frames: int = 0  # complete frames read
    events: int = 0  # events put into the consumer's queue
    dropped_frames: int = 0  # frames with neither Event nor Response
    overflows: int = 0  # connections aborted for an unterminated flood
    unmatched_responses: int = 0  # replies to no pending action (e.g. after a timeout)
    queue_full: int = 0  # events lost because a bounded consumer queue was full
    action_timeouts: int = 0
    ping_failures: int = 0  # connections the watchdog aborted
    logins: int = 0
    reconnects: int = 0  # logins after the first
    last_event_at: float | None = None  # time.monotonic() of the newest event


def parse_frame(frame: str) -> Message:
    """Headers of one decoded frame, in the order and spelling Asterisk sent them.

    The fast path builds the dict in C; the slow path is taken only for repeated headers
    (ChanVariable, Output), blank or header-less lines and `Key:` without a value.
    """
    lines = frame.split("\r\n")
    try:
        msg = dict([line.split(": ", 1) for line in lines])
    except ValueError:
        return _parse_lines(lines)
    return msg if len(msg) == len(lines) else _parse_lines(lines)


def _parse_lines(lines: list[str], bare_keys: bool = True) -> Message:
    msg: Message = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            if not bare_keys or not line.endswith(":"):
                continue  # greeting, body text or garbage: not a header
            key = line[:-1]
        if not key:
            continue
        old = msg.get(key)
        if old is None:
            msg[key] = value
        elif isinstance(old, list):
            old.append(value)
        else:
            msg[key] = [old, value]
    return msg


class Event(Mapping[str, Any]):
    """An AMI event, its headers read on demand from the decoded frame.

    Every handler looks at a handful of an event's twenty-odd headers, so building a dict
    of all of them for every event was most of the read path's cost. `get` finds the
    header in the frame text (C-speed `str.find`); iterating, `len` and equality parse the
    whole frame once. A header sent twice answers with its first value (`header_values`
    gives all of them; a header Asterisk never writes, `Key:` without its space, reads as
    absent). Read-only, like every event.
    """

    __slots__ = ("_all", "_text", "rx")

    def __init__(self, text: str, rx: float = 0.0):
        self._text = "\r\n" + text + "\r\n"  # every header sits between two CRLFs
        self._all: dict[str, Any] | None = None
        self.rx = rx

    def get(self, key: str, default: Any = None) -> Any:
        if key == "_rx":
            return self.rx
        needle = _NEEDLES.get(key)
        if needle is None:
            needle = _NEEDLES.setdefault(key, f"\r\n{key}: ")
        text = self._text
        i = text.find(needle)
        if i < 0:
            return default
        i += len(needle)
        return text[i : text.find("\r\n", i)]

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def _parsed(self) -> dict[str, Any]:
        if self._all is None:
            lines = self._text[2:-2].split("\r\n")
            self._all = {**_parse_lines(lines, bare_keys=False), "_rx": self.rx}
        return self._all

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsed())

    def __len__(self) -> int:
        return len(self._parsed())

    def __repr__(self) -> str:
        return f"Event({self._parsed()!r})"


_NEEDLES: dict[str, str] = {}
_MISSING = object()


EventHandler = Callable[[Message], None]
Subscriptions = Mapping[str, EventHandler]
"""A component's AMI subscriptions: event name -> its handler (`EVERY` for every event)."""
EVERY = "*"


class EventTable:
    """A part whose AMI events go to the methods its `_HANDLERS` table names (event name ->
    method): each event counted, and one odd event logged and ignored, so it never stops
    the consumer. `subscriptions()` is the table the wiring subscribes."""

    _HANDLERS: ClassVar[dict[str, Callable[..., None]]] = {}
    events = 0
    ignored = 0

    def subscriptions(self) -> Subscriptions:
        return dict.fromkeys(self._HANDLERS, self.handle)

    def handle(self, ev: Message) -> None:
        self.events += 1
        handler = self._HANDLERS.get(ev.get("Event", ""))
        if handler is None:
            return
        try:
            handler(self, ev)
        except Exception:  # one odd event must never stop the pump
            self.ignored += 1
            log.exception("%s could not handle %s", type(self).__name__, ev.get("Event"))


class EventRouter:
    """Each AMI event to the handlers subscribed to its name, in the order of subscription.

    Components declare their subscriptions as a table (`subscriptions()`); the wiring
    subscribes each once at start. Handlers are synchronous and quick: they run on the one
    ordered consumer of AMI events.
    """

    def __init__(self) -> None:
        self._named: dict[str, list[EventHandler]] = {}
        self._every: list[EventHandler] = []
        self._routes: dict[str, tuple[EventHandler, ...]] = {}

    def subscribe(self, table: Subscriptions) -> None:
        for name, handler in table.items():
            (self._every if name == EVERY else self._named.setdefault(name, [])).append(handler)
        self._routes.clear()

    @property
    def names(self) -> frozenset[str]:
        """The events some handler wants by name (what Asterisk's event filter lets in)."""
        return frozenset(self._named)

    def dispatch(self, ev: Message) -> None:
        name = ev.get("Event", "")
        route = self._routes.get(name)
        if route is None:
            route = self._routes[name] = (*self._named.get(name, ()), *self._every)
        for handle in route:
            handle(ev)


def event_time(ev: Message) -> float | None:
    """When Asterisk stamped the event (`timestampevents = yes`), or None if it did not say.

    Readers choose what a missing stamp means: a record's `as_of` takes 0 (older than
    anything), live state takes the time of reading.
    """
    try:
        return float(ev.get("Timestamp") or 0.0) or None
    except ValueError:
        return None


def header_values(msg: Message, key: str) -> list[str]:
    """A header as a list whether it came once, repeatedly or not at all (Output, ChanVariable)."""
    value = (msg._parsed() if isinstance(msg, Event) else msg).get(key)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class AmiParser:
    """Incremental reader of one connection's byte stream.

    Frames are split on b"\\r\\n\\r\\n" before decoding, so a multi-byte character split
    across reads is decoded whole; invalid bytes become U+FFFD rather than failing.
    """

    def __init__(self, stats: AmiStats | None = None, max_frame_bytes: int = MAX_FRAME_BYTES):
        self.stats = stats if stats is not None else AmiStats()
        self.max_frame_bytes = max_frame_bytes
        self.greeting: str | None = None  # "Asterisk Call Manager/9.0.0"
        self.overflowed = False
        self._greeted = False
        self._buf = bytearray()

    def feed(self, data: bytes, now: float | None = None) -> list[Message]:
        """Events and responses completed by `data`, stamped `_rx`; other frames are counted.

        Never raises. If the unterminated rest outgrows the bound it is discarded and
        `overflowed` is set: the stream is out of step and the connection must be dropped.
        """
        buf = self._buf
        scanned = len(buf)
        buf += data
        if not self._greeted:
            self._strip_greeting()
            scanned = 0
        if not self._greeted or buf.find(TERMINATOR, max(0, scanned - 3)) < 0:
            self._check_bound()
            return []
        *frames, self._buf = buf.split(TERMINATOR)
        self._check_bound()
        rx = time.monotonic() if now is None else now
        out = []
        dropped = 0
        for raw in frames:
            text = raw.decode("utf-8", "replace")
            if text.startswith("Event: "):  # how Asterisk writes every event
                out.append(Event(text, rx))
                continue
            msg = parse_frame(text)
            if "Event" in msg or "Response" in msg:
                msg["_rx"] = rx
                out.append(msg)
            else:
                dropped += 1
        self.stats.frames += len(frames)
        self.stats.dropped_frames += dropped
        return out

    def _strip_greeting(self) -> None:
        # The greeting ends with a single CRLF and would otherwise glue onto the first frame.
        buf = self._buf
        if not GREETING.startswith(buf[: len(GREETING)]):
            self._greeted = True  # no greeting: a stream joined midway, or a test
            return
        eol = buf.find(b"\r\n")
        if eol >= 0:
            self.greeting = buf[:eol].decode("utf-8", "replace")
            del buf[: eol + 2]
            self._greeted = True

    def _check_bound(self) -> None:
        if len(self._buf) > self.max_frame_bytes:
            self.overflowed = True
            self._buf = bytearray()


class _Pending:
    """One action awaiting its reply (and, for event-list actions, its events)."""

    __slots__ = ("complete_event", "events", "future", "response")

    def __init__(self, future: asyncio.Future[Any], complete_event: str | None):
        self.future = future
        self.complete_event = complete_event
        self.response: Message | None = None
        self.events: list[Message] = []

    def on_response(self, msg: Message) -> None:
        if self.future.done():
            return
        if msg.get("Response") not in _OK_RESPONSES:
            text = msg.get("Message") or msg.get("Response")
            self.future.set_exception(AmiError(str(text), msg))
        elif self.complete_event is None:
            self.future.set_result(msg)
        elif str(msg.get("EventList", "")).lower() == "start":
            self.response = msg  # the list follows as events
        else:
            self.future.set_result((msg, []))  # nothing will follow

    def on_event(self, msg: Message) -> bool:
        """Take the event if it belongs to this event-list action."""
        if self.complete_event is None:
            return False  # e.g. OriginateResponse of an Async Originate: for the consumer
        if msg.get("Event") == self.complete_event:
            if not self.future.done():
                self.future.set_result((self.response or {}, self.events))
        else:
            self.events.append(msg)
        return True


class _Protocol(AMIProtocol):
    """panoramisk's AMIProtocol with reading, reply matching and loss handling replaced.

    Overridden because in panoramisk 1.4: each read is decoded on its own (split characters
    lost), QueueAdd replies never resolve, "successfully queued" without Async raises in
    data_received and drops the connection, and loss moves pending actions into a queue
    that is re-sent, stale, on FullyBooted.
    """

    def __init__(self, session: AmiSession):
        self.session = session

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.encoding = "utf-8"
        self.parser = AmiParser(self.session.stats, self.session.max_frame_bytes)
        self.pending: dict[str, _Pending] = {}
        self.last_rx = time.monotonic()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def send(self, data: Fields, *, complete_event: str | None = None) -> asyncio.Future[Any]:  # type: ignore[override]
        """Write one action; the future gets its reply (or reply and events), or AmiError."""
        if self.closed or self.transport.is_closing():
            raise AmiDisconnected("AMI connection is closing")
        _check_fields(data)
        action = Action(dict(data), as_list=False)
        action_id = action.action_id
        if action_id in self.pending:
            raise ValueError(f"ActionID {action_id!r} is already pending")
        future = asyncio.get_running_loop().create_future()
        self.pending[action_id] = _Pending(future, complete_event)
        future.add_done_callback(lambda _: self.pending.pop(action_id, None))
        self.transport.write(str(action).encode("utf-8"))
        return future

    def data_received(self, data: bytes) -> None:
        self.last_rx = now = time.monotonic()
        try:
            for msg in self.parser.feed(data, now):
                self.handle_message(msg)
        except Exception:  # a bug here must cost a reconnect, not the reader
            log.exception("AMI data handling failed: dropping the connection")
            self.abort()
            return
        if self.parser.overflowed and not self.closed:
            self.session.stats.overflows += 1
            log.error(
                "AMI stream out of step: over %d bytes without a frame end; dropping the "
                "connection",
                self.parser.max_frame_bytes,
            )
            self.abort()

    def handle_message(self, msg: Message) -> None:
        action_id = msg.get("ActionID")
        pending = self.pending.get(action_id) if isinstance(action_id, str) else None
        if "Event" not in msg:
            if pending is None:
                self.session.stats.unmatched_responses += 1
            else:
                pending.on_response(msg)
        elif pending is None or not pending.on_event(msg):
            self.session._deliver(msg)

    def connection_lost(self, exc: Exception | None) -> None:
        # Deliberately not panoramisk's: that would queue pending actions for a stale resend.
        self.closed = True
        reason = f"AMI connection lost ({exc or 'closed'})"
        for pending in list(self.pending.values()):
            if not pending.future.done():
                pending.future.set_exception(AmiDisconnected(reason))
        self.pending.clear()
        if not self.lost.done():
            self.lost.set_result(exc)

    def close(self) -> None:
        self.transport.close()

    def abort(self) -> None:
        self.transport.abort()


def _check_fields(fields: Fields) -> None:
    # A CR or LF in a value (a caller name, a variable) would inject headers or actions.
    if not any(key.lower() == "action" for key in fields):
        raise ValueError("an AMI action needs an 'Action' field")
    for key, value in fields.items():
        for item in (key, *(value if isinstance(value, list | tuple) else [value])):
            if "\r" in str(item) or "\n" in str(item):
                raise ValueError(f"CR/LF in AMI field {key!r}")


Callback = Callable[[], Awaitable[None]]


class AmiSession:
    """One logged-in AMI connection, kept alive for the life of the controller.

    Events go into `events` in arrival order for one consumer, stamped `_rx`. Actions
    fail fast (AmiDisconnected) while disconnected; nothing is ever re-sent. After each
    login `on_connected` runs (resync), and `on_disconnected` after each loss.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        events: asyncio.Queue[Message] | None = None,
        action_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        reconnect_delay: float = 1.0,
        max_reconnect_delay: float = 30.0,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        on_connected: Callback | None = None,
        on_disconnected: Callback | None = None,
    ):
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.events: asyncio.Queue[Message] = events if events is not None else asyncio.Queue()
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.max_frame_bytes = max_frame_bytes
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.stats = AmiStats()
        self.greeting: str | None = None
        self._protocol: _Protocol | None = None
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:  # never shows the secret
        return f"<AmiSession {self.username}@{self.host}:{self.port} connected={self.connected}>"

    @property
    def connected(self) -> bool:
        return self._protocol is not None and not self._protocol.closed

    async def start(self, wait: float | None = None) -> bool:
        """Start connecting in the background; return once logged in, or after `wait` s.

        Returns whether the session is logged in; if not, it keeps retrying.
        """
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ami-session")
        try:
            await asyncio.wait_for(self._up.wait(), wait)
        except TimeoutError:
            pass
        return self.connected

    async def close(self) -> None:
        """Stop reconnecting and close the connection; pending actions fail."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def action(
        self,
        fields: Fields,
        *,
        timeout: float | None = None,
    ) -> Message:
        """Send one action and return its response; `Response: Error` raises AmiError.

        Events the action causes (e.g. OriginateResponse of an Async Originate) go to the
        event queue like any other.
        """
        return await self._request(self._live(), fields, None, timeout)

    async def action_list(
        self,
        fields: Fields,
        *,
        complete_event: str,
        timeout: float | None = None,
    ) -> tuple[Message, list[Message]]:
        """Send an event-list action (QueueStatus, CoreShowChannels, QueueSummary, Status).

        Returns the response and the events carrying its ActionID, up to but excluding
        `complete_event`; those events do not go to the event queue. `timeout` bounds the
        whole list.
        """
        return await self._request(self._live(), fields, complete_event, timeout)

    def _deliver(self, event: Message) -> None:
        """Hand an event to the consumer; called by the protocol in arrival order."""
        try:
            self.events.put_nowait(event)
        except asyncio.QueueFull:
            self.stats.queue_full += 1
            if self.stats.queue_full % 1000 == 1:
                log.error("AMI event queue full: %d events lost", self.stats.queue_full)
            return
        self.stats.events += 1
        self.stats.last_event_at = event["_rx"]

    def _live(self) -> _Protocol:
        if self._protocol is None or self._protocol.closed:
            raise AmiDisconnected("AMI not connected")
        return self._protocol

    async def _request(
        self, proto: _Protocol, fields: Fields, complete_event: str | None, limit: float | None
    ) -> Any:
        limit = self.action_timeout if limit is None else limit
        future = proto.send(fields, complete_event=complete_event)
        try:
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            self.stats.action_timeouts += 1
            name = fields.get("Action") or fields.get("action")
            raise AmiTimeout(f"AMI {name} got no reply within {limit:g} s") from None

    async def _run(self) -> None:
        delay = self.reconnect_delay
        while True:
            try:
                proto = await self._connect()
            except AmiLoginError as exc:
                log.error(
                    "AMI login as %r to %s:%s rejected (%s); retrying in %g s",
                    self.username,
                    self.host,
                    self.port,
                    exc,
                    delay,
                )
            except (OSError, AmiError) as exc:  # TimeoutError is an OSError
                log.warning(
                    "AMI connection to %s:%s failed (%s); retrying in %g s",
                    self.host,
                    self.port,
                    str(exc) or type(exc).__name__,
                    delay,
                )
            except Exception:
                log.exception(
                    "AMI connection to %s:%s failed; retrying in %g s", self.host, self.port, delay
                )
            else:
                await self._serve(proto)
                delay = self.reconnect_delay
                await asyncio.sleep(delay)
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_delay)

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(
            loop.create_connection(lambda: _Protocol(self), self.host, self.port),
            self.action_timeout,
        )
        login = {
            "Action": "Login",
            "Username": self.username,
            "Secret": self._secret,
            "Events": "on",
        }
        try:
            await self._request(proto, login, None, None)
        except BaseException as exc:
            proto.abort()
            if isinstance(exc, AmiError) and exc.response is not None:
                raise AmiLoginError(str(exc), exc.response) from None
            raise
        return proto

    async def _serve(self, proto: _Protocol) -> None:
        """Hold one logged-in connection until it is lost (or the session closes)."""
        self._protocol = proto
        self.greeting = proto.parser.greeting
        self.stats.logins += 1
        if self.stats.logins > 1:
            self.stats.reconnects += 1
        self._up.set()
        log.info(
            "AMI logged in as %r to %s:%s (%s)", self.username, self.host, self.port, self.greeting
        )
        tasks = [asyncio.create_task(self._watchdog(proto), name="ami-watchdog")]
        if self.on_connected is not None:
            tasks.append(asyncio.create_task(self._callback(self.on_connected)))
        try:
            exc = await proto.lost
            log.warning(
                "AMI connection to %s:%s lost (%s)", self.host, self.port, exc or "closed by peer"
            )
        finally:
            self._up.clear()
            self._protocol = None
            proto.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.on_disconnected is not None:
                await self._callback(self.on_disconnected)

    async def _watchdog(self, proto: _Protocol) -> None:
        """Ping; on failure or timeout abort the transport so the session reconnects.

        A ping reply is data, so this also bounds silence on the connection to
        ping_interval + ping_timeout: a half-open connection is noticed in that time.
        """
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self._request(proto, {"Action": "Ping"}, None, self.ping_timeout)
            except AmiDisconnected:
                return
            except AmiError as exc:
                self.stats.ping_failures += 1
                silent = time.monotonic() - proto.last_rx
                log.warning(
                    "AMI ping failed (%s; %.1f s without data): dropping the connection",
                    exc,
                    silent,
                )
                proto.abort()
                return

    @staticmethod
    async def _callback(callback: Callback) -> None:
        try:
            await callback()
        except Exception:
            log.exception("AMI session callback %r failed", callback)

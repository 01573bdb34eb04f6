"""The FastAGI wire protocol: the request environment, command replies and safe quoting.

Written against Asterisk's res_agi.c rather than on panoramisk, whose header loop spins
at 100 % CPU when a peer closes before the blank line. Everything read here is bounded:
line length, header count and time. Bytes are decoded as UTF-8 with replacement, never
dropped, so a Chinese caller name split across TCP segments survives.

Asterisk facts this module relies on (res_agi.c):
- the environment is `agi_<key>: <value>\\n` lines ending with an empty line; FastAGI
  adds `agi_network: yes` and `agi_network_script: <path after host/>` first;
- a command line is read with fgets into a 2048-byte buffer: a longer line is cut and its
  tail is run as a *separate command*, so every command must stay under MAX_COMMAND_BYTES;
- arguments are split by `parse_args`: `"` toggles quoting, `\\` escapes the next byte,
  space/tab separate words outside quotes; `\\r` is not stripped, NUL ends the C string;
- replies are `200 result=<n>[ (<data>)][ extra]`, `510 ...`, `511 ...`, `520 ...` or a
  `520-` block ending with a `520 ` line; `HANGUP` is sent on its own line when the
  channel hangs up.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

MAX_COMMAND_BYTES = 2047  # fgets(buf, 2048): 2047 bytes including the newline
MAX_LINE = 8192  # an environment or reply line; caller names of a few kB still fit
MAX_HEADERS = 64  # Asterisk sends 22 lines plus one per AGI() argument
MAX_REPLY_LINES = 200  # a 520- usage block is a few dozen lines
HEADER_TIMEOUT = 2.0

_HEADER_KEY = re.compile(r"agi_[a-z0-9_]{1,40}")
_REPLY = re.compile(r"(\d{3})([ -])(.*)", re.DOTALL)
_RESULT = re.compile(r"result=(\S*)")
_UNSAFE = str.maketrans("", "", "\r\n\0")


class AgiError(Exception):
    """Base of every error this package raises about a FastAGI connection."""


class AgiProtocolError(AgiError):
    """The peer sent something that is not AGI, or went past a limit."""


class AgiClosed(AgiError):
    """The peer closed the connection (end of file) before we were done."""


class AgiTimeoutError(AgiError):
    """The peer did not send what we waited for within its deadline."""


class AgiHangup(AgiError):
    """Asterisk reported `HANGUP`: the AGI channel is gone; send nothing more."""


class AgiCommandError(AgiError):
    """A command was refused or did not have the expected result."""

    def __init__(self, command: str, reply: AgiReply):
        self.command = command
        self.reply = reply
        super().__init__(f"{command.split(' ', 2)[:2]}: {reply.code} {reply.text[:80]!r}")


# ---------------------------------------------------------------------------- request


@dataclass(frozen=True)
class AgiRequest:
    """One FastAGI request: the script name, the AGI() arguments and the whole environment."""

    script: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str]) -> AgiRequest:
        args: list[str] = []
        while (value := env.get(f"agi_arg_{len(args) + 1}")) is not None:
            args.append(value)
        return cls(env.get("agi_network_script", ""), args, env)

    def arg(self, n: int, default: str = "") -> str:
        """The n-th AGI() argument, counting from 1 like `agi_arg_n`."""
        return self.args[n - 1] if 0 < n <= len(self.args) else default


async def read_line(reader: asyncio.StreamReader, max_line: int = MAX_LINE) -> bytes:
    """One line without its `\\n` (and a `\\r` before it); EOF and overlong lines raise."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        raise AgiClosed("peer closed the connection mid-line or before a line") from None
    except asyncio.LimitOverrunError:
        raise AgiProtocolError("line over the stream limit") from None
    except (ConnectionError, OSError) as exc:
        raise AgiClosed(f"connection lost: {exc}") from None
    if len(line) > max_line + 1:
        raise AgiProtocolError(f"line of {len(line)} bytes, limit {max_line}")
    line = line[:-1]
    return line[:-1] if line.endswith(b"\r") else line


def parse_header(raw: bytes) -> tuple[str, str]:
    """`agi_key: value` as (key, value); anything else is a protocol error."""
    text = raw.decode("utf-8", errors="replace")
    key, sep, value = text.partition(":")
    if not sep or not _HEADER_KEY.fullmatch(key):
        raise AgiProtocolError(f"not an AGI environment line: {text[:60]!r}")
    return key, value.removeprefix(" ")


async def read_env(
    reader: asyncio.StreamReader,
    *,
    deadline: float = HEADER_TIMEOUT,
    max_line: int = MAX_LINE,
    max_headers: int = MAX_HEADERS,
) -> dict[str, str]:
    """The AGI environment up to its blank line, under one total deadline.

    Raises only AgiError subclasses: AgiClosed (EOF before the blank line, the case that
    freezes panoramisk), AgiTimeoutError (silence or a trickle past `deadline` seconds),
    AgiProtocolError (garbage, an overlong line, more than `max_headers` lines, no lines,
    a repeated key).
    """
    env: dict[str, str] = {}
    try:
        async with asyncio.timeout(deadline):
            for _ in range(max_headers + 1):
                raw = await read_line(reader, max_line)
                if not raw:
                    if not env:
                        raise AgiProtocolError("empty AGI environment")
                    return env
                key, value = parse_header(raw)
                if key in env:  # Asterisk never repeats a key; an LF smuggled into a
                    # caller-controlled value would (e.g. a second agi_arg_2)
                    raise AgiProtocolError(f"repeated environment key {key}")
                env[key] = value
    except TimeoutError:
        raise AgiTimeoutError(f"no complete AGI environment within {deadline} s") from None
    raise AgiProtocolError(f"more than {max_headers} environment lines")


# ---------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class AgiReply:
    """A command's answer: `code`, and for 200 the `result`, the `(data)` and what follows."""

    code: int
    result: str = ""
    data: str | None = None
    extra: str = ""
    text: str = ""  # the line after the code
    usage: tuple[str, ...] = ()  # the body of a `520-` block

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def result_int(self) -> int | None:
        try:
            return int(self.result)
        except ValueError:
            return None


def parse_reply(line: str) -> AgiReply:
    """One reply line (`200 result=1 (x)`, `510 ...`, `520 ...`); not HANGUP or `520-` blocks."""
    m = _REPLY.fullmatch(line)
    if m is None or m[2] != " ":
        raise AgiProtocolError(f"not an AGI reply: {line[:60]!r}")
    code, rest = int(m[1]), m[3]
    if code != 200:
        return AgiReply(code, text=rest)
    r = _RESULT.match(rest)
    if r is None:
        raise AgiProtocolError(f"200 reply without result=: {line[:60]!r}")
    tail, data = rest[r.end() :], None
    if tail.startswith(" ("):
        end = tail.rfind(")")
        if end > 1:
            data, tail = tail[2:end], tail[end + 1 :]
    return AgiReply(200, r[1], data, tail.strip(), rest)


async def read_reply(
    reader: asyncio.StreamReader,
    *,
    max_line: int = MAX_LINE,
    max_lines: int = MAX_REPLY_LINES,
) -> AgiReply:
    """The reply to one command, including a multi-line `520-` usage block."""
    line = (await read_line(reader, max_line)).decode("utf-8", errors="replace")
    if line.strip() == "HANGUP":
        raise AgiHangup("Asterisk reported HANGUP")
    if not line.startswith("520-"):
        return parse_reply(line)
    usage: list[str] = []
    for _ in range(max_lines):
        line = (await read_line(reader, max_line)).decode("utf-8", errors="replace")
        if line.startswith("520 "):
            return AgiReply(520, text=line[4:], usage=tuple(usage))
        usage.append(line)
    raise AgiProtocolError(f"520 usage block longer than {max_lines} lines")


# ---------------------------------------------------------------------------- quoting


def quote(value: str) -> str:
    """One double-quoted AGI argument that Asterisk's parse_args reads back as `value`.

    CR, LF and NUL are removed (LF would end the command line and start another: a caller
    name like `x"\\nHANGUP` must stay inside its argument); `\\` and `"` are escaped.
    """
    text = value.translate(_UNSAFE)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def clip(value: str, max_bytes: int) -> str:
    """`value` cut to at most `max_bytes` of UTF-8, never inside a character."""
    raw = value.encode("utf-8", errors="replace")
    if len(raw) <= max_bytes:
        return value
    return raw[:max_bytes].decode("utf-8", errors="ignore")


def parse_args(line: str) -> list[str]:
    """How Asterisk's res_agi `parse_args` splits a command line into words.

    Asterisk's side of `quote`, kept here so tests and the benchmark's fake Asterisk see
    exactly what a real one would.
    """
    words: list[list[str]] = []
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                words.append([])
                whitespace = False
            continue
        if ch in " \t" and not quoted and not escaped:
            whitespace = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            words.append([])
            whitespace = False
        words[-1].append(ch)
        escaped = False
    return ["".join(w) for w in words]

"""Hostile caller IDs from the carrier, through AMI, the tracker, the store and the screen.

Control characters, very long names, invalid UTF-8, SQL and shell metacharacters, terminal
escapes, rich markup and numbers in every odd format: stored safely (the database gets
exactly the cleaned text, SQL is never built from it) and shown safely (no control
character reaches a terminal, markup is printed literally, JSON stays JSON).
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

import config
from callcore.ami import AmiParser
from callcore.features.calls import present
from callcore.features.calls.tracker import CallTracker
from callcore.records import CallRecord
from callcore.store import db
from config.directory import Directory

CFG = config.load()
DIRECTORY = Directory(CFG)

NASTY_NAMES = [
    "'; DROP TABLE calls; --",
    "$(rm -rf /) `id` | tee /etc/passwd && echo ${PATH}",
    "[bold red]假冒坐席[/bold red] [link=http://x]点我[/link]",
    "\x1b[2J\x1b[31m清屏\x1b]0;title\x07",
    "张\x00三\x01\x7f\x9b",
    "名" * 5000,
    "Robert\"); \\ %s %n {0} <script>alert(1)</script> 谁? O'Brien",
    "\u202eevil\u200b\ufeff",
]
ODD_NUMBERS = ["+86 138-0013-8000", "0086(10)12345", "anonymous", "", "*31#13800000000",
               "+86-138'; --", "1" * 300, "１３８００１３８０００", "tel:+8613800138000;ext=1"]


_C = {7: b"a", 8: b"b", 12: b"f", 10: b"n", 13: b"r", 9: b"t", 11: b"v", 92: b"\\",
      39: b"'", 34: b'"', 63: b"?"}


def c_escape(raw: bytes) -> bytes:
    """What Asterisk's manager does to caller ID in events (ast_escape_c)."""
    return b"".join(b"\\" + _C[b] if b in _C else bytes([b]) for b in raw)


def ami_stream(uid: str, name: bytes, number: bytes) -> bytes:
    """A caller's call as Asterisk would send it: caller ID bytes as sent, C-escaped."""
    name, number = c_escape(name), c_escape(number)
    def frame(*lines: bytes) -> bytes:
        return b"\r\n".join(lines) + b"\r\n\r\n"

    base = [f"Uniqueid: {uid}".encode(), f"Linkedid: {uid}".encode()]
    return b"".join([
        frame(b"Event: Newchannel", b"Channel: PJSIP/carrier-1", b"Context: from-carrier",
              b"Exten: 12345", b"CallerIDNum: " + number, b"CallerIDName: " + name, *base,
              b"Timestamp: 100.0"),
        frame(b"Event: UserEvent", b"UserEvent: CallcoreRoute", b"Kind: queue",
              b"Route: q-general", b"Prio: 0", b"Hotline: 12345", b"Fallback: 0", b"Flags: ",
              *base, b"Timestamp: 100.1"),
        frame(b"Event: QueueCallerJoin", b"Queue: q-general", *base, b"Timestamp: 100.2"),
        frame(b"Event: AgentConnect", b"MemberName: G01", *base, b"Timestamp: 101.0"),
        frame(b"Event: Hangup", b"Cause: 16", *base, b"Timestamp: 103.0"),
    ])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    engine = db.make_engine(f"sqlite:///{tmp_path_factory.mktemp('h') / 'calls.db'}")
    db.upgrade(engine)
    yield engine
    engine.dispose()


def through_everything(store, uid: str, name: bytes, number: bytes) -> CallRecord:
    out: list[CallRecord] = []
    tracker = CallTracker(lambda: DIRECTORY, out.append)
    for msg in AmiParser().feed(ami_stream(uid, name, number), now=0.0):
        tracker.handle(msg)
    final = out[-1]
    with store.begin() as conn:
        db.upsert_calls(conn, [final])
    stored = db.get_call(store, uid)
    assert stored is not None and stored.outcome is not None
    return stored


def assert_shown_safely(rec: CallRecord) -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=200, force_terminal=False, color_system=None)
    present.print_calls([rec], CFG, "zh", console=console)
    text = buf.getvalue()
    assert not any(ord(c) < 32 and c != "\n" for c in text), repr(text[:200])
    assert "\x1b" not in text and "\x7f" not in text
    if "[bold red]" in rec.caller_name:
        assert "[bold red]" in text  # markup shown literally, not interpreted
    doc = json.loads(json.dumps(present.call_json(rec, CFG.site.timezone), ensure_ascii=False))
    assert doc["caller_name"] == rec.caller_name


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_nasty_names_are_stored_and_shown_safely(store, name: str):
    rec = through_everything(store, f"n{abs(hash(name))}", name.encode("utf-8"), b"13800000001")
    assert rec.caller_name and len(rec.caller_name) <= 255
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in rec.caller_name)
    if name.isprintable() and len(name) <= 255:
        assert rec.caller_name == name  # nothing harmless is altered
    assert_shown_safely(rec)
    assert db.query_calls(store)  # the table is still there


@pytest.mark.parametrize("number", ODD_NUMBERS)
def test_numbers_in_odd_formats(store, number: str):
    rec = through_everything(store, f"m{abs(hash(number))}", "张三".encode(), number.encode())
    assert rec.caller_number == ("" if number == "" else number[:64])
    assert rec.hotline == "12345" and rec.seat == "G01"
    assert_shown_safely(rec)


def test_invalid_utf8_becomes_replacement_characters(store):
    rec = through_everything(store, "bad-utf8", b"\xe5\xbc\xa0\xff\xfe\xe4\xb8", b"138\xff")
    assert rec.caller_name == "张\ufffd\ufffd\ufffd" and rec.caller_number == "138\ufffd"
    assert_shown_safely(rec)


@given(name=st.binary(max_size=400), number=st.binary(max_size=80))
@settings(max_examples=150, deadline=None)
def test_any_caller_id_bytes(store, name: bytes, number: bytes):
    rec = through_everything(store, "any", name, number)
    assert not any(ord(c) < 32 for c in rec.caller_name + rec.caller_number)
    assert_shown_safely(rec)


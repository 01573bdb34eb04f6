"""Fuzz targets over the three readers of untrusted input (atheris; docs/reliability.md).

Each target takes bytes and fails only on a real defect: an exception its reader does not
promise, or a broken invariant. The same functions are the bodies of hypothesis tests, so
`make test` covers them even where atheris is not installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from agi.protocol import AgiError, read_env
from callcore.ami import AmiParser
from config.loader import ConfigError, parse

_loop: asyncio.AbstractEventLoop | None = None


def ami_frames(data: bytes) -> None:
    """The AMI decoder: any bytes, in any chunks, never raise; frames map str to str."""
    parser = AmiParser(max_frame_bytes=4096)
    cut = data[0] if data else 0
    for chunk in (data[:cut], data[cut:]):
        for msg in parser.feed(chunk, now=0.0):
            assert isinstance(msg, Mapping) and ("Event" in msg or "Response" in msg)
            for key, value in msg.items():
                assert isinstance(key, str)
                assert isinstance(value, str | list | float), (key, value)
    assert len(parser._buf) <= parser.max_frame_bytes


def agi_request(data: bytes) -> None:
    """The FastAGI request reader: any bytes end in an environment or an AgiError."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()

    async def run() -> None:
        reader = asyncio.StreamReader(limit=2048)
        reader.feed_data(data)
        reader.feed_eof()
        try:
            env = await read_env(reader, deadline=1.0, max_line=1024, max_headers=16)
        except AgiError:
            return
        assert env and len(env) <= 16
        assert all(k.startswith("agi_") and "\n" not in v for k, v in env.items())

    _loop.run_until_complete(run())


def site_config(data: bytes) -> None:
    """The config loader: any text is a SiteConfig or a ConfigError naming the problems."""
    text = data.decode("utf-8", "replace")
    try:
        parse(text, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.problems and all(p.file == "fuzz.yaml" for p in exc.problems)
        str(exc)


TARGETS = {"ami": ami_frames, "agi": agi_request, "config": site_config}

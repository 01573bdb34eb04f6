"""What recordings are made of, without I/O: the spool file's name, a recording's row,
byte ranges of a download, and retention.

Asterisk names each file `<linkedid>+<leg>+<endpoint>+<uniqueid>+<epoch>` (dialplan.conf.j2):
the call, the leg kind, the PJSIP endpoint of the leg's channel (a seat's extension, a
trunk, a supervisor's extension), the channel, and when recording started. `.raw` while it
is written, `.done` once MixMonitor has stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import ClassVar

RATE = 8000  # MixMonitor's raw (slin) is 8 kHz, 16-bit little-endian
CHANNELS = 2  # D: what the leg's channel says, then what it hears
BYTES_PER_SECOND = RATE * CHANNELS * 2
LEGS = ("seat", "trunk", "supervisor", "outbound")
CODECS = {"opus": ("opus", "audio/ogg; codecs=opus"), "flac": ("flac", "audio/flac")}

_NAME = re.compile(
    r"^(?P<linkedid>[0-9.]{1,64})\+(?P<leg>[a-z]{1,16})\+(?P<endpoint>[0-9A-Za-z_-]{0,64})"
    r"\+(?P<uniqueid>[0-9.]{1,64})\+(?P<epoch>[0-9]{1,12})$"
)


class RangeError(ValueError):
    """A Range header that cannot be served (416)."""


@dataclass(frozen=True)
class SpoolName:
    """What a spool file's name says about its recording."""

    linkedid: str
    leg: str
    endpoint: str
    uniqueid: str
    started_at: datetime

    @classmethod
    def parse(cls, stem: str) -> SpoolName:
        m = _NAME.match(stem)
        if m is None:
            raise ValueError(f"not a recording's name: {stem[:120]!r}")
        started = datetime.fromtimestamp(int(m["epoch"]), UTC)
        leg = m["leg"] if m["leg"] in LEGS else "seat"
        return cls(m["linkedid"], leg, m["endpoint"], m["uniqueid"], started)

    @property
    def id(self) -> str:
        """The recording's id: its channel's uniqueid (one recording per channel)."""
        return self.uniqueid


@dataclass(frozen=True)
class RecordingRecord:
    """One stored recording; written through the store writer (kind `recording`)."""

    STORE_KIND: ClassVar[str] = "recording"

    id: str
    linkedid: str
    leg: str
    seat: str  # seat id, supervisor id or trunk id: who served this leg on 12345's side
    endpoint: str
    started_at: datetime
    duration: float  # seconds of audio
    size: int  # bytes of the stored file
    sha256: str
    codec: str
    path: str  # relative to the recordings folder: YYYY/MM/DD/<id>.<ext>
    as_of: float


def duration_of(raw_bytes: int) -> float:
    """Seconds of audio in a raw two-channel MixMonitor file of this size."""
    return round(raw_bytes / BYTES_PER_SECOND, 3)


def stored_path(name: SpoolName, codec: str, day: date) -> str:
    """Where a recording goes in the store: partitioned by the call's local day."""
    ext = CODECS[codec][0]
    safe = name.id.replace(".", "-")
    return f"{day:%Y/%m/%d}/{name.linkedid.replace('.', '-')}_{name.leg}_{safe}.{ext}"


def content_type(codec: str) -> str:
    return CODECS.get(codec, ("", "application/octet-stream"))[1]


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range (first, last, inclusive) a Range header asks for; None: whole.

    Only single `bytes=` ranges are served; several ranges, another unit, or a range
    outside the file raise RangeError (the reply is 416 with the file's size).
    """
    if header is None or not header.strip():
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        raise RangeError(f"only 'bytes=first-last' ranges are served, not {header[:60]!r}")
    if "," in spec:
        raise RangeError("only one range per request is served")
    first_s, dash, last_s = spec.strip().partition("-")
    if not dash or not (first_s.isdigit() or last_s.isdigit()):
        raise RangeError(f"malformed range {spec[:60]!r}")
    if not first_s.isdigit() and first_s:
        raise RangeError(f"malformed range {spec[:60]!r}")
    if last_s and not last_s.isdigit():
        raise RangeError(f"malformed range {spec[:60]!r}")
    if not first_s:  # suffix: the last N bytes
        n = int(last_s)
        if n == 0 or size == 0:
            raise RangeError("an empty suffix range")
        return max(size - n, 0), size - 1
    first = int(first_s)
    last = min(int(last_s), size - 1) if last_s else size - 1
    if first >= size or last < first:
        raise RangeError(f"range {spec[:60]!r} is outside the file of {size} bytes")
    return first, last


def retention_cutoff(now: datetime, days: int) -> datetime | None:
    """Recordings that started before this are expired; None when kept for ever."""
    return None if days <= 0 else now - timedelta(days=days)

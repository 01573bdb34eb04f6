"""Recordings over HTTP: a call's recordings, and one recording's audio (Range requests).

A seat token hears only calls its seat served a leg of; supervisors, admins and QA
reviewers hear all. Every list and every fetch, allowed or refused, is an audit row (who,
which, when). The QA desk links its samples to these two paths: they stay as they are.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiohttp import web

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.recordings.model import RangeError, content_type, parse_range
from callcore.features.recordings.service import RecordingService

api = Api(
    "recordings",
    "Call recordings (录音): every answered leg, two channels (12345 side, citizen). "
    "Seats hear their own calls; supervisors and QA reviewers all. Every access is audited.",
)
CALL_RECORDINGS = "/api/v1/calls/{linkedid}/recordings"
RECORDING = "/api/v1/recordings/{recording_id}"
CHUNK = 64 * 1024
_QA = frozenset({Role.QA})
_TEXT = {
    "no_call": ("没有此通话的录音", "no recordings of this call"),
    "not_found": ("录音不存在", "no such recording"),
    "not_yours": ("只能收听本座席参与的通话录音", "a seat hears only calls it served"),
    "missing": ("录音文件缺失", "the recording's file is missing"),
    "bad_range": ("无法满足的 Range 请求", "the Range cannot be served"),
}


class RecordingOut(Model):
    """One recorded leg of a call."""

    id: str
    linkedid: str
    leg: str
    seat: str
    started_at: datetime
    duration: float
    size: int
    sha256: str
    codec: str
    content_type: str
    url: str


class RecordingsOut(Model):
    linkedid: str
    recordings: list[RecordingOut]


def _lang(req: ApiRequest) -> str:
    return "en" if req.request.headers.get("Accept-Language", "").startswith("en") else "zh"


def _err(req: ApiRequest, status: int, code: str, extra: str = "") -> ApiError:
    zh, en = _TEXT[code]
    text = zh if _lang(req) == "zh" else en
    return ApiError(status, code, f"{text}: {extra}" if extra else text)


def _who(req: ApiRequest) -> tuple[str, str]:
    ident = req.identity
    assert ident is not None  # the endpoints need a token
    return ident.name, ident.role.value


async def _allowed(req: ApiRequest, svc: RecordingService, linkedid: str) -> bool:
    seat = req.own_seat_only()
    return seat is None or await asyncio.to_thread(svc.seat_served, seat, linkedid)


def _out(row: dict[str, Any]) -> RecordingOut:
    return RecordingOut(
        **{k: row[k] for k in ("id", "linkedid", "leg", "seat", "started_at", "duration")},
        **{k: row[k] for k in ("size", "sha256", "codec")},
        content_type=content_type(row["codec"]),
        url=RECORDING.format(recording_id=row["id"]),
    )


@api.get(CALL_RECORDINGS, role=Role.SEAT, also=_QA, response=RecordingsOut, errors=(403, 404))
async def call_recordings(req: ApiRequest) -> RecordingsOut:
    """The recordings of a call (every leg), the first first; audited."""
    svc: RecordingService = req.services.need("recordings")
    linkedid = req.path["linkedid"]
    actor, role = _who(req)
    rows = await asyncio.to_thread(svc.for_call, linkedid)
    if not await _allowed(req, svc, linkedid):
        svc.audit(actor, role, "recording_list", linkedid, error="not_yours")
        raise _err(req, 403, "not_yours")
    svc.audit(actor, role, "recording_list", linkedid, count=len(rows))
    if not rows:
        raise _err(req, 404, "no_call", linkedid)
    return RecordingsOut(linkedid=linkedid, recordings=[_out(r) for r in rows])


@api.get(
    RECORDING,
    role=Role.SEAT,
    also=_QA,
    content_type="audio/ogg",
    errors=(403, 404, 416),
)
async def get_recording(req: ApiRequest) -> web.StreamResponse:
    """A recording's audio (Ogg Opus or FLAC); `Range: bytes=a-b` gives 206; audited."""
    svc: RecordingService = req.services.need("recordings")
    rec_id = req.path["recording_id"]
    actor, role = _who(req)
    row = await asyncio.to_thread(svc.get, rec_id)
    if row is None:
        svc.audit(actor, role, "recording_get", rec_id, error="not_found")
        raise _err(req, 404, "not_found", rec_id)
    if not await _allowed(req, svc, row["linkedid"]):
        svc.audit(actor, role, "recording_get", rec_id, linkedid=row["linkedid"], error="not_yours")
        raise _err(req, 403, "not_yours")
    path = svc.file_of(row)
    try:
        size = (await asyncio.to_thread(path.stat)).st_size
    except OSError:
        svc.audit(actor, role, "recording_get", rec_id, linkedid=row["linkedid"], error="missing")
        raise _err(req, 404, "missing", rec_id) from None
    header = req.request.headers.get("Range")
    try:
        span = parse_range(header, size)
    except RangeError as exc:
        svc.audit(actor, role, "recording_get", rec_id, range=header, error="bad_range")
        refused = _err(req, 416, "bad_range", str(exc)).response()
        refused.headers["Content-Range"] = f"bytes */{size}"
        return refused
    svc.audit(actor, role, "recording_get", rec_id, linkedid=row["linkedid"], range=header)
    return await _stream(req.request, path, size, span, content_type(row["codec"]))


async def _stream(
    request: web.Request, path: Any, size: int, span: tuple[int, int] | None, ctype: str
) -> web.StreamResponse:
    """The file, or the asked range of it, read in chunks off the event loop."""
    first, last = span if span is not None else (0, size - 1)
    resp = web.StreamResponse(status=206 if span is not None else 200)
    resp.headers["Content-Type"] = ctype
    resp.headers["Accept-Ranges"] = "bytes"
    resp.headers["Cache-Control"] = "private, no-store"
    resp.content_length = last - first + 1 if size else 0
    if span is not None:
        resp.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    await resp.prepare(request)
    with await asyncio.to_thread(open, path, "rb") as f:
        await asyncio.to_thread(f.seek, first)
        left = last - first + 1 if size else 0
        while left > 0:
            chunk = await asyncio.to_thread(f.read, min(CHUNK, left))
            if not chunk:
                break
            await resp.write(chunk)
            left -= len(chunk)
    await resp.write_eof()
    return resp

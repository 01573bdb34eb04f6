"""The `recordings:` section: every answered leg recorded, where the files go, how long
they are kept, when the disk is too full, and the optional notice before a seat answers.

The store folder is the instance's `recordings/` unless `path` names another (absolute,
or relative to the instance home). Files are partitioned by day: `<path>/YYYY/MM/DD/`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from config.base import Strict

#: What a caller may hear before a seat answers, when a site turns the notice on.
DEFAULT_NOTICE = "您的通话将被录音。"


class RecordingSettings(Strict):
    """Recording of calls (录音): on by default; nothing here can stop a call."""

    enabled: bool = True
    # Where finished recordings live; None: <home>/recordings.
    path: str | None = None
    # Recordings older than this are deleted by the daily job (0: kept for ever).
    retention_days: Annotated[int, Field(ge=0, le=36_500)] = 180
    # Below this much free space in the store (MiB), recordings are reported at risk.
    min_free_mb: Annotated[int, Field(ge=0, le=100_000_000)] = 2048
    # opus: small and lossy (decisions.md); flac: lossless, about five times the size.
    codec: Literal["opus", "flac"] = "opus"
    bitrate_kbps: Annotated[int, Field(ge=12, le=128)] = 24  # opus only, both channels
    # Files compressed at once; 0: one per core. One encoder keeps up with ~70 calls at once.
    encoders: Annotated[int, Field(ge=0, le=64)] = 0
    # Spoken to the caller before the queue (espeak-ng); None: no notice.
    notice: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @field_validator("notice")
    @classmethod
    def _spoken(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank: the caller would hear silence")
        return v

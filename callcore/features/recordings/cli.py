"""`callcore recording list|get|purge`: the recordings store for operators, on the host.

Reads the instance's store directly (as `callcore calls` does). `get` copies a recording
out of the store and, like every access, is audited under the operator's login name.
"""

from __future__ import annotations

import getpass
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from callcore.commands import Context, fail, open_store, parse_since, pass_ctx
from callcore.features.recordings import kinds as _kinds  # noqa: F401  (the kind's rows)
from callcore.features.recordings.service import RecordingService
from callcore.store.kinds import clean_any, upsert_any


@contextmanager
def _service(c: Context) -> Iterator[RecordingService]:
    engine = open_store(c.inst)

    def submit(item: Any) -> None:
        with engine.begin() as conn:
            upsert_any(conn, [clean_any(item)])

    try:
        yield RecordingService(lambda: c.inst.config, c.inst.home, submit, lambda: engine)
    finally:
        engine.dispose()


def _operator() -> str:
    return f"operator:{getpass.getuser()}"


@click.group("recording")
def recording_group() -> None:
    """Call recordings (录音): list, copy one out, delete those past the retention."""


@recording_group.command("list")
@click.option("--call", "linkedid", help="Only this call's recordings (its linkedid).")
@click.option("--since", help="ISO time, 'today', or an age such as 2h, 7d.")
@click.option("--seat", help="Only legs this seat served.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@pass_ctx
def recording_list(
    c: Context, linkedid: str | None, since: str | None, seat: str | None, limit: int
) -> None:
    """One JSON line per recording, the newest first."""
    with _service(c) as svc:
        if linkedid:
            rows = svc.for_call(linkedid)
        else:
            rows = svc.list(parse_since(since, c.inst.config.site.timezone), seat, limit)
        svc.audit(_operator(), "operator", "recording_list", linkedid or "*", count=len(rows))
    for r in rows:
        click.echo(json.dumps(r, ensure_ascii=False, default=str))


@recording_group.command("get")
@click.argument("recording_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Where to copy it.")
@pass_ctx
def recording_get(c: Context, recording_id: str, output: str | None) -> None:
    """Copy a recording out of the store (default: its own file name, here)."""
    with _service(c) as svc:
        row = svc.get(recording_id)
        if row is None:
            svc.audit(_operator(), "operator", "recording_get", recording_id, error="not_found")
            fail(f"no recording {recording_id!r} (callcore recording list)")
        src = svc.file_of(row)
        dest = Path(output or src.name)
        try:
            shutil.copyfile(src, dest)
        except OSError as exc:
            svc.audit(_operator(), "operator", "recording_get", recording_id, error=str(exc))
            fail(f"{recording_id}: cannot copy {src} to {dest}: {exc}")
        svc.audit(_operator(), "operator", "recording_get", recording_id, to=str(dest))
    click.echo(f"{dest} ({row['codec']}, {row['duration']:.1f} s, sha256 {row['sha256']})")


@recording_group.command("purge")
@pass_ctx
def recording_purge(c: Context) -> None:
    """Delete the recordings past `recordings.retention_days` now (the engine does it daily)."""
    with _service(c) as svc:
        gone = svc.purge(actor=_operator())
    days = c.inst.config.recordings.retention_days
    click.echo(f"deleted {len(gone)} recording(s) older than {days} days")

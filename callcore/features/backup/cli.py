"""`callcore backup` and `callcore restore`."""

from __future__ import annotations

from pathlib import Path

import click

from callcore.commands import Context, fail, pass_ctx
from callcore.features.backup.service import BackupError, backup, restore, verify
from callcore.instance import Instance


@click.command("backup")
@click.option("--to", "target", type=click.Path(path_type=Path),
              help="Folder to put the backup in (default <home>/backups).")
@click.option("--recordings", "recordings", type=click.Path(path_type=Path), default=None,
              help="Also copy this recordings folder (large; usually backed up apart).")
@click.option("--check", "check", type=click.Path(path_type=Path), default=None,
              help="Only verify an existing backup folder (files and checksums).")
@pass_ctx
def backup_cmd(c: Context, target: Path | None, recordings: Path | None,
               check: Path | None) -> None:
    """Back up the store, the secrets and the journal while calls go on."""
    try:
        if check is not None:
            m = verify(check)
            click.echo(f"{check}: ok, {sum(m.rows.values())} rows, schema {m.revision}")
            return
        folder = backup(c.inst, target, recordings=recordings)
    except BackupError as exc:
        fail(str(exc))
    m = verify(folder)
    click.echo(str(folder))
    for table, n in sorted(m.rows.items()):
        click.echo(f"  {table:<28} {n:>9}")


@click.command("restore")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@pass_ctx
def restore_cmd(c: Context, folder: Path) -> None:
    """Restore a backup into this (fresh) instance home; checks every table's rows."""
    inst: Instance = c.inst
    try:
        out = restore(folder, inst)
    except BackupError as exc:
        fail(str(exc))
    bad = {t: (n, out["restored"].get(t)) for t, n in out["expected"].items()
           if out["restored"].get(t) != n}
    if bad:
        fail(f"restored rows differ from the backup: {bad}")
    click.echo(f"restored {sum(out['restored'].values())} rows (schema {out['revision']}) "
               f"into {inst.home}")

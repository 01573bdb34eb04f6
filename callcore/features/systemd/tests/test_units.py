"""The units and the logrotate rule an install writes are valid for systemd and logrotate,
start the right things in the right order, and keep the store's password out of them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcore.commands import Context
from callcore.features.systemd.cli import service_group
from callcore.features.systemd.units import Install, engine_unit, files

PG = "postgresql+psycopg2://cc:s3cret-pw@127.0.0.1:5432/hotline"


def install(tmp_path: Path, **kw) -> Install:
    exe = tmp_path / "bin" / "callcore"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return Install(exe=exe, home=tmp_path / "hotline", config=tmp_path / "site.yaml", **kw)


def test_the_engine_comes_after_asterisk_and_the_local_databases(tmp_path: Path):
    i = install(tmp_path, db_url=PG, redis_url="redis://127.0.0.1:6379/0")
    unit = engine_unit(i)
    after = next(line for line in unit.splitlines() if line.startswith("After="))
    assert "postgresql.service" in after and "redis-server.service" in after
    assert "callcore-hotline-asterisk.service" in after
    assert "BindsTo" not in unit  # an Asterisk restart does not stop the engine
    assert "Restart=always" in unit and f"--home {i.home}" in unit
    remote = engine_unit(install(tmp_path, db_url=PG.replace("127.0.0.1", "db.example")))
    assert "postgresql.service" not in remote


def test_the_password_is_only_in_the_environment_file(tmp_path: Path):
    i = install(tmp_path, db_url=PG)
    written = files(i, tmp_path / "units", tmp_path / "logrotate")
    for path, (text, mode) in written.items():
        if path == i.env_file:
            assert "s3cret-pw" in text and mode == 0o600
        else:
            assert "s3cret-pw" not in text and mode == 0o644


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_units(tmp_path: Path):
    runner = CliRunner()
    out = runner.invoke(
        service_group,
        ["install", "--unit-dir", str(tmp_path / "units"), "--logrotate-dir", str(tmp_path / "lr")],
        obj=Context(str(tmp_path / "hotline"), None),
    )
    assert out.exit_code == 0, out.output
    units = sorted((tmp_path / "units").glob("*.service"))
    assert [u.name for u in units] == [
        "callcore-hotline-asterisk.service", "callcore-hotline-engine.service"
    ]
    res = subprocess.run(["systemd-analyze", "verify", *map(str, units)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "hotline" / "etc" / "callcore.env").stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="no logrotate")
def test_logrotate_accepts_the_rule_and_leaves_queue_log_alone(tmp_path: Path):
    i = install(tmp_path)
    (i.home / "log").mkdir(parents=True)
    for name in ("messages", "queue_log"):
        (i.home / "log" / name).write_text("x\n")
    path, (text, _) = next((p, v) for p, v in files(i, tmp_path, tmp_path / "lr").items()
                           if p.parent.name == "lr")
    path.parent.mkdir()
    path.write_text(text)
    res = subprocess.run(["logrotate", "-d", "-s", str(tmp_path / "state"), str(path)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    considered = [line for line in res.stderr.splitlines() if "considering log" in line]
    assert any(line.endswith("log/messages") for line in considered), res.stderr
    assert not any("queue_log" in line for line in considered)

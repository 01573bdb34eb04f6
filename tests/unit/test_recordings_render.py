"""The rendered dialplan records every leg that carries a call (callcore/features/recordings/
dialplan.conf.j2), and the recording notice is there only when a site turns it on."""

from __future__ import annotations

from pathlib import Path

import yaml

from callcore.asterisk import render
from callcore.asterisk.runtime import Runtime
from callcore.instance import Instance
from config.loader import DEFAULT_PATH

HOST = Runtime(None, "/usr/sbin/asterisk")


def rendered(tmp_path: Path, recordings: dict | None = None, bare: bool = False) -> dict:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    if recordings is not None:
        data["recordings"] = recordings
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return render.render(Instance(tmp_path / "home", site), HOST, bare).files


def test_every_leg_is_recorded(tmp_path: Path):
    files = rendered(tmp_path)
    ext = files["extensions.conf"]
    assert "load => app_mixmonitor.so" in files["modules.conf"]
    # the seat's leg in the caller's queue and after a transfer; the 12366 trunk's leg
    assert ext.count(",,cc-record-seat)") == 2
    assert "U(cc-log-trunkans)" in ext and "rU(cc-record-trunk)" in ext
    assert "same => n,Gosub(cc-record-trunk,s,1)" in ext
    # a whispering or barging supervisor, filed under the spied call
    assert ext.count("Gosub(cc-record-spy,s,1)") == 2
    spool = str(tmp_path / "home" / "spool" / "recordings")
    assert "MixMonitor(${CC_REC_NAME}.raw,D,mv ${CC_REC_NAME}.raw ${CC_REC_NAME}.done)" in ext
    assert f"Set(CC_REC_NAME={spool}/" in ext
    assert "[cc-record-outbound]" in ext
    assert "cc-record-notice" not in ext  # off by default


def test_recording_off_and_bare_asterisk_record_nothing(tmp_path: Path):
    for ext in (
        rendered(tmp_path, {"enabled": False})["extensions.conf"],
        rendered(tmp_path, bare=True)["extensions.conf"],
    ):
        assert "MixMonitor(" not in ext
        assert "[cc-record]\nexten => s,1,Return()" in ext  # the entry points still exist


def test_the_notice_plays_before_the_queue_when_turned_on(tmp_path: Path):
    ext = rendered(tmp_path, {"notice": "您的通话将被录音"})["extensions.conf"]
    deliver = ext[ext.index("[cc-deliver]") : ext.index("[cc-log]")]
    assert deliver.index("Gosub(cc-record-notice,s,1)") < deliver.index("Queue(")
    assert "Playback(${CC_SOUNDS}/recording-notice,noanswer)" in ext

"""The rendered Asterisk configuration: complete, least-privileged, no secrets in the clear."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
import yaml

from callcore.asterisk import render
from callcore.asterisk.runtime import Runtime
from callcore.instance import Instance
from config.directory import Directory
from config.loader import DEFAULT_PATH, ConfigError

HOST = Runtime(None, "/usr/sbin/asterisk")


@pytest.fixture
def inst(tmp_path) -> Instance:
    return Instance(tmp_path / "home", DEFAULT_PATH)


def test_every_template_renders(inst):
    files = render.render(inst, HOST).files
    for name in (
        "asterisk.conf",
        "modules.conf",
        "pjsip.conf",
        "extensions.conf",
        "queues.conf",
        "manager.conf",
        "musiconhold.conf",
        "queuerules.conf",
        "logger.conf",
    ):
        assert name in files and files[name].strip()


def test_seat_passwords_are_not_in_the_rendered_files(inst):
    files = render.render(inst, HOST).files
    secrets = inst.secrets()
    everything = "\n".join(files.values())
    for pw in secrets.seat_passwords.values():
        assert pw not in everything
    assert "password_digest = MD5:" in files["pjsip.conf"]
    assert "\npassword =" not in files["pjsip.conf"]
    assert stat.S_IMODE(os.stat(inst.secrets_file).st_mode) == 0o600


def test_ami_is_loopback_least_privilege_and_filtered(inst):
    m = render.render(inst, HOST).files["manager.conf"]
    assert "bindaddr = 127.0.0.1" in m
    assert "deny = 0.0.0.0/0.0.0.0" in m and "permit = 127.0.0.1/255.255.255.255" in m
    write = re.search(r"^write = (.*)$", m, re.M).group(1).split(",")
    assert "command" not in write and "config" not in write
    assert "eventfilter(action(include),name(AgentConnect)) =" in m


def test_queues_one_per_zone_and_no_reserved_name(inst):
    q = render.render(inst, HOST).files["queues.conf"]
    sections = re.findall(r"^\[([^\]]+)\]", q, re.M)
    assert sections[0] == "general"
    assert sorted(sections[1:]) == sorted(z.queue for z in inst.config.zones)
    assert "persistentmembers = yes" in q


def test_static_dialplan_has_every_number_shape(inst):
    ext = render.render(inst, HOST).files["extensions.conf"]
    static = ext.split("[cc-static]")[1].split("\n[")[0]
    for h in inst.config.hotlines:
        for v in Directory(inst.config).variants(h):
            assert re.search(rf"^exten => {re.escape(v)},1,", static, re.M), v
    assert "exten => _X!,1,Gosub(cc-static-set,s,1(queue,q-general" in static


def test_bad_config_renders_nothing(tmp_path):
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    bad = tmp_path / "bad.yaml"
    good_home = tmp_path / "home"
    inst = Instance(good_home, DEFAULT_PATH)
    render.write(inst, render.render(inst, HOST))
    before = {p.name: p.read_text() for p in inst.etc.iterdir()}
    data["hotlines"][0]["zone"] = "nowhere"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError):
        render.render(Instance(good_home, bad), HOST)
    assert {p.name: p.read_text() for p in inst.etc.iterdir()} == before


def test_rewrite_reports_only_changed_files(inst):
    first = render.write(inst, render.render(inst, HOST))
    assert "extensions.conf" in first
    assert render.write(inst, render.render(inst, HOST)) == []
    assert render.modules_to_reload(["extensions.conf", "queues.conf", "queuerules.conf"]) == [
        "app_queue.so",
        "pbx_config.so",
    ]


def test_templates_live_in_asterisk_conf():
    assert render.TEMPLATES == Path(__file__).resolve().parents[2] / "asterisk-conf"


def test_bare_mode_is_asterisk_without_callcore(inst):
    """The benchmark baseline: same queues and static routes, no AGI, events or queue_log."""
    full = render.render(inst, HOST).files["extensions.conf"]
    bare = render.render(inst, HOST, bare=True).files["extensions.conf"]
    for callcore_only in ("AGI(", "QueueLog("):
        assert callcore_only in full and callcore_only not in bare, callcore_only
    path = "".join(_context(bare, c) for c in ("cc-inbound", "cc-deliver", "cc-log"))
    assert "UserEvent(" not in path and "Dial(Local/" not in path
    for both in ("Queue(${CC_QUEUE}", "[cc-static]", "Gosub(cc-log,in,1)"):
        assert both in full and both in bare, both


def _context(conf: str, name: str) -> str:
    body = conf.split(f"\n[{name}]\n", 1)[1]
    return body.split("\n[", 1)[0]


def test_generated_sip_passwords_are_plain_text_to_every_client():
    from callcore.instance import sip_password

    pws = [sip_password() for _ in range(20000)]
    assert not any(pw.startswith(("0x", "-")) for pw in pws)
    assert len(set(pws)) == len(pws) and all(len(pw) == 16 for pw in pws)


def test_every_transfer_target_is_caught_and_explicit_targets_come_first(inst):
    """Whatever a softphone transfers to exists in cc-transfer (Asterisk refuses a REFER
    to an extension that does not, and some softphones then drop the caller); the
    configured targets are explicit extensions, which win over the catch-all patterns."""
    ext = render.render(inst, HOST).files["extensions.conf"]
    xfer = ext.split("[cc-transfer]")[1].split("\n[")[0]
    catch = "Gosub(cc-xfer-invalid,s,1(${FILTER(0-9A-Za-z*#+,${EXTEN})}))"
    for pattern in ("_X", "_X.", "_[A-Za-z*#+]."):
        assert f"exten => {pattern},1,{catch}" in xfer, pattern
    assert "exten => i,1,Gosub(cc-xfer-invalid" in xfer
    assert "exten => 12333,1,Gosub(cc-xfer,s,1(queue,q-hrss" in xfer
    invalid = ext.split("[cc-xfer-invalid]")[1].split("\n[")[0]
    assert "UserEvent(CallcoreTransferInvalid" in invalid
    assert "Playback(${CC_SOUNDS}/cc-xfer-invalid,noanswer)" in invalid
    assert "Goto(cc-xfer,s,queue)" in invalid


def test_the_wrong_number_notice_is_spoken_from_the_config(tmp_path):
    from callcore.asterisk.sounds import make_all

    cfg = Instance(tmp_path / "home", DEFAULT_PATH).config
    made = {p.name for p in make_all(cfg, tmp_path / "sounds", tmp_path)}
    assert "cc-xfer-invalid.wav" in made
    stamp = (tmp_path / "sounds" / "cc-xfer-invalid.sha256").read_text()
    changed = cfg.model_copy(update={"transfers": cfg.transfers.model_copy(
        update={"wrong_number_notice": "号码有误。"})})  # fmt: skip
    make_all(changed, tmp_path / "sounds", tmp_path)
    assert (tmp_path / "sounds" / "cc-xfer-invalid.sha256").read_text() != stamp

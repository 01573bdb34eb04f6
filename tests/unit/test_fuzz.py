"""Hostile bytes for the three readers of untrusted input: hypothesis here, atheris briefly.

The atheris runs are bounded (a few seconds each, `CALLCORE_FUZZ_SECONDS`); longer runs
are `python -m fuzz.run <target> -max_total_time=N` (docs/reliability.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.loader import DEFAULT_PATH
from fuzz.targets import TARGETS, agi_request, ami_frames, site_config

ROOT = Path(__file__).resolve().parents[2]
SECONDS = int(os.environ.get("CALLCORE_FUZZ_SECONDS", "4"))
SITE_YAML = DEFAULT_PATH.read_text(encoding="utf-8")


@given(st.binary(max_size=2000))
@settings(max_examples=400, deadline=None)
def test_ami_decoder_on_any_bytes(data: bytes):
    ami_frames(data)


_header = st.sampled_from(["agi_network: yes", "agi_arg_1: 12345", "agi_channel: PJSIP/x-1",
                           "agi_arg_2: a\rb", "agi_calleridname: 张三", "agi_arg_1: again"])


@given(st.lists(st.one_of(_header, st.text(max_size=40)), max_size=20),
       st.sampled_from(["\n", "\r\n"]), st.booleans())
@settings(max_examples=300, deadline=None)
def test_agi_request_reader_on_hostile_environments(lines, eol, blank):
    agi_request((eol.join(lines) + (eol * 2 if blank else "")).encode("utf-8", "surrogatepass"))


@given(st.integers(0, len(SITE_YAML) - 1), st.text(max_size=12), st.integers(0, 40))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_config_loader_on_mangled_site_files(at: int, insert: str, cut: int):
    site_config((SITE_YAML[:at] + insert + SITE_YAML[at + cut:]).encode())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_atheris_bounded_run(target: str, tmp_path: Path):
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "fuzz" / "corpus" / target, corpus)
    res = subprocess.run(
        [sys.executable, "-m", "fuzz.run", target, f"-max_total_time={SECONDS}",
         "-rss_limit_mb=1024", f"-artifact_prefix={tmp_path}/", str(corpus)],
        cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 60,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Done" in res.stderr and "runs in" in res.stderr

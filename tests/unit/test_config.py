"""The site config: the default is the plan's directory; every kind of mistake is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import config
from config.loader import DEFAULT_PATH, ConfigError
from config.schema import Mode

# The plan's annex: 29 department numbers plus 12366 (number -> mode).
PLAN = {
    "12349": "cancelled",
    "12336": "cancelled",
    "12312": "cancelled",
    "12356": "cancelled",
    "96119": "cancelled",
    "12330": "cancelled",
    "12331": "cancelled",
    "12358": "cancelled",
    "12365": "cancelled",
    "96510": "cancelled",
    "96196": "cancelled",
    "12319": "cancelled",
    "12316": "cancelled",
    "12318": "cancelled",
    "12385": "cancelled",
    "12313": "cancelled",
    "81610000": "cancelled",
    "88880110": "cancelled",
    "88348666-1": "cancelled",
    "88210110": "cancelled",
    "12348": "retained",
    "12333": "retained",
    "12369": "cancelled",
    "12329": "retained",
    "12328": "retained",
    "12320": "cancelled",
    "12350": "retained",
    "12315": "retained",
    "12393": "retained",
    "12366": "subcentre",
}


def default_data() -> dict:
    return yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))


def problems_of(data: dict | str, tmp_path: Path) -> str:
    path = tmp_path / "site.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    return str(info.value)


def test_default_config_is_the_plan_directory():
    cfg = config.load()
    numbers = {h.number: h.mode.value for h in cfg.hotlines if h.mode is not Mode.MAIN}
    assert numbers == PLAN
    assert len(numbers) == 30
    assert cfg.main.number == "12345"
    assert sum(1 for h in cfg.hotlines if h.mode is Mode.RETAINED) == 7
    assert sum(1 for h in cfg.hotlines if h.mode is Mode.CANCELLED) == 22
    for h in cfg.hotlines:
        assert h.name and h.unit.startswith("市"), h.number
        if h.mode is Mode.CANCELLED:
            assert "12345" in h.notice or "一二三四五" in h.notice
            assert h.transition is not None
    # each kept number lands in its own expert zone, 12366 has its zone of 2-3 seats
    zones = {h.zone for h in cfg.hotlines if h.mode is Mode.RETAINED}
    assert len(zones) == 7
    tax = next(h for h in cfg.hotlines if h.number == "12366")
    assert 2 <= sum(1 for s in cfg.seats if s.zone == tax.zone) <= 3


def test_names_stay_chinese():
    cfg = config.load()
    h = next(h for h in cfg.hotlines if h.number == "12393")
    assert h.name == "医疗保障"
    assert h.unit == "市医保局"


def test_duplicate_number(tmp_path):
    d = default_data()
    d["hotlines"][3]["number"] = d["hotlines"][2]["number"]
    msg = problems_of(d, tmp_path)
    assert "site.yaml" in msg and "hotlines[3]" in msg and "duplicate" in msg


def test_unknown_zone_of_a_number(tmp_path):
    d = default_data()
    d["hotlines"][1]["zone"] = "nowhere"
    msg = problems_of(d, tmp_path)
    assert "hotlines[1](12348).zone" in msg and "unknown zone 'nowhere'" in msg


def test_bad_dates(tmp_path):
    d = default_data()
    h = next(h for h in d["hotlines"] if h["number"] == "12349")
    h["transition"] = {"start": "2022-05-01", "end": "2021-01-01"}
    assert "before start" in problems_of(d, tmp_path)
    h["transition"] = {"start": "2022-13-45", "end": "2023-01-01"}
    msg = problems_of(d, tmp_path)
    assert "transition.start" in msg


def test_impossible_unquoted_date_names_its_key(tmp_path):
    """YAML would read `2021-16-30` as a timestamp and fail with no line or key."""
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert "{start: 2021-11-20," in text
    text = text.replace("{start: 2021-11-20,", "{start: 2021-16-30,", 1)
    msg = problems_of(text, tmp_path)
    assert ".transition.start:" in msg and "month" in msg


@pytest.mark.parametrize("text", ["site: " + "[" * 3000, "site: !!int 0x\n"])
def test_values_yaml_itself_cannot_build_are_named(tmp_path, text):
    """Deep nesting and a bad explicit tag fail inside PyYAML's constructors, not its parser."""
    msg = problems_of(text, tmp_path)
    assert msg.startswith(str(tmp_path / "site.yaml")) and "YAML value" in msg


def test_cancelled_number_without_notice(tmp_path):
    d = default_data()
    h = next(h for h in d["hotlines"] if h["number"] == "96119")
    del h["notice"]
    msg = problems_of(d, tmp_path)
    assert "(96119)" in msg and "notice" in msg


def test_seat_in_unknown_zone(tmp_path):
    d = default_data()
    d["seats"][0]["zone"] = "mars"
    d["seats"][1]["skills"] = {"venus": 2}
    msg = problems_of(d, tmp_path)
    assert "seats[0](G01).zone: unknown zone 'mars'" in msg
    assert "seats[1](G02).skills.venus: unknown zone 'venus'" in msg


def test_unknown_key_and_line_number(tmp_path):
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace("  area_code:", "  area_cod:", 1)
    msg = problems_of(text, tmp_path)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "area_cod:" in ln)
    assert f"site.yaml:{line}: site.area_cod: unknown key" in msg


def test_yaml_syntax_error_names_the_line(tmp_path):
    msg = problems_of("site:\n  name: [unclosed\n", tmp_path)
    assert "site.yaml:" in msg and "YAML syntax" in msg


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        config.load(tmp_path / "absent.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"site: \xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(bad)


def test_several_problems_reported_at_once(tmp_path):
    d = default_data()
    d["hotlines"][1]["zone"] = "nowhere"
    d["seats"][0]["zone"] = "mars"
    msg = problems_of(d, tmp_path)
    assert msg.count("\n") >= 1 and "nowhere" in msg and "mars" in msg


def test_config_check_exits_non_zero(tmp_path):
    d = default_data()
    d["hotlines"][1]["zone"] = "nowhere"
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-m", "callcore.cli", "--config", str(path), "config", "check"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1
    assert "hotlines[1](12348).zone" in res.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "callcore.cli", "config", "check"], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr

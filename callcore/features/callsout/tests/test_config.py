"""The `callsout:` section is checked at load: each problem names its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.loader import DEFAULT_PATH, ConfigError, load


def site_with(tmp_path: Path, section: dict) -> Path:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["callsout"] = section
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_the_defaults_load() -> None:
    cfg = load(DEFAULT_PATH).callsout
    assert cfg.caller_id == "12345" and [e.code for e in cfg.emergency] == [
        "110",
        "119",
        "120",
        "122",
    ]
    assert f"{cfg.rest_hours.start:%H:%M}-{cfg.rest_hours.end:%H:%M}" == "21:00-08:00"


@pytest.mark.parametrize(
    ("section", "where", "what"),
    [
        ({"rest_hours": {"start": 1260}}, "callsout.rest_hours.start", "in quotes"),
        ({"caller_id": "12-345"}, "callsout.caller_id", "pattern"),
        ({"attempts": {"max": 0}}, "callsout.attempts.max", "greater than or equal"),
        ({"callbacks": {"zones": {"nowhere": "auto"}}}, "callsout.callbacks.zones", "unknown zone"),
        ({"emergency": [{"code": "12333", "name": "x"}]}, "callsout.emergency", "hotlines"),
        ({"emergency": [{"code": "110", "name": "a"}, {"code": "110", "name": "b"}]},
         "callsout.emergency", "duplicate"),
        ({"present": "mine"}, "callsout.present", "hotline"),
    ],
)  # fmt: skip
def test_problems_name_file_key_and_what(tmp_path: Path, section: dict, where: str, what: str):
    with pytest.raises(ConfigError) as err:
        load(site_with(tmp_path, section))
    text = str(err.value)
    assert "site.yaml" in text and where in text and what in text, text

"""A bad `recordings:` section of the site config names its key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from config.loader import DEFAULT_PATH, ConfigError, load


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"codec": "mp3"}, "recordings.codec"),
        ({"retention_days": -1}, "recordings.retention_days"),
        ({"notice": "  "}, "recordings.notice"),
        ({"min_free": 5}, "recordings.min_free"),
    ],
)
def test_a_bad_recordings_section_names_the_key(tmp_path: Path, section: dict, key: str):
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["recordings"] = section
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(site)
    assert key in str(info.value) and "site.yaml" in str(info.value)

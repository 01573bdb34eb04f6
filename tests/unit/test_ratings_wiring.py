"""Ratings as wired: the dialplan contexts rendered with ratings on and off, and the
`callcore ratings` command on a real store."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from click.testing import CliRunner

import config
from callcore.asterisk import render
from callcore.asterisk.runtime import Runtime
from callcore.cli import main
from callcore.features.ratings.tests.test_ratings_api import store_calls
from callcore.instance import Instance
from callcore.store import db
from config.loader import DEFAULT_PATH

SITE = config.load()
HOST = Runtime(None, "/usr/sbin/asterisk")


def extensions(tmp_path: Path, ratings_on: bool) -> str:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    if not ratings_on:
        data.pop("ratings")
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return render.render(Instance(tmp_path / "home", path), HOST).files["extensions.conf"]


def test_ratings_on_every_queue_lets_the_caller_stay_and_rate(tmp_path: Path):
    ext = extensions(tmp_path, True)
    assert ext.count("Queue(${CC_QUEUE},rtc,") == 2  # cc-deliver and cc-xfer
    assert ext.count("Gosub(cc-rating-arm,s,1(citizen))") == 1  # cc-deliver: a citizen
    assert ext.count("Gosub(cc-rating-arm,s,1(again))") == 1  # cc-xfer: only if armed
    assert "Dial(${CC_AFF},${CC_AFF_SECS},tg)" in ext
    for key in SITE.ratings.keys:
        assert f"exten => {key},1,Gosub(cc-rating-end,s,1(rated,${{EXTEN}}))" in ext
    assert "Background(${CC_SOUNDS}/rating-prompt)" in ext
    assert f"WaitExten({SITE.ratings.wait_seconds})" in ext
    assert "CCRATE,${STRFTIME(,,%s.%3q)}|${ARG1}|${ARG2})" in ext
    assert "hangup_handler_push)=cc-rating-hangup" in ext
    # nothing before a human: the prompt is only reached after a Queue()/Dial() returns
    before = ext.split("[cc-deliver]")[1].split("Queue(")[0]
    assert "cc-rating,s,1" not in before and "Background" not in before


def test_ratings_off_ends_the_call_with_the_seat(tmp_path: Path):
    ext = extensions(tmp_path, False)
    assert "Queue(${CC_QUEUE},rt,," in ext and "rtc" not in ext
    assert "Dial(${CC_AFF},${CC_AFF_SECS},t)" in ext
    assert not re.search(r"cc-rating|CCRATE|rating-prompt", ext)


def test_the_ratings_command(tmp_path: Path, url: str):
    home = tmp_path / "home"
    engine = db.make_engine(url)
    db.upgrade(engine)
    store_calls(engine)
    engine.dispose()
    env = {"CALLCORE_DB_URL": url}
    base = ["--home", str(home), "ratings"]
    res = CliRunner().invoke(main, [*base, "figures", "--since", "1d", "--by", "seat"], env=env)
    assert res.exit_code == 0, res.output
    assert "满意率" in res.output and "G01  2  2  0  100.0%  50.0%" in res.output
    res = CliRunner().invoke(main, [*base, "list", "--since", "1d", "--unsatisfied"], env=env)
    assert res.exit_code == 0 and "L1" in res.output and "不满意" in res.output
    res = CliRunner().invoke(main, [*base, "show", "L9"], env=env)
    assert res.exit_code == 1 and "no rating for call 'L9'" in res.output

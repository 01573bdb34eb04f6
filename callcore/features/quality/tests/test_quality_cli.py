"""`callcore qa` round trip on each database: draw a day (twice), the queue, show a sample,
score, correct, summaries, in Chinese and English, and the mistakes a person would make."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select

from callcore.features.quality.cli import qa
from callcore.features.quality.service import audit_t
from callcore.features.quality.tests.test_quality_store import DAY, call, seed
from callcore.store.db import make_engine, upgrade, upsert_calls

D = DAY.isoformat()
FULL = ["-p", "opening=10", "-p", "listening=25", "-p", "answer=30", "-p", "attitude=20",
        "-p", "closing=15"]  # fmt: skip


def run(url: str, *args: str, code: int = 0, lang: str = "zh") -> str:
    result = CliRunner().invoke(qa, ["--db", url, "--actor", "赵静", "--lang", lang, *args])
    assert result.exit_code == code, result.output
    return result.output


def seeded(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    seed(engine)
    with engine.begin() as conn:
        upsert_calls(conn, [call("g01.long", "G01", 50, talk=30 * 60, caller_number="13812345678")])
    engine.dispose()


def test_round_trip(url: str):
    seeded(url)
    first = run(url, "draw", "--day", D)
    assert first.startswith(f"已抽取 {D} 的质检样本 ") and first == run(url, "draw", "--day", D)
    queued = json.loads(run(url, "queue", "--day", D, "--json"))
    assert {q["reviewer"] for q in queued} == {"QA01", "QA02"}
    table = run(url, "queue", "--reviewer", "QA01", "--seat", "G01")
    assert "质检样本" in table and "超长通话" in table and "待评" in table
    assert "QA02" not in table

    shown = run(url, "show", "g01.long")
    assert "主叫号码: 138****5678" in shown and "13812345678" not in shown
    assert "录音: /api/v1/calls/g01.long/recordings" in shown and "满意度评价: 未评价" in shown
    assert "满意度评价: 不满意" in run(url, "show", "g01.7")

    saved = run(url, "score", "g01.long", "--reviewer", "QA01", *FULL[:-2], "-p", "closing=5",
                "--note", "closing=未引导评价")  # fmt: skip
    assert "已保存 g01.long 的评分（版本 1）：90 分" in saved
    assert "请提交更正" in run(url, "score", "g01.long", "--reviewer", "QA01", *FULL, code=1)
    fixed = run(url, "correct", "g01.long", "--reviewer", "QA02", *FULL, "--fail", "abuse",
                "--reason", "复听：顶撞来电人")  # fmt: skip
    assert "（版本 2）：0 分" in fixed
    shown = run(url, "show", "g01.long")
    assert "版本 1：90 分（QA01" in shown and "版本 2：0 分（QA02" in shown
    assert "一票否决：abuse" in shown and "更正原因：复听：顶撞来电人" in shown
    assert "g01.long" in run(url, "queue", "--status", "scored")
    assert "g01.long" not in run(url, "queue", "--reviewer", "QA01")

    month = json.loads(run(url, "summary", "--since", "2026-03-01", "--until", "2026-04-01",
                           "--period", "month", "--json"))  # fmt: skip
    assert month == [{"seat": "G01", "period": "2026-03", "count": 1, "average": 0.0, "fails": 1}]
    assert "QA summary" in run(url, "summary", "--since", D, "--until", "2026-03-03", lang="en")

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(audit_t.c.action, audit_t.c.actor, audit_t.c.role)).all()
    engine.dispose()
    assert ("qa_score", "赵静", "cli") in rows and ("qa_correct", "赵静", "cli") in rows
    assert sum(r[0] == "qa_view" for r in rows) == 3  # every show


def test_mistakes_are_explained(url: str):
    seeded(url)
    run(url, "draw", "--day", D)
    assert "该通话未被抽中质检" in run(url, "show", "nope", code=1)
    assert "is not sampled" in run(url, "show", "nope", code=1, lang="en")
    bad = run(url, "score", "g01.long", "--reviewer", "QA01", *FULL[:-2], code=1)
    assert "评分有误" in bad and "'closing'" in bad
    assert "不是质检员" in run(url, "score", "g01.long", "--reviewer", "X", *FULL, code=1)
    assert "项目=值" in run(url, "score", "g01.long", "--reviewer", "QA01", "-p", "x", code=2)
    assert "无可更正" in run(url, "correct", "g01.3", "--reviewer", "QA01", *FULL,
                             "--reason", "r", code=1)  # fmt: skip
    assert "YYYY-MM-DD" in run(url, "draw", "--day", "昨天", code=2)
    assert "没有符合条件的样本" in run(url, "queue", "--day", "2026-01-01")


def test_without_a_store_it_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("CALLCORE_DB_URL", raising=False)
    result = CliRunner().invoke(qa, ["queue"])
    assert result.exit_code == 1 and "--db" in result.output

"""`kb` round trip on each database: import the sample, search, show, add, edit, delete,
with the errors a person would make."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from callcore.features.knowledge.cli import kb
from callcore.features.knowledge.tests.conftest import SAMPLE


def run(url: str, *args: str, code: int = 0, stdin: str | None = None) -> str:
    result = CliRunner().invoke(kb, ["--db", url, "--actor", "钱主管", *args], input=stdin)
    assert result.exit_code == code, result.output
    return result.output


def test_round_trip(url: str, tmp_path: Path):
    assert "新增 17 篇" in run(url, "import", str(SAMPLE))
    assert "新增 0 篇，更新 0 篇，未变 17 篇" in run(url, "import", str(SAMPLE))

    out = run(url, "search", "公积金提取")
    assert out.splitlines()[0].startswith("1. 住房公积金提取办理指南") and "gjj-tiqu" in out
    hits = json.loads(run(url, "search", "发票", "--json"))
    assert hits["hits"][0]["id"] == "sw-fapiao"
    assert "yb-jumin-2024" not in run(url, "search", "城乡居民医保集中缴费")
    assert "不在有效期内" in run(url, "search", "城乡居民医保集中缴费", "--all")

    shown = run(url, "show", "yb-yidi")
    assert shown.startswith("异地就医备案办理指南") and "责任单位: 市医保局" in shown

    body = tmp_path / "body.md"
    body.write_text("## 办理\n老年人凭敬老卡免费乘坐公交。\n", encoding="utf-8")
    assert "已保存 jlk（版本 1）" in run(
        url, "add", "--id", "jlk", "--title", "敬老卡乘车", "--body-file", str(body),
        "--unit", "市交通局", "--class", "jt.gj", "--class-name", "交通/公交",
        "--from", "2026-01-01",
    )  # fmt: skip
    assert "jlk" in run(url, "search", "敬老卡")
    assert "已保存 jlk（版本 2）" in run(
        url, "edit", "jlk", "--body-file", "-", "--expect-version", "1",
        stdin="凭敬老卡半价乘坐地铁。",
    )  # fmt: skip
    made = json.loads(run(url, "show", "jlk", "--json"))
    assert made["body"] == "凭敬老卡半价乘坐地铁。" and made["updated_by"] == "钱主管"
    assert made["class_name"] == "交通/公交" and made["valid_from"] == "2026-01-01"
    assert "已被他人修改" in run(
        url, "edit", "jlk", "--title", "x", "--expect-version", "1", code=1
    )
    assert "已保存 jlk（版本 3）" in run(url, "edit", "jlk", "--from", "none")
    assert json.loads(run(url, "show", "jlk", "--json"))["valid_from"] is None
    assert "已删除 jlk" in run(url, "delete", "jlk")
    assert "没有编号为 jlk 的知识" in run(url, "show", "jlk", code=1)
    assert "没有找到相关知识" in run(url, "search", "敬老卡")


def test_mistakes_are_explained(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/kb.db"
    out = run(url, "add", "--title", "无单位", "--body", "正文", code=1)
    assert "责任单位（unit）：缺少必填项" in out
    out = run(url, "add", "--title", "t", "--body", "b", "--unit", "u",
              "--from", "2026-05-01", "--until", "2026-01-01", code=1)  # fmt: skip
    assert "失效日期 2026-01-01 早于生效日期 2026-05-01" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("编号,标题,正文,责任单位\nok,标题,正文,u\n,缺编号,正文,u\n", encoding="utf-8")
    out = run(url, "import", str(bad), code=1)
    assert "导入未执行（共 1 处问题" in out and f"{bad}:3:" in out
    assert "0/0" in run(url, "list")
    assert "1 ok" in run(url, "import", "--check", str(SAMPLE / "gjj-tiqu.md"))
    out = run(url, "--lang", "en", "show", "nope", code=1)
    assert "no article nope" in out
    assert "enter something" in run(url, "--lang", "en", "search", "，", code=1)

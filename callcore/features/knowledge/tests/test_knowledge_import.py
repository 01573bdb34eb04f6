"""Importing articles from Markdown folders and CSV tables: problems named with file and
line, nothing half-imported, and a second import of the same sources changing nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from callcore.features.knowledge.importer import ImportRefused, read_sources
from callcore.features.knowledge.service import KnowledgeService
from callcore.features.knowledge.tests.conftest import SAMPLE


def refused(paths: list[Path], lang: str = "zh") -> list[str]:
    with pytest.raises(ImportRefused) as exc:
        read_sources(paths, lang)
    return [str(p) for p in exc.value.problems]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


CSV_ZH = (
    "编号,标题,正文,分类,分类名称,责任单位,生效日期,失效日期\n"
    "gjj-dk,公积金贷款额度,按余额和缴存年限核定。,zf.gjj.dk,住房公积金/贷款,市公积金管理中心,"
    "2025-01-01,\n"
    'yb-ydjy,异地就医直接结算,"备案后持卡结算。\n未备案的回参保地报销。",yb.yd,医疗保障,市医保局,,\n'
)


def test_the_sample_knowledge_base_reads_cleanly():
    items = read_sources([SAMPLE])
    assert len(items) >= 10
    assert {i.article.id for i in items} == {p.stem for p in SAMPLE.glob("*.md")}
    first = next(i.article for i in items if i.article.id == "gjj-tiqu")
    assert first.unit == "市公积金管理中心" and first.class_id == "zf.gjj.tq"
    assert first.valid_from == date(2025, 1, 1) and first.body.startswith("## 适用情形")


@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_csv_with_chinese_header_with_or_without_bom(tmp_path: Path, bom: str):
    items = read_sources([write(tmp_path / "kb.csv", bom + CSV_ZH)])
    assert [i.article.id for i in items] == ["gjj-dk", "yb-ydjy"]
    assert [i.line for i in items] == [2, 3]
    second = items[1].article
    assert second.body == "备案后持卡结算。\n未备案的回参保地报销。"
    assert second.valid_from is None and second.unit == "市医保局"


def test_csv_with_english_header(tmp_path: Path):
    text = "ID,Title,Body,Unit,Valid_Until\nsw-1,个税汇算,3月1日至6月30日。,市税务局,2027-06-30\n"
    (item,) = read_sources([write(tmp_path / "en.csv", text)])
    assert item.article.valid_until == date(2027, 6, 30)


def test_bad_csv_rows_are_each_reported_with_their_line(tmp_path: Path):
    text = (
        "编号,标题,正文,责任单位,生效日期,失效日期\n"
        "ok-1,正常,正文,单位,,\n"
        'bad-dates,日期颠倒,"两行\n正文",单位,2026-05-01,2026-01-01\n'
        "Bad Id,编号不合规,正文,单位,,\n"
        "no-title,,正文,单位,,\n"
        "bad-date,日期错误,正文,单位,2026-02-30,\n"
        "short,少一列,正文\n"
    )
    path = write(tmp_path / "bad.csv", text)
    problems = refused([path])
    assert problems == [
        f"{path}:3: 失效日期 2026-01-01 早于生效日期 2026-05-01",
        f"{path}:5: 编号（id）：编号只能用小写字母、数字和 - _ .，且以字母或数字开头",
        f"{path}:6: 标题（title）：不能为空",
        f"{path}:7: 生效日期（valid_from）：不是有效日期（应为 YYYY-MM-DD）",
        f"{path}:8: 列数为 3，表头为 6",
    ]
    english = refused([path], "en")
    assert english[0] == f"{path}:3: valid_until 2026-01-01 is before valid_from 2026-05-01"


def test_a_bad_header_is_refused_before_any_row(tmp_path: Path):
    path = write(tmp_path / "h.csv", "编号,标题,正文,作者\nx,y,z,w\n")
    assert refused([path]) == [f"{path}:1: 未知的列名 “作者”", f"{path}:1: 缺少列 “unit”"]


def test_gbk_csv_is_named_as_not_utf8(tmp_path: Path):
    path = write(tmp_path / "gbk.csv", CSV_ZH, encoding="gbk")
    assert refused([path]) == [f"{path}: 不是 UTF-8 编码（Excel 请另存为“CSV UTF-8”）"]


def test_markdown_problems_point_at_the_key(tmp_path: Path):
    folder = tmp_path / "md"
    folder.mkdir()
    write(folder / "good.md", "---\ntitle: 好\nunit: u\n---\n正文\n")
    write(
        folder / "bad.md",
        "---\ntitle: 标题\nunit: u\nvalid_from: 2026-13-01\nauthor: 某人\n---\n正文\n",
    )
    write(folder / "empty.md", "---\ntitle: 空正文\nunit: u\n---\n\n")
    write(folder / "nohead.md", "# 只有正文\n")
    write(folder / "yaml.md", "---\ntitle: [未闭合\nunit: u\n---\n正文\n")
    write(folder / "Upper.md", "---\ntitle: 大写文件名\nunit: u\n---\n正文\n")
    problems = refused([folder])
    assert problems == [
        f"{folder}/Upper.md:1: 编号（id）：编号只能用小写字母、数字和 - _ .，且以字母或数字开头",
        f"{folder}/bad.md:4: 生效日期（valid_from）：不是有效日期（应为 YYYY-MM-DD）",
        f"{folder}/bad.md:5: author：未知字段",
        f"{folder}/empty.md:5: 正文（body）：不能为空",
        f"{folder}/nohead.md:1: 缺少开头的 YAML 信息块（--- 与 --- 之间）",
        problems[-1],
    ]
    assert problems[-1].startswith(f"{folder}/yaml.md:") and "YAML 格式错误" in problems[-1]


def test_front_matter_values_stay_text(tmp_path: Path):
    write(tmp_path / "a.md", "---\nid: x1\ntitle: 2024\nclass: 0301\nunit: 12345\n---\n正文\n")
    (item,) = read_sources([tmp_path / "a.md"])
    assert (item.article.title, item.article.class_id, item.article.unit) == (
        "2024",
        "0301",
        "12345",
    )


def test_the_same_id_twice_is_a_problem(tmp_path: Path):
    write(tmp_path / "gjj-dk.md", "---\ntitle: 贷款\nunit: u\n---\n正文\n")
    csv = write(tmp_path / "kb.csv", CSV_ZH)
    problems = refused([tmp_path / "gjj-dk.md", csv])
    assert problems == [f"{csv}:2: 编号 gjj-dk 与 {tmp_path}/gjj-dk.md:1 重复"]


def test_nothing_is_imported_when_one_row_is_bad(service: KnowledgeService, tmp_path: Path):
    path = write(tmp_path / "kb.csv", CSV_ZH + "bad,,正文,,,市医保局,,\n")
    with pytest.raises(ImportRefused):
        service.import_articles([i.article for i in read_sources([path])], "t")
    assert service.list(include_expired=True).total == 0


def test_reimport_is_idempotent_and_a_changed_file_is_a_new_version(
    service: KnowledgeService, clock, tmp_path: Path
):
    from datetime import timedelta

    folder = tmp_path / "kb"
    folder.mkdir()
    for src in SAMPLE.glob("*.md"):
        write(folder / src.name, src.read_text(encoding="utf-8"))

    def load():
        return service.import_articles([i.article for i in read_sources([folder])], "导入")

    first = load()
    assert first.created == len(list(folder.glob("*.md"))) and first.updated == 0
    before = {a.id: a for a in service.list(include_expired=True, limit=200).articles}
    clock.now += timedelta(days=1)
    again = load()
    assert (again.created, again.updated, again.unchanged) == (0, 0, first.created)
    assert {a.id: a for a in service.list(include_expired=True, limit=200).articles} == before
    text = (folder / "gjj-zufang.md").read_text(encoding="utf-8")
    write(folder / "gjj-zufang.md", text.replace("按月或按年", "按月、按季或按年"))
    third = load()
    assert (third.created, third.updated) == (0, 1)
    changed = service.get("gjj-zufang")
    assert changed.version == 2 and changed.updated_at == clock.now
    assert "按季" in changed.body
    assert service.get("gjj-tiqu").version == 1

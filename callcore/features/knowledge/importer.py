"""Reading articles from Markdown files and CSV tables, with every problem located.

A Markdown article is one `.md` file: a YAML front matter between `---` lines (`id`,
`title`, `class`, `class_name`, `unit`, `valid_from`, `valid_until`), then the body. Its
key is `id`, or else the file name without `.md`. A CSV table (UTF-8, with or without a
BOM) has a header row naming its columns in English or Chinese (`COLUMNS`), one article a
row, keyed by its `id` / `编号` column.

Nothing is written here: `read_sources` returns the articles, or raises `ImportRefused`
with every problem (file, line, what is wrong), and the service imports all or nothing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from callcore.features.knowledge.model import ArticleIn, Texts, field_problem, words

# CSV header names (case and surrounding spaces ignored) -> article field.
COLUMNS: dict[str, str] = {
    "id": "id",
    "编号": "id",
    "title": "title",
    "标题": "title",
    "body": "body",
    "正文": "body",
    "内容": "body",
    "class": "class_id",
    "class_id": "class_id",
    "分类": "class_id",
    "分类编号": "class_id",
    "class_name": "class_name",
    "分类名称": "class_name",
    "unit": "unit",
    "责任单位": "unit",
    "单位": "unit",
    "valid_from": "valid_from",
    "生效日期": "valid_from",
    "valid_until": "valid_until",
    "失效日期": "valid_until",
}
REQUIRED_COLUMNS = ("id", "title", "body", "unit")
# Front matter keys -> article field (the body is the rest of the file).
FRONT_MATTER: dict[str, str] = {
    "id": "id",
    "title": "title",
    "class": "class_id",
    "class_name": "class_name",
    "unit": "unit",
    "valid_from": "valid_from",
    "valid_until": "valid_until",
}

_MESSAGES: Texts = {
    "not_utf8": (
        "不是 UTF-8 编码（Excel 请另存为“CSV UTF-8”）",
        "not UTF-8 text (save as CSV UTF-8)",
    ),
    "no_front_matter": (
        "缺少开头的 YAML 信息块（--- 与 --- 之间）",
        "no YAML front matter (between --- lines) at the top",
    ),
    "front_matter_open": ("YAML 信息块没有结束的 ---", "the front matter has no closing ---"),
    "front_matter_mapping": ("YAML 信息块应为“键: 值”", "the front matter must be key: value"),
    "yaml": ("YAML 格式错误：{problem}", "YAML syntax: {problem}"),
    "no_header": ("缺少表头行", "no header row"),
    "unknown_column": ("未知的列名 “{name}”", "unknown column {name!r}"),
    "duplicate_column": ("列 “{name}” 重复", "column {name!r} appears twice"),
    "missing_column": ("缺少列 “{name}”", "missing column {name!r}"),
    "row_width": (
        "列数为 {got}，表头为 {want}",
        "{got} cells where the header has {want}",
    ),
    "duplicate_id": ("编号 {id} 与 {other} 重复", "id {id} also used at {other}"),
    "not_a_source": (
        "不是 Markdown 文件夹、.md 或 .csv 文件",
        "not a folder of Markdown files, a .md or a .csv file",
    ),
    "no_articles": ("没有找到任何文章", "no articles found"),
    "unreadable": ("无法读取：{reason}", "cannot be read: {reason}"),
}


def _say(key: str, lang: str, **values: Any) -> str:
    return words(_MESSAGES, key, lang, **values)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a source: where (file, line) and what."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class ImportRefused(Exception):
    """The sources hold problems; nothing of them has been imported."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Sourced:
    """An article read from a source, with where it came from."""

    article: ArticleIn
    file: str
    line: int


def _validate(
    fields: dict[str, Any], file: str, lines: dict[str, int], first: int, lang: str
) -> tuple[ArticleIn | None, list[Problem]]:
    """`fields` as an article, or the problems, each at the line of its field."""
    cleaned = {k: (None if k.startswith("valid_") and v == "" else v) for k, v in fields.items()}
    try:
        return ArticleIn.model_validate(cleaned), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            field = str(err["loc"][0]) if err["loc"] else ""
            line = lines.get(field, first)
            problems.append(Problem(file, line, field_problem(err, lang)))
        return None, problems


def _read_text(path: Path, lang: str) -> str | Problem:
    """The file's text (UTF-8, a BOM dropped), or why it cannot be had."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return Problem(str(path), None, _say("not_utf8", lang))
    except OSError as exc:
        return Problem(str(path), None, _say("unreadable", lang, reason=exc.strerror))


# -- Markdown ---------------------------------------------------------------------------------


def _front_matter(text: str) -> tuple[str, str, int] | str:
    """(YAML text, body, line of the body) or the key of what is wrong."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return "no_front_matter"
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :]), i + 2
    return "front_matter_open"


def read_markdown(path: Path, lang: str = "zh") -> tuple[list[Sourced], list[Problem]]:
    """One Markdown article file."""
    name = str(path)
    text = _read_text(path, lang)
    if isinstance(text, Problem):
        return [], [text]
    split = _front_matter(text)
    if isinstance(split, str):
        return [], [Problem(name, 1, _say(split, lang))]
    head, body, body_line = split
    try:
        # BaseLoader: every value is text, so `class: 0301` stays 0301 and dates are parsed
        # (and their errors worded) by the article model, not by YAML.
        node = yaml.compose(head, Loader=yaml.BaseLoader)
        data = yaml.load(head, Loader=yaml.BaseLoader) if node is not None else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        return [], [Problem(name, line, _say("yaml", lang, problem=problem))]
    if not isinstance(data, dict):
        return [], [Problem(name, 2, _say("front_matter_mapping", lang))]
    key_lines = {}
    if isinstance(node, yaml.MappingNode):
        key_lines = {k.value: k.start_mark.line + 2 for k, _ in node.value}
    fields: dict[str, Any] = {"id": path.stem, "body": body}
    lines: dict[str, int] = {"body": body_line}
    for key, value in data.items():
        field = FRONT_MATTER.get(key, key)  # an unknown key is refused by the model
        fields[field] = value
        lines[field] = key_lines.get(key, 2)
    article, problems = _validate(fields, name, lines, 1, lang)
    return ([Sourced(article, name, 1)] if article else []), problems


# -- CSV --------------------------------------------------------------------------------------


def _header(row: list[str], name: str, lang: str) -> tuple[list[str], list[Problem]]:
    fields, problems = [], []
    for cell in row:
        key = cell.strip().lower()
        field = COLUMNS.get(key) or COLUMNS.get(cell.strip())
        if field is None:
            problems.append(Problem(name, 1, _say("unknown_column", lang, name=cell)))
        elif field in fields:
            problems.append(Problem(name, 1, _say("duplicate_column", lang, name=cell)))
        fields.append(field or "")
    for need in REQUIRED_COLUMNS:
        if need not in fields:
            problems.append(Problem(name, 1, _say("missing_column", lang, name=need)))
    return fields, problems


def read_csv(path: Path, lang: str = "zh") -> tuple[list[Sourced], list[Problem]]:
    """A CSV table of articles, one a row after the header."""
    name = str(path)
    text = _read_text(path, lang)
    if isinstance(text, Problem):
        return [], [text]
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        return [], [Problem(name, 1, _say("no_header", lang))]
    fields, problems = _header(header, name, lang)
    if problems:
        return [], problems
    return _rows(reader, fields, name, lang)


def _rows(
    reader: Any, fields: list[str], name: str, lang: str
) -> tuple[list[Sourced], list[Problem]]:
    out: list[Sourced] = []
    problems: list[Problem] = []
    while True:
        first = reader.line_num + 1  # a quoted cell may span lines: report where it starts
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(name, first, str(exc)))
            break
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(fields):
            msg = _say("row_width", lang, got=len(row), want=len(fields))
            problems.append(Problem(name, first, msg))
            continue
        article, bad = _validate(dict(zip(fields, row, strict=True)), name, {}, first, lang)
        problems.extend(bad)
        if article is not None:
            out.append(Sourced(article, name, first))
    return out, problems


# -- several sources --------------------------------------------------------------------------


def _one(path: Path, lang: str) -> tuple[list[Sourced], list[Problem]]:
    if path.is_dir():
        found: list[Sourced] = []
        problems: list[Problem] = []
        for md in sorted(path.rglob("*.md")):
            items, bad = read_markdown(md, lang)
            found.extend(items)
            problems.extend(bad)
        return found, problems
    suffix = path.suffix.lower()
    if suffix == ".md":
        return read_markdown(path, lang)
    if suffix == ".csv":
        return read_csv(path, lang)
    return [], [Problem(str(path), None, _say("not_a_source", lang))]


def read_sources(paths: list[Path], lang: str = "zh") -> list[Sourced]:
    """Every article of `paths` (folders of .md, .md and .csv files), or `ImportRefused`."""
    found: list[Sourced] = []
    problems: list[Problem] = []
    for path in paths:
        items, bad = _one(Path(path), lang)
        found.extend(items)
        problems.extend(bad)
    first_at: dict[str, Sourced] = {}
    for item in found:
        held = first_at.setdefault(str(item.article.id), item)
        if held is not item:
            other = f"{held.file}:{held.line}"
            msg = _say("duplicate_id", lang, id=item.article.id, other=other)
            problems.append(Problem(item.file, item.line, msg))
    if not found and not problems:
        problems.append(Problem(", ".join(str(p) for p in paths), None, _say("no_articles", lang)))
    if problems:
        raise ImportRefused(problems)
    return found

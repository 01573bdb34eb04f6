"""Knowledge-base records and rules: articles, their validation, queries, grams and snippets.

Pure: no I/O. The service stores and searches what is defined here; the API and the CLI
show it. Search rules that both databases share live here, so SQLite and PostgreSQL rank
and highlight alike (docs/decisions/knowledge.md).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

# -- limits -----------------------------------------------------------------------------------

ID_LEN = 64
TITLE_LEN = 200
BODY_LEN = 50_000
CLASS_NAME_LEN = 100
ACTOR_LEN = 64
QUERY_LEN = 100
QUERY_TERMS = 8
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_CODE_PATTERN = r"^[^\s]{0,64}$"  # class and unit ids: anything printable without spaces

# Ranking weights (the same SQL expression on both databases, see service.score):
TITLE_WEIGHT = 10  # a query term found in the title
BODY_CAP = 5  # occurrences of a term in the body counted up to this
FUZZY_TITLE_WEIGHT = 3  # fuzzy mode: a query bigram found in the title

# -- words shown to people (Chinese by default, English on request) ---------------------------

Texts = dict[str, tuple[str, str]]  # key -> (Chinese, English)

_TEXT: Texts = {
    "id": ("编号", "id"),
    "title": ("标题", "title"),
    "body": ("正文", "body"),
    "class_id": ("分类", "class"),
    "class_name": ("分类名称", "class name"),
    "unit": ("责任单位", "unit"),
    "valid_from": ("生效日期", "valid from"),
    "valid_until": ("失效日期", "valid until"),
    "version": ("版本", "version"),
    "updated": ("更新", "updated"),
    "current": ("有效", "in force"),
    "not_current": ("不在有效期内", "not in force"),
    "score": ("相关度", "score"),
    "no_hits": ("没有找到相关知识", "no matching articles"),
    "fuzzy": ("没有完全匹配的结果，以下为近似结果", "no exact match; these are close"),
    "imported": (
        "导入完成：新增 {created} 篇，更新 {updated} 篇，未变 {unchanged} 篇",
        "imported: {created} new, {updated} updated, {unchanged} unchanged",
    ),
    "import_refused": (
        "导入未执行（共 {n} 处问题，未写入任何内容）：",
        "nothing imported ({n} problems, nothing was written):",
    ),
    "deleted": ("已删除 {id}", "deleted {id}"),
    "saved": ("已保存 {id}（版本 {version}）", "saved {id} (version {version})"),
    "not_found": ("没有编号为 {id} 的知识", "no article {id}"),
    "exists": ("编号 {id} 已存在", "article {id} already exists"),
    "version_conflict": (
        "知识 {id} 已被他人修改（当前版本 {current}，你的版本 {expected}）",
        "article {id} was changed meanwhile (now version {current}, yours {expected})",
    ),
    "invalid": ("内容不合规：{detail}", "invalid article: {detail}"),
    "query_empty": ("请输入检索词", "enter something to search for"),
    "query_long": (
        "检索词过长（最多 {n} 个字）",
        "the query is too long (at most {n} characters)",
    ),
    "dates_order": (
        "失效日期 {until} 早于生效日期 {since}",
        "valid_until {until} is before valid_from {since}",
    ),
}


def words(table: Texts, key: str, lang: str = "zh", **values: Any) -> str:
    """The text `key` of `table` in `lang` (zh, or en), with `values` filled in."""
    zh, en = table[key]
    return (en if lang == "en" else zh).format(**values)


def t(key: str, lang: str = "zh", **values: Any) -> str:
    """This feature's text `key` in `lang`."""
    return words(_TEXT, key, lang, **values)


class KnowledgeError(Exception):
    """A refused operation, with a code for the API and the words for people.

    `errors`: pydantic's errors when an article was refused, worded in `text(lang)`."""

    def __init__(self, code: str, key: str, errors: list[Any] | None = None, **values: Any):
        self.code = code
        self.key = key
        self.errors = errors or []
        self.values = values
        super().__init__(self.text("en"))

    def text(self, lang: str = "zh") -> str:
        if self.errors:
            detail = "; ".join(field_problem(e, lang) for e in self.errors)
            return t(self.key, lang, detail=detail, **self.values)
        return t(self.key, lang, **self.values)


# pydantic error types, worded for people (import reports, refused edits)
_ERRORS: Texts = {
    "missing": ("缺少必填项", "required"),
    "string_too_short": ("不能为空", "must not be empty"),
    "string_too_long": ("过长（最多 {max_length} 个字）", "too long (at most {max_length})"),
    "date_from_datetime_parsing": ("不是有效日期（应为 YYYY-MM-DD）", "not a date (YYYY-MM-DD)"),
    "date_parsing": ("不是有效日期（应为 YYYY-MM-DD）", "not a date (YYYY-MM-DD)"),
    "extra_forbidden": ("未知字段", "unknown key"),
    "id_pattern": (
        "编号只能用小写字母、数字和 - _ .，且以字母或数字开头",
        "use lowercase letters, digits, '-', '_', '.', starting with a letter or digit",
    ),
    "string_pattern_mismatch": ("不能含换行或空格", "must not hold line breaks or spaces"),
}


def field_problem(err: Any, lang: str = "zh") -> str:
    """One pydantic error of an article as a sentence: the field's name, what is wrong."""
    field = str(err["loc"][0]) if err["loc"] else ""
    kind = err["type"]
    if kind == "dates_order":
        return t("dates_order", lang, **err["ctx"])
    if kind == "string_pattern_mismatch" and field == "id":
        kind = "id_pattern"
    if kind in _ERRORS:
        message = words(_ERRORS, kind, lang, **(err.get("ctx") or {}))
    else:
        message = err["msg"]
    if not field:
        return message
    if lang == "en":
        return f"{field}: {message}"
    if field not in _TEXT:  # a key the model does not know
        return f"{field}：{message}"
    return f"{t(field, lang)}（{field}）：{message}"


# -- articles ---------------------------------------------------------------------------------

_Line = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^\r\n]*$")]
Title = Annotated[_Line, StringConstraints(min_length=1, max_length=TITLE_LEN)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=BODY_LEN)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=_CODE_PATTERN)]
Unit = Annotated[Code, StringConstraints(min_length=1)]
ClassName = Annotated[_Line, StringConstraints(max_length=CLASS_NAME_LEN)]
ArticleId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_dates(since: date | None, until: date | None) -> None:
    if since is not None and until is not None and until < since:
        # its own error type, so an import report can word it in Chinese
        raise PydanticCustomError(
            "dates_order",
            "valid_until {until} is before valid_from {since}",
            {"since": str(since), "until": str(until)},
        )


class ArticleIn(_Strict):
    """A new article, or a whole one from an import. No id: the store makes one."""

    id: ArticleId | None = Field(
        None, description="key: lowercase letters, digits, '-', '_', '.'; made if absent"
    )
    title: Title
    body: Body = Field(description="Markdown text")
    class_id: Code = Field("", description="the class's id in the class tree")
    class_name: ClassName = Field("", description="the class's name, as shown")
    unit: Unit = Field(description="the responsible unit's id")
    valid_from: date | None = Field(None, description="first day in force; none: always was")
    valid_until: date | None = Field(None, description="last day in force; none: no end")

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        _check_dates(self.valid_from, self.valid_until)
        return self

    def content(self) -> dict[str, Any]:
        """The fields an import compares to decide whether an article changed."""
        return self.model_dump(include=set(CONTENT_FIELDS))


CONTENT_FIELDS = ("title", "body", "class_id", "class_name", "unit", "valid_from", "valid_until")


def held_content(row: Any) -> dict[str, Any]:
    """A stored article's content fields (a row mapping), as `ArticleIn.content` has them."""
    return {k: row[k] for k in CONTENT_FIELDS}


class ArticlePatch(_Strict):
    """Changes to an article: only the fields given change."""

    title: Title | None = None
    body: Body | None = None
    class_id: Code | None = None
    class_name: ClassName | None = None
    unit: Unit | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    expected_version: int | None = Field(
        None, ge=1, description="refuse (409) unless the article is still at this version"
    )

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, exclude={"expected_version"})


class ArticleOut(_Strict):
    """One article, as stored."""

    id: str
    title: str
    body: str
    class_id: str
    class_name: str
    unit: str
    valid_from: date | None
    valid_until: date | None
    current: bool = Field(description="in force today")
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


def in_force(valid_from: date | None, valid_until: date | None, day: date) -> bool:
    """Whether an article with this window is offered to seats on `day` (both ends inclusive)."""
    return (valid_from is None or valid_from <= day) and (valid_until is None or day <= valid_until)


# -- queries ----------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[^\w]+")  # \w is Unicode: Han characters are word characters
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """Search form of text: NFKC (full-width letters and digits as ASCII) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


class Query(_Strict):
    """A parsed query: the terms an article must all contain (as substrings)."""

    text: str
    terms: tuple[str, ...]

    @property
    def fuzzy_grams(self) -> tuple[str, ...]:
        """The distinct bigrams of the terms: what fuzzy mode looks for."""
        seen: dict[str, None] = {}
        for term in self.terms:
            for gram in bigrams(term):
                seen.setdefault(gram, None)
        return tuple(seen)


def parse_query(text: str) -> Query:
    """Split a query on spaces and punctuation into at most QUERY_TERMS distinct terms."""
    text = text.strip()
    if len(text) > QUERY_LEN:
        raise KnowledgeError("bad_query", "query_long", n=QUERY_LEN)
    terms: dict[str, None] = {}
    for term in _SEPARATORS.split(normalise(text)):
        if term:
            terms.setdefault(term, None)
    if not terms:
        raise KnowledgeError("bad_query", "query_empty")
    # a term inside a longer one adds nothing: 公积金 公积金提取 is 公积金提取
    kept = [a for a in terms if not any(a != b and a in b for b in terms)]
    return Query(text=text, terms=tuple(kept[:QUERY_TERMS]))


def folds(term: str) -> bool:
    """Whether case matters to `term` (it holds a letter with case; Han characters have none)."""
    return term.lower() != term.upper()


def term_kind(term: str) -> str:
    """How a term is found: `trigram` (3+ characters: the full-text index), `bigram`
    (2 word characters: the grams column), `scan` (1 character: a scan of the texts)."""
    if len(term) >= 3:
        return "trigram"
    if len(term) == 2 and _WORD.fullmatch(term):
        return "bigram"
    return "scan"


def bigrams(text: str) -> list[str]:
    """Overlapping two-character pieces of each run of word characters, in order."""
    out = []
    for run in _WORD.findall(text):
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def grams_of(title: str, body: str) -> str:
    """The grams column: every distinct bigram of title and body, each between spaces.

    ` 社保 保卡 …`: a two-character query is then the phrase ` 社保 `, which the SQLite
    trigram index and the PostgreSQL pg_trgm index both find without a scan.
    """
    found = sorted(set(bigrams(normalise(title))) | set(bigrams(normalise(body))))
    return " " + " ".join(found) + " " if found else " "


# -- snippets ---------------------------------------------------------------------------------

SNIPPET_LEN = 120
_LEAD = 30  # characters shown before the first match
_SPACE = re.compile(r"\s+")
_MARKUP = [
    (re.compile(r"^\s{0,3}(#{1,6}|>|[-*+]|\d+[.)])\s+", re.M), ""),  # headings, quotes, lists
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # [text](url) -> text
    (re.compile(r"(\*\*|__|\*|`)"), ""),  # emphasis and code marks
]


def plain_text(markdown: str) -> str:
    """The body's words without Markdown marks, on one line: what a snippet shows."""
    for rx, repl in _MARKUP:
        markdown = rx.sub(repl, markdown)
    return _SPACE.sub(" ", markdown).strip()


class Marked(_Strict):
    """Text with the places that matched the query, as [start, end) character offsets."""

    text: str
    marks: list[tuple[int, int]] = Field(default_factory=list)


def find_marks(text: str, needles: tuple[str, ...] | list[str]) -> list[tuple[int, int]]:
    """Non-overlapping spans of `needles` in `text`, case-insensitively, longest first."""
    hay = normalise(text)
    if len(hay) != len(text):  # normalising changed offsets (rare ligatures): match as is
        hay = text
    taken: list[tuple[int, int]] = []
    for needle in sorted(set(needles), key=len, reverse=True):
        start = hay.find(needle)
        while start >= 0 and needle:
            end = start + len(needle)
            if all(end <= a or start >= b for a, b in taken):
                taken.append((start, end))
            start = hay.find(needle, end)
    return sorted(taken)


def mark_title(title: str, needles: tuple[str, ...]) -> Marked:
    return Marked(text=title, marks=find_marks(title, needles))


def snippet(body: str, needles: tuple[str, ...], length: int = SNIPPET_LEN) -> Marked:
    """About `length` characters of the body around its first match, matches marked."""
    flat = plain_text(body)
    spans = find_marks(flat, needles)
    first = spans[0][0] if spans else 0
    start = max(0, min(first - _LEAD, len(flat) - length))
    end = min(len(flat), start + length)
    text = ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
    return Marked(text=text, marks=find_marks(text, needles))


class SearchHit(_Strict):
    """One article found, with its title and a snippet marked where the query matched."""

    id: str
    title: Marked
    snippet: Marked
    class_id: str
    class_name: str
    unit: str
    valid_from: date | None
    valid_until: date | None
    current: bool = Field(description="in force today (false only with include_expired)")
    score: float
    version: int
    updated_at: datetime


class SearchResult(_Strict):
    """Ranked articles for a query; `fuzzy`: none held every term, these hold most."""

    query: str
    terms: list[str]
    fuzzy: bool
    total: int
    hits: list[SearchHit]


class ArticleSummary(_Strict):
    """An article in a list (without its body)."""

    id: str
    title: str
    class_id: str
    class_name: str
    unit: str
    valid_from: date | None
    valid_until: date | None
    current: bool
    version: int
    updated_at: datetime
    updated_by: str


class ArticleList(_Strict):
    """A page of articles, newest change first."""

    total: int
    articles: list[ArticleSummary]

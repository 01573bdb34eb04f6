"""Search in Chinese on SQLite (FTS5 trigram) and PostgreSQL (pg_trgm), with the sample
knowledge base: the right article first, 2- and 1-character queries, fuzzy mode, validity
windows, marks, and the index following every edit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from callcore.features.knowledge.importer import read_sources
from callcore.features.knowledge.model import (
    ArticleIn,
    ArticlePatch,
    KnowledgeError,
    in_force,
    normalise,
    parse_query,
)
from callcore.features.knowledge.service import KnowledgeService
from callcore.features.knowledge.tests.conftest import NOW, SAMPLE, Clock
from callcore.store.testing import empty_store_url, migrated_engine

TODAY = date(2026, 12, 1)
SAMPLE_ARTICLES = [s.article for s in read_sources([SAMPLE])]


def expected_ids(query: str, day: date = TODAY) -> set[str]:
    """The sample articles in force on `day` that hold every term of `query`: the oracle."""
    terms = parse_query(query).terms
    return {
        a.id
        for a in SAMPLE_ARTICLES
        if in_force(a.valid_from, a.valid_until, day)
        and all(term in normalise(a.title + "\n" + a.body) for term in terms)
    }


def ids(result) -> list[str]:
    return [h.id for h in result.hits]


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("公积金提取", "gjj-tiqu"),
        ("租房提取", "gjj-zufang"),
        ("异地就医", "yb-yidi"),
        ("营业执照", "scjg-zhizhao"),
        ("个人所得税", "sw-geshui"),
        ("数电发票", "sw-fapiao"),
        ("失业保险金", "sy-shiyejin"),
        ("社保卡 补办", "sb-ka"),
        ("发票", "sw-fapiao"),  # two characters
        ("物业", "wy-tousu"),
        ("慢特病", "yb-manbing"),
    ],
)
def test_a_chinese_query_finds_the_right_article_first(
    sample: KnowledgeService, query: str, first: str
):
    result = sample.search(query)
    assert not result.fuzzy
    assert result.hits[0].id == first, ids(result)
    assert result.hits[0].title.marks, "the title shows where it matched"


@pytest.mark.parametrize(
    "query", ["社保", "医保", "缴费", "窗口", "公积金", "12366", "江苏智慧人社", "登记 诉求", "税"]
)
def test_every_article_holding_the_terms_is_found_and_no_other(
    sample: KnowledgeService, query: str
):
    result = sample.search(query, limit=50)
    assert set(ids(result)) == expected_ids(query) != set()
    assert result.total == len(result.hits)
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


def test_two_character_queries_use_the_grams_and_rank_title_matches_first(
    sample: KnowledgeService,
):
    result = sample.search("医保", limit=50)
    in_title = [h for h in result.hits if "医保" in h.title.text]
    others = [h for h in result.hits if "医保" not in h.title.text]
    assert len(result.hits) >= 3
    if in_title and others:
        assert min(h.score for h in in_title) > max(h.score for h in others)
    for hit in result.hits:
        for start, end in hit.snippet.marks:
            assert hit.snippet.text[start:end] == "医保"


def test_marks_point_at_the_matched_text(sample: KnowledgeService):
    hit = sample.search("公积金提取").hits[0]
    assert [hit.title.text[a:b] for a, b in hit.title.marks] == ["公积金提取"]
    assert [hit.snippet.text[a:b] for a, b in hit.snippet.marks] == ["公积金提取"] * len(
        hit.snippet.marks
    )
    assert "##" not in hit.snippet.text and "\n" not in hit.snippet.text
    assert len(hit.snippet.text) <= 122


def test_fuzzy_mode_when_no_article_holds_the_query_as_typed(sample: KnowledgeService):
    result = sample.search("提取公积金")  # the article says 公积金提取
    assert result.fuzzy
    assert result.hits[0].id == "gjj-tiqu"
    assert sample.search("量子计算机").hits == []


def test_nothing_found_is_an_empty_result(sample: KnowledgeService):
    result = sample.search("火星移民")
    assert result.hits == [] and result.total == 0


def test_an_empty_or_overlong_query_is_refused(sample: KnowledgeService):
    for bad in ["", "   ", "，。！", "公" * 101]:
        with pytest.raises(KnowledgeError) as exc:
            sample.search(bad)
        assert exc.value.code == "bad_query"
        assert exc.value.text("zh") and exc.value.text("en")


def test_like_wildcards_and_fts_syntax_in_a_query_are_plain_text(service: KnowledgeService):
    service.create(ArticleIn(id="a", title="代码 ab_cd 说明", body="正文 x_y", unit="u"), "t")
    service.create(ArticleIn(id="b", title="代码 abxcd 说明", body="正文 xzy", unit="u"), "t")
    assert ids(service.search("b_c")) == ["a"]
    assert ids(service.search("x_y")) == ["a"]
    assert ids(service.search('"代码" OR NOT')) == []  # FTS5 operators are just words
    assert ids(service.search("AB_CD")) == ["a"]  # ASCII letters in any case


def test_an_expired_article_is_not_offered_unless_asked_for(sample: KnowledgeService):
    default = sample.search("城乡居民医保集中缴费")
    assert "yb-jumin-2024" not in ids(default)
    shown = sample.search("城乡居民医保集中缴费", include_expired=True)
    assert shown.hits[0].id == "yb-jumin-2024" and shown.hits[0].current is False
    listed = sample.list()
    assert "yb-jumin-2024" not in [a.id for a in listed.articles]
    assert "yb-jumin-2024" in [a.id for a in sample.list(include_expired=True).articles]


def test_validity_windows_are_local_days_with_both_ends_included(
    service: KnowledgeService, clock: Clock
):
    service.create(
        ArticleIn(
            id="w", title="冬季供暖政策", body="供暖期内的报修。", unit="u",
            valid_from=date(2026, 12, 2), valid_until=date(2026, 12, 31),
        ),
        "t",
    )  # fmt: skip
    assert ids(service.search("供暖")) == []  # 2026-12-01 in Shanghai: not yet
    clock.now = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # 2026-12-02 00:00 in Shanghai
    assert ids(service.search("供暖")) == ["w"]
    assert service.get("w").current
    clock.now = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 on the last day
    assert ids(service.search("供暖")) == ["w"]
    clock.now += timedelta(minutes=2)
    assert ids(service.search("供暖")) == []
    assert service.search("供暖", include_expired=True).hits[0].current is False


def test_class_and_unit_narrow_a_search(sample: KnowledgeService):
    by_unit = sample.search("办理", unit="市医保局", limit=50)
    assert by_unit.hits and {h.unit for h in by_unit.hits} == {"市医保局"}
    by_class = sample.search("提取", class_id="zf.gjj.tq", limit=50)
    assert set(ids(by_class)) == {"gjj-tiqu", "gjj-zufang"}


def test_the_index_follows_every_edit(service: KnowledgeService):
    service.create(ArticleIn(id="e", title="老年人乘车优惠", body="凭老年卡乘公交。", unit="u"), "")
    assert ids(service.search("老年卡")) == ["e"]
    service.update("e", ArticlePatch(body="凭敬老卡免费乘坐公交。"), "t")
    assert ids(service.search("老年卡")) == []
    assert ids(service.search("敬老卡")) == ["e"]
    assert ids(service.search("免费")) == ["e"]  # the grams moved too
    service.update("e", ArticlePatch(title="敬老卡乘车"), "t")
    assert ids(service.search("乘车优惠")) == []
    service.delete("e")
    assert ids(service.search("敬老卡")) == [] and ids(service.search("免费")) == []


def test_both_databases_rank_alike(pg_base: str, tmp_path: Path):
    queries = ["公积金", "社保", "医保", "办理", "提取公积金", "投诉", "登记 派至", "税", "12"]
    results = {}
    for kind in ("sqlite", "postgresql"):
        with empty_store_url(kind, tmp_path, pg_base, "cc_kb") as url, migrated_engine(url) as eng:
            svc = KnowledgeService(eng, clock=lambda: NOW, timezone="Asia/Shanghai")
            svc.import_articles(SAMPLE_ARTICLES, "测试")
            results[kind] = [
                [(h.id, h.score, h.snippet.text) for h in svc.search(q, limit=50).hits]
                for q in queries
            ]
    assert results["sqlite"] == results["postgresql"]
    assert all(results["sqlite"][:-1])

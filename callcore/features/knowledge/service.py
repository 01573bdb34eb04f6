"""Knowledge-base operations on the store: read, search, create, update, delete, import.

Synchronous SQLAlchemy on the engine it is given (the API calls it in a thread). Edits go
straight to the database in one transaction each, not through the store writer: they are
rare, made by people who wait for the answer, and need a read-modify-write checked against
the article's version, which a journal-first queue cannot answer.

Search is one rule on both databases (model.py): every term must occur in the article;
terms of 3+ characters are found through the trigram index (SQLite FTS5 `trigram`,
PostgreSQL pg_trgm GIN under ILIKE), 2-character terms through the grams column (the same
indexes), 1-character terms by a scan. The score is one SQL expression, the same on both,
so both rank alike. When no article holds every term, the query's bigrams are looked up
instead (fuzzy mode): articles holding at least half of them, ranked by how many.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    and_,
    case,
    cast,
    column,
    delete,
    func,
    insert,
    or_,
    select,
    table,
    text,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError

from callcore.features.knowledge.model import (
    BODY_CAP,
    FUZZY_TITLE_WEIGHT,
    TITLE_WEIGHT,
    ArticleIn,
    ArticleList,
    ArticleOut,
    ArticlePatch,
    ArticleSummary,
    KnowledgeError,
    Query,
    SearchHit,
    SearchResult,
    folds,
    grams_of,
    held_content,
    in_force,
    mark_title,
    parse_query,
    snippet,
    term_kind,
)
from callcore.features.knowledge.tables import FTS_TABLE, articles

_SHOWN = [c for c in articles.c if c.name not in ("num", "grams")]
MAX_LIMIT = 200


@dataclass(frozen=True)
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _like(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class _Dialect:
    """How one database finds and counts a term; the score is built from these."""

    def contains(self, expr: ColumnElement, needle: str) -> ColumnElement[bool]:
        raise NotImplementedError

    def least(self, a: ColumnElement, b: int) -> ColumnElement:
        raise NotImplementedError

    def all_terms(self, terms: tuple[str, ...]) -> list[ColumnElement[bool]]:
        """Conditions that hold when every term occurs in title or body."""
        raise NotImplementedError

    def any_gram(self, grams: tuple[str, ...]) -> ColumnElement[bool]:
        """A condition (index-backed) that holds when one of `grams` occurs."""
        raise NotImplementedError

    def octets(self, expr: ColumnElement) -> ColumnElement:
        """The length of `expr` in UTF-8 bytes (cheaper than characters: no decoding)."""
        raise NotImplementedError

    def occurrences(self, expr: ColumnElement, needle: str) -> ColumnElement:
        """How many times `needle` is in `expr`: the bytes removed by taking it out."""
        removed = self.octets(expr) - self.octets(func.replace(expr, needle, ""))
        return removed // len(needle.encode())

    def prepare(self, conn: Connection) -> None:
        """Set up the search's transaction (nothing by default)."""

    def scan(self, term: str) -> ColumnElement[bool]:
        title, body = _folded(articles.c.title, term), _folded(articles.c.body, term)
        return or_(self.contains(title, term), self.contains(body, term))


class _Sqlite(_Dialect):
    def contains(self, expr: ColumnElement, needle: str) -> ColumnElement[bool]:
        return func.instr(expr, needle) > 0

    def least(self, a: ColumnElement, b: int) -> ColumnElement:
        return func.min(a, b)  # SQLite's two-argument min() is scalar

    def octets(self, expr: ColumnElement) -> ColumnElement:
        return func.length(cast(expr, LargeBinary))  # octet_length() is SQLite 3.43+

    @staticmethod
    def _fts(match: str) -> ColumnElement[bool]:
        fts = table(FTS_TABLE, column("rowid", Integer))
        hits = select(fts.c.rowid).where(text(f"{FTS_TABLE} MATCH :match").bindparams(match=match))
        return articles.c.num.in_(hits)

    @staticmethod
    def _phrase(text_: str) -> str:
        return '"' + text_.replace('"', '""') + '"'

    def all_terms(self, terms: tuple[str, ...]) -> list[ColumnElement[bool]]:
        parts, conds = [], []
        for term in terms:
            kind = term_kind(term)
            if kind == "trigram":
                parts.append("{title body} : " + self._phrase(term))
            elif kind == "bigram":
                parts.append("grams : " + self._phrase(f" {term} "))
            else:
                conds.append(self.scan(term))
        if parts:
            conds.insert(0, self._fts(" AND ".join(parts)))
        return conds

    def any_gram(self, grams: tuple[str, ...]) -> ColumnElement[bool]:
        return self._fts("grams : (" + " OR ".join(self._phrase(f" {g} ") for g in grams) + ")")


class _Postgresql(_Dialect):
    def contains(self, expr: ColumnElement, needle: str) -> ColumnElement[bool]:
        return func.strpos(expr, needle) > 0

    def prepare(self, conn: Connection) -> None:
        # The planner prices LIKE on long text as if it were cheap, and below some 100,000
        # articles takes a sequential scan over the trigram index: 5-10 times slower
        # (docs/decisions/knowledge.md). Off for this transaction only; a term no index
        # serves (one character) is still scanned.
        conn.execute(text("SET LOCAL enable_seqscan = off"))

    def octets(self, expr: ColumnElement) -> ColumnElement:
        return func.octet_length(expr)

    def least(self, a: ColumnElement, b: int) -> ColumnElement:
        return func.least(a, b)

    @staticmethod
    def _gram(gram: str) -> ColumnElement[bool]:
        return articles.c.grams.like(_like(f" {gram} "), escape="\\")

    def all_terms(self, terms: tuple[str, ...]) -> list[ColumnElement[bool]]:
        conds = []
        for term in terms:
            if term_kind(term) == "bigram":
                conds.append(self._gram(term))
            else:  # pg_trgm's GIN index serves 3+ characters, 1 is a scan
                pattern = _like(term)
                # ILIKE only where case matters: LIKE is several times cheaper to recheck
                like = "ilike" if folds(term) else "like"
                conds.append(
                    or_(
                        getattr(articles.c.title, like)(pattern, escape="\\"),
                        getattr(articles.c.body, like)(pattern, escape="\\"),
                    )
                )
        return conds

    def any_gram(self, grams: tuple[str, ...]) -> ColumnElement[bool]:
        return or_(*(self._gram(g) for g in grams))


def _dialect(engine: Engine) -> _Dialect:
    name = engine.dialect.name
    if name == "sqlite":
        return _Sqlite()
    if name == "postgresql":
        return _Postgresql()
    raise ValueError(f"the knowledge base supports sqlite and postgresql, not {name}")


def _folded(expr: ColumnElement, needle: str) -> ColumnElement:
    """`expr` lower-cased if that can matter to `needle` (Han characters have no case, and
    lower() over every body is a good part of a search's cost)."""
    return func.lower(expr) if folds(needle) else expr


def _flag(cond: ColumnElement[bool], weight: int = 1) -> ColumnElement:
    return case((cond, weight), else_=0)


class KnowledgeService:
    """The knowledge base on one store engine (SQLite or PostgreSQL, migrated)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        timezone: str,
        new_id: Callable[[], str] = lambda: f"kb-{uuid.uuid4().hex[:12]}",
    ):
        self.engine = engine
        self.clock = clock
        self.tz = ZoneInfo(timezone)
        self.new_id = new_id
        self._sql = _dialect(engine)

    def today(self) -> date:
        """The day in the site's time zone: validity windows are local dates."""
        return self.clock().astimezone(self.tz).date()

    # -- reading -------------------------------------------------------------------------

    def _out(self, row: Any, day: date) -> ArticleOut:
        fields = {c.name: row[c.name] for c in _SHOWN}
        return ArticleOut(**fields, current=in_force(row.valid_from, row.valid_until, day))

    def get(self, article_id: str) -> ArticleOut:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_SHOWN).where(articles.c.id == article_id)).first()
        if row is None:
            raise KnowledgeError("not_found", "not_found", id=article_id)
        return self._out(row._mapping, self.today())

    def _filters(
        self, class_id: str | None, unit: str | None, include_expired: bool, day: date
    ) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if class_id:
            conds.append(articles.c.class_id == class_id)
        if unit:
            conds.append(articles.c.unit == unit)
        if not include_expired:
            conds.append(or_(articles.c.valid_from.is_(None), articles.c.valid_from <= day))
            conds.append(or_(articles.c.valid_until.is_(None), articles.c.valid_until >= day))
        return conds

    def list(
        self,
        *,
        class_id: str | None = None,
        unit: str | None = None,
        include_expired: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> ArticleList:
        """Articles without their bodies, the latest change first."""
        day = self.today()
        stmt = (
            select(*_SHOWN, func.count().over().label("total"))
            .where(and_(true(), *self._filters(class_id, unit, include_expired, day)))
            .order_by(articles.c.updated_at.desc(), articles.c.id)
            .limit(min(limit, MAX_LIMIT))
            .offset(offset)
        )
        with self.engine.connect() as conn:
            rows = [r._mapping for r in conn.execute(stmt)]
        summaries = [
            ArticleSummary(
                **{k: r[k] for k in ArticleSummary.model_fields if k != "current"},
                current=in_force(r["valid_from"], r["valid_until"], day),
            )
            for r in rows
        ]
        total = rows[0]["total"] if rows else self._count(class_id, unit, include_expired, day)
        return ArticleList(total=total, articles=summaries)

    def _count(self, class_id: str | None, unit: str | None, expired: bool, day: date) -> int:
        stmt = select(func.count()).select_from(articles)
        stmt = stmt.where(and_(true(), *self._filters(class_id, unit, expired, day)))
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar_one()

    # -- search --------------------------------------------------------------------------

    def _score(self, needles: tuple[str, ...], title_weight: int) -> ColumnElement:
        """Σ over needles: `title_weight` if in the title, plus its occurrences in the
        body up to BODY_CAP. Case-folded where the needle has case (SQLite folds ASCII only)."""
        title, body = articles.c.title, articles.c.body
        parts = [
            _flag(self._sql.contains(_folded(title, n), n), title_weight)
            + self._sql.least(self._sql.occurrences(_folded(body, n), n), BODY_CAP)
            for n in needles
        ]
        return sum(parts[1:], parts[0])

    def _fuzzy(self, grams: tuple[str, ...]) -> ColumnElement[bool]:
        """Fuzzy mode's condition: half of the query's bigrams (two at least) are present."""
        found = [_flag(self._sql.contains(articles.c.grams, f" {g} ")) for g in grams]
        need = max(2, math.ceil(len(grams) / 2))
        return and_(self._sql.any_gram(grams), sum(found[1:], found[0]) >= need)

    def search(
        self,
        query: str | Query,
        *,
        class_id: str | None = None,
        unit: str | None = None,
        include_expired: bool = False,
        limit: int = 10,
    ) -> SearchResult:
        """Articles holding every term of `query`, best first; fuzzy if none does."""
        q = parse_query(query) if isinstance(query, str) else query
        day = self.today()
        limit = max(1, min(limit, MAX_LIMIT))
        filters = self._filters(class_id, unit, include_expired, day)
        score = self._score(q.terms, TITLE_WEIGHT)
        rows = self._ranked(score, self._sql.all_terms(q.terms), filters, limit)
        needles, fuzzy = q.terms, False
        grams = q.fuzzy_grams
        if not rows and len(grams) >= 2:
            score = self._score(grams, FUZZY_TITLE_WEIGHT)
            rows = self._ranked(score, [self._fuzzy(grams)], filters, limit)
            needles, fuzzy = grams, True
        hits = [self._hit(r, needles, day) for r in rows]
        return SearchResult(
            query=q.text,
            terms=list(q.terms),
            fuzzy=fuzzy,
            total=rows[0]["total"] if rows else 0,
            hits=hits,
        )

    def _ranked(
        self,
        score: ColumnElement,
        match: Iterable[ColumnElement[bool]],
        filters: list[ColumnElement[bool]],
        limit: int,
    ) -> list[Any]:
        """The best `limit` matches, whole, with `score` and the `total` matched.

        Ranked on the row numbers alone, then the few best read whole: sorting every match
        with its body was a third of a search's time."""
        score = score.label("score")
        ranked = (
            select(articles.c.num, score, func.count().over().label("total"))
            .where(and_(*match, *filters))
            .order_by(score.desc(), articles.c.updated_at.desc(), articles.c.id)
            .limit(limit)
        )
        with self.engine.begin() as conn:
            self._sql.prepare(conn)
            best = conn.execute(ranked).all()
            if not best:
                return []
            nums = [r.num for r in best]
            rows = conn.execute(select(articles.c.num, *_SHOWN).where(articles.c.num.in_(nums)))
            whole = {r.num: r._mapping for r in rows}
        return [{**whole[r.num], "score": r.score, "total": r.total} for r in best]

    def _hit(self, row: Any, needles: tuple[str, ...], day: date) -> SearchHit:
        return SearchHit(
            id=row["id"],
            title=mark_title(row["title"], needles),
            snippet=snippet(row["body"], needles),
            class_id=row["class_id"],
            class_name=row["class_name"],
            unit=row["unit"],
            valid_from=row["valid_from"],
            valid_until=row["valid_until"],
            current=in_force(row["valid_from"], row["valid_until"], day),
            score=float(row["score"]),
            version=row["version"],
            updated_at=row["updated_at"],
        )

    # -- writing -------------------------------------------------------------------------

    @staticmethod
    def _values(article: ArticleIn) -> dict[str, Any]:
        values = article.content()
        values["grams"] = grams_of(article.title, article.body)
        return values

    def create(self, article: ArticleIn, actor: str) -> ArticleOut:
        """A new article at version 1; KnowledgeError `exists` if its id is taken."""
        article_id = article.id or self.new_id()
        now = self.clock()
        row = {
            **self._values(article),
            "id": article_id,
            "version": 1,
            "created_at": now,
            "created_by": actor,
            "updated_at": now,
            "updated_by": actor,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(articles), row)
        except IntegrityError:
            raise KnowledgeError("exists", "exists", id=article_id) from None
        return self.get(article_id)

    def update(self, article_id: str, patch: ArticlePatch, actor: str) -> ArticleOut:
        """Apply `patch`; the version goes up by one if anything changed."""
        with self.engine.begin() as conn:
            row = conn.execute(select(*_SHOWN).where(articles.c.id == article_id)).first()
            if row is None:
                raise KnowledgeError("not_found", "not_found", id=article_id)
            held = row._mapping
            expected = patch.expected_version
            if expected is not None and expected != held["version"]:
                raise KnowledgeError(
                    "conflict", "version_conflict", id=article_id,
                    current=held["version"], expected=expected,
                )  # fmt: skip
            merged = self._merge(held, patch)
            if merged.content() == held_content(held):
                return self._out(held, self.today())
            values = {**self._values(merged), "updated_at": self.clock(), "updated_by": actor}
            done = conn.execute(
                update(articles)
                .where(articles.c.id == article_id, articles.c.version == held["version"])
                .values(**values, version=articles.c.version + 1)
            )
            if done.rowcount != 1:  # changed by someone else between our read and write
                raise KnowledgeError(
                    "conflict", "version_conflict", id=article_id,
                    current=held["version"] + 1, expected=held["version"],
                )  # fmt: skip
        return self.get(article_id)

    @staticmethod
    def _merge(held: Any, patch: ArticlePatch) -> ArticleIn:
        fields = {k: held[k] for k in ArticleIn.model_fields if k != "id"}
        fields.update(patch.changes())
        try:
            return ArticleIn.model_validate(fields)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            raise KnowledgeError("bad_article", "invalid", errors) from None

    def delete(self, article_id: str, expected_version: int | None = None) -> None:
        """Remove an article; KnowledgeError if it is not there (or not at that version)."""
        with self.engine.begin() as conn:
            stmt = delete(articles).where(articles.c.id == article_id)
            if expected_version is not None:
                stmt = stmt.where(articles.c.version == expected_version)
            if conn.execute(stmt).rowcount == 1:
                return
            current = conn.execute(
                select(articles.c.version).where(articles.c.id == article_id)
            ).scalar()
        if current is None:
            raise KnowledgeError("not_found", "not_found", id=article_id)
        raise KnowledgeError(
            "conflict", "version_conflict", id=article_id, current=current,
            expected=expected_version,
        )  # fmt: skip

    def import_articles(self, items: list[ArticleIn], actor: str) -> ImportCounts:
        """Create or update `items` (each with an id) in one transaction: all or nothing.

        An article whose fields are what the store holds is left as it is (same version,
        same update time), so importing the same files again changes nothing.
        """
        ids = [a.id for a in items]
        if None in ids or len(set(ids)) != len(ids):
            raise ValueError("every imported article needs its own id")
        now = self.clock()
        created = updated = 0
        with self.engine.begin() as conn:
            held = {
                r["id"]: r
                for r in conn.execute(select(*_SHOWN).where(articles.c.id.in_(ids))).mappings()
            }
            for article in items:
                old = held.get(article.id)
                values = {**self._values(article), "updated_at": now, "updated_by": actor}
                if old is None:
                    conn.execute(
                        insert(articles),
                        {**values, "id": article.id, "version": 1,
                         "created_at": now, "created_by": actor},
                    )  # fmt: skip
                    created += 1
                elif held_content(old) != article.content():
                    conn.execute(
                        update(articles)
                        .where(articles.c.id == article.id)
                        .values(**values, version=articles.c.version + 1)
                    )
                    updated += 1
        return ImportCounts(created, updated, len(items) - created - updated)

    def index_check(self) -> str | None:
        """Why the search index cannot serve Chinese here, or None when it can.

        pg_trgm takes trigrams of "words" as the database's LC_CTYPE defines letters: under
        the plain C locale Han characters are not letters, every search becomes a scan
        (still right, but slow). SQLite's trigram tokenizer needs no locale.
        """
        if self.engine.dialect.name != "postgresql":
            return None
        with self.engine.connect() as conn:
            schema = conn.execute(
                text(
                    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                    "ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
                )
            ).scalar()
            if schema is None:
                return "pg_trgm is not installed (run the store migrations)"
            trigrams = conn.execute(
                text(f'SELECT "{schema}".show_trgm(:s)'), {"s": "公积金"}
            ).scalar_one()
        if not trigrams:
            return (
                "pg_trgm finds no trigrams in Chinese text: the database's LC_CTYPE does not "
                "treat Han characters as letters; create it with a UTF-8 locale (C.UTF-8)"
            )
        return None

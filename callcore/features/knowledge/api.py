"""The knowledge base over HTTP: seats search and read, supervisors and admins edit.

Mounted like any endpoint module (`api`); the service is the wiring's
`ApiServices.knowledge`, and a process without it answers 503. Refusals
carry the service's error code; their message is Chinese unless the request's
Accept-Language asks for English.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import Field

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.knowledge.model import (
    QUERY_LEN,
    ArticleIn,
    ArticleList,
    ArticleOut,
    ArticlePatch,
    KnowledgeError,
    SearchResult,
)
from callcore.features.knowledge.service import MAX_LIMIT, KnowledgeService

api = Api(
    "knowledge",
    "The knowledge base (知识库): articles with a validity window, searched in Chinese. "
    "Seats search and read; supervisors and admins create, change and delete.",
)
_STATUS = {"not_found": 404, "exists": 409, "conflict": 409, "bad_article": 400, "bad_query": 400}
ARTICLE = "/api/v1/knowledge/articles/{article_id}"
T = TypeVar("T")


async def _call(req: ApiRequest, op: Callable[[KnowledgeService], T]) -> T:
    """Run `op` on the service in a thread; refusals as error replies."""
    return await req.in_thread(
        "knowledge",
        op,
        KnowledgeError,
        lambda e: ApiError(_STATUS.get(e.code, 400), e.code, e.text(req.lang)),
    )


def _actor(req: ApiRequest) -> str:
    return req.identity.name if req.identity is not None else ""


class SearchQuery(Model):
    q: str = Field(min_length=1, max_length=QUERY_LEN, description="words to look for")
    class_id: str | None = Field(None, description="only articles of this class")
    unit: str | None = Field(None, description="only articles of this responsible unit")
    include_expired: bool = Field(False, description="also articles outside their window")
    limit: int = Field(10, ge=1, le=50)


class ListQuery(Model):
    class_id: str | None = Field(None, description="only articles of this class")
    unit: str | None = Field(None, description="only articles of this responsible unit")
    include_expired: bool = Field(False, description="also articles outside their window")
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0)


class DeleteQuery(Model):
    expected_version: int | None = Field(
        None, ge=1, description="refuse (409) unless the article is still at this version"
    )


class DeletedOut(Model):
    """The article is gone."""

    id: str
    deleted: bool


@api.get("/api/v1/knowledge/search", role=Role.SEAT, query=SearchQuery, response=SearchResult)
async def search_knowledge(req: ApiRequest) -> SearchResult:
    """Search the knowledge base; the best match first, each with a marked snippet.

    Every term (split on spaces and punctuation) must occur in the article; if no article
    holds them all, `fuzzy` is true and the articles holding most of the query's
    two-character pieces are returned instead. Articles outside their validity window are
    left out unless `include_expired`."""
    q: SearchQuery = req.query
    return await _call(
        req,
        lambda s: s.search(
            q.q,
            class_id=q.class_id,
            unit=q.unit,
            include_expired=q.include_expired,
            limit=q.limit,
        ),
    )


@api.get("/api/v1/knowledge/articles", role=Role.SEAT, query=ListQuery, response=ArticleList)
async def list_knowledge(req: ApiRequest) -> ArticleList:
    """The articles (without bodies), the latest change first."""
    q: ListQuery = req.query
    return await _call(req, lambda s: s.list(**q.model_dump()))


@api.get(ARTICLE, role=Role.SEAT, response=ArticleOut, errors=(404,))
async def get_knowledge(req: ApiRequest) -> ArticleOut:
    """One article, whole."""
    return await _call(req, lambda s: s.get(req.path["article_id"]))


@api.post(
    "/api/v1/knowledge/articles",
    role=Role.SUPERVISOR,
    body=ArticleIn,
    response=ArticleOut,
    status=201,
    errors=(409,),
)
async def create_knowledge(req: ApiRequest) -> ArticleOut:
    """Add an article (version 1); 409 if its id is taken."""
    body: ArticleIn = req.body
    return await _call(req, lambda s: s.create(body, _actor(req)))


@api.post(ARTICLE, role=Role.SUPERVISOR, body=ArticlePatch, response=ArticleOut, errors=(404, 409))
async def update_knowledge(req: ApiRequest) -> ArticleOut:
    """Change an article: the fields given; its version goes up if anything changed."""
    body: ArticlePatch = req.body
    return await _call(req, lambda s: s.update(req.path["article_id"], body, _actor(req)))


@api.delete(
    ARTICLE, role=Role.SUPERVISOR, query=DeleteQuery, response=DeletedOut, errors=(404, 409)
)
async def delete_knowledge(req: ApiRequest) -> DeletedOut:
    """Delete an article."""
    article_id = req.path["article_id"]
    q: DeleteQuery = req.query

    def op(s: KnowledgeService) -> Any:
        s.delete(article_id, q.expected_version)
        return DeletedOut(id=article_id, deleted=True)

    return await _call(req, op)

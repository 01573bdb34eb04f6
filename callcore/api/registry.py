"""How an endpoint is declared: path, role, typed query/body/response, and its OpenAPI entry.

One declaration drives three things, so they cannot drift apart: the aiohttp route, the
role check, and the endpoint's operation in `/openapi.json` (query, body and response
schemas come from the same pydantic models that parse the request and serialise the
reply). See callcore/api/__init__.py for the pattern a module follows.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

# The parts an endpoint may use: the wiring's `ApiServices` (callcore/wiring/services.py),
# built there and handed to `make_app`; this layer only passes it on.
ApiServices = Any

log = logging.getLogger("callcore.api")
T = TypeVar("T")


class Role(StrEnum):
    """Token roles. SEAT < SUPERVISOR < ADMIN are ordered: a role may do what the ones below
    it may. The others stand outside that order, each for one kind of user:

    - QA (质检 reviewers): QA endpoints only; supervisors and admins may do them too.
    - DEPARTMENT (a responsible unit's clerk; the token names its unit): department
      endpoints only, on its own unit's requests; an admin may do them too.
    - SUBCENTRE (the 12366 sub-centre's system, posting its call records): only that, and
      an admin may do it too.
    """

    SEAT = "seat"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    QA = "qa"
    DEPARTMENT = "department"
    SUBCENTRE = "subcentre"

    @property
    def rank(self) -> int:
        return _RANK.get(self, -1)

    @property
    def ordered(self) -> bool:
        return self in _RANK

    def allows(self, needed: Role) -> bool:
        if self is needed:
            return True
        if not needed.ordered:
            return self in _ALSO_ALLOWED[needed]
        return self.ordered and self.rank >= needed.rank


_RANK = {Role.SEAT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}
# who else may do what an unordered role's endpoints do
_ALSO_ALLOWED = {
    Role.QA: frozenset({Role.SUPERVISOR, Role.ADMIN}),
    Role.DEPARTMENT: frozenset({Role.ADMIN}),
    Role.SUBCENTRE: frozenset({Role.ADMIN}),
}


@dataclass(frozen=True)
class Identity:
    """Who holds the token: a name for the audit, a role, for a seat token its seat id and
    for a department token the unit it acts for."""

    name: str
    role: Role
    seat: str | None = None
    unit: str | None = None

    @property
    def is_seat(self) -> bool:
        return self.role is Role.SEAT


# Where the auth middleware leaves the caller's identity (None: no token was sent).
IDENTITY: web.RequestKey[Identity | None] = web.RequestKey("identity", object)  # type: ignore[arg-type]


class Model(BaseModel):
    """Base of every request and response model: unknown fields are refused, so the
    OpenAPI description generated from the model is exactly what goes over the wire."""

    model_config = ConfigDict(extra="forbid")


class ApiError(Exception):
    """An error reply: `{"error": code, "message": message}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    def response(self) -> web.Response:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.detail is not None:
            body["detail"] = self.detail
        return json_response(body, status=self.status)


class ErrorOut(Model):
    error: str
    message: str
    detail: Any = None


def json_response(data: Any, status: int = 200) -> web.Response:
    """UTF-8 JSON with Chinese kept as characters (not \\u escapes)."""
    return web.Response(
        text=json.dumps(data, ensure_ascii=False, default=str),
        status=status,
        content_type="application/json",
        charset="utf-8",
    )


@dataclass
class ApiRequest:
    """What a handler receives: the parsed request, who asked, and the engine's services."""

    request: web.Request
    identity: Identity | None
    services: ApiServices
    path: dict[str, str]
    query: Any = None  # an instance of the endpoint's query model, or None
    body: Any = None  # an instance of the endpoint's body model, or None

    @property
    def lang(self) -> str:
        """`en` when the request's Accept-Language asks for English; Chinese otherwise."""
        return "en" if self.request.headers.get("Accept-Language", "").startswith("en") else "zh"

    async def in_thread(
        self,
        part: str,
        op: Callable[[Any], T],
        refused: type[Exception],
        error: Callable[[Any], ApiError],
    ) -> T:
        """`op` on the service `part` (503 without it) in a thread, so the loop never
        waits on the store; a refusal of type `refused` becomes the reply `error(refusal)`."""
        service = self.services.need(part)
        try:
            return await asyncio.to_thread(op, service)
        except refused as exc:
            raise error(exc) from None

    def own_seat_only(self) -> str | None:
        """The seat a seat token is limited to; None for supervisors and admins."""
        if self.identity is not None and self.identity.is_seat:
            return self.identity.seat or "\x00no-seat"  # a seat token without seat sees nothing
        return None


EndpointHandler = Callable[[ApiRequest], Awaitable[Any]]
Decorator = Callable[[EndpointHandler], EndpointHandler]


@dataclass
class Endpoint:
    method: str  # GET, POST, DELETE, or WS for a WebSocket upgrade
    path: str
    handler: EndpointHandler
    role: Role | None  # None: public (health, metrics, the description itself)
    summary: str
    description: str = ""
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None  # JSON reply model; None with `content_type`
    content_type: str = "application/json"
    status: int = 200
    errors: tuple[int, ...] = ()
    tag: str = ""
    also: frozenset[Role] = frozenset()  # roles outside `role`'s order also let in (QA)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


@dataclass
class Api:
    """The endpoints of one module; `app.make_app` mounts every module's `api`."""

    tag: str
    description: str = ""
    endpoints: list[Endpoint] = field(default_factory=list)

    def _add(self, method: str, path: str, **kw: Any) -> Decorator:
        def deco(fn: EndpointHandler) -> EndpointHandler:
            summary = kw.pop("summary", None) or (fn.__doc__ or fn.__name__).strip().split("\n")[0]
            description = kw.pop("description", None) or (fn.__doc__ or "").strip()
            self.endpoints.append(
                Endpoint(
                    method, path, fn, summary=summary, description=description, tag=self.tag, **kw
                )
            )
            return fn

        return deco

    def get(self, path: str, *, role: Role | None, **kw: Any) -> Decorator:
        return self._add("GET", path, role=role, **kw)

    def post(self, path: str, *, role: Role | None, **kw: Any) -> Decorator:
        return self._add("POST", path, role=role, **kw)

    def delete(self, path: str, *, role: Role | None, **kw: Any) -> Decorator:
        return self._add("DELETE", path, role=role, **kw)

    def websocket(self, path: str, *, role: Role | None, **kw: Any) -> Decorator:
        return self._add("WS", path, role=role, **kw)


def _validation_detail(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


def wrap(endpoint: Endpoint, services: ApiServices) -> Callable[[web.Request], Awaitable[Any]]:
    """The aiohttp handler of an endpoint: role check, parsing, serialisation, error replies."""

    async def handle(request: web.Request) -> web.StreamResponse:
        identity = request.get(IDENTITY)
        try:
            _check_role(endpoint, identity)
            req = ApiRequest(request, identity, services, dict(request.match_info))
            if endpoint.query is not None:
                req.query = _parse_query(endpoint.query, request, ws=endpoint.method == "WS")
            if endpoint.body is not None:
                req.body = await _parse_body(endpoint.body, request)
            result = await endpoint.handler(req)
        except ApiError as exc:
            return exc.response()
        return _reply(endpoint, result)

    handle.__name__ = endpoint.operation_id
    return handle


def _check_role(endpoint: Endpoint, identity: Identity | None) -> None:
    """401 without a token, 403 when the token's role is below the endpoint's."""
    if endpoint.role is None:
        return
    if identity is None:
        raise ApiError(401, "unauthorized", "a token is required (Authorization: Bearer <token>)")
    if not identity.role.allows(endpoint.role) and identity.role not in endpoint.also:
        raise ApiError(
            403,
            "forbidden",
            f"role {identity.role.value} may not do this; needs {endpoint.role.value}",
        )


def _parse_query(model: type[BaseModel], request: web.Request, *, ws: bool) -> BaseModel:
    """The endpoint's query model from the query string; 400 `bad_query` if it does not fit."""
    try:
        params = dict(request.query)
        if ws:
            params.pop("access_token", None)  # the token, read by the middleware
        return model.model_validate(params)
    except ValidationError as exc:
        raise ApiError(
            400, "bad_query", "invalid query parameters", _validation_detail(exc)
        ) from None


async def _parse_body(model: type[BaseModel], request: web.Request) -> BaseModel:
    """The endpoint's body model from the JSON body (none: `{}`); 400 `bad_body` otherwise."""
    try:
        raw = await request.read()
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise ApiError(400, "bad_body", "invalid request body", _validation_detail(exc)) from None


def _reply(endpoint: Endpoint, result: Any) -> web.StreamResponse:
    """A handler's own response as it is; a model or plain data as JSON."""
    if isinstance(result, web.StreamResponse):
        return result
    if isinstance(result, BaseModel):
        return json_response(result.model_dump(mode="json"), status=endpoint.status)
    return json_response(result, status=endpoint.status)

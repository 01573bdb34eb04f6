"""The OpenAPI 3.1 description, generated from the endpoint declarations.

Paths, roles, parameters and schemas all come from the same `Endpoint` objects and pydantic
models that route and parse the requests, so the description cannot say something the
server does not do; a unit test also checks every mounted route is described and every
described operation is mounted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from callcore.api.registry import Endpoint, ErrorOut

_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
REF = "#/components/schemas/{model}"
_STATUS_TEXT = {
    400: "invalid request",
    401: "no token, or an unknown one",
    403: "the token's role may not do this",
    404: "not found",
    409: "conflict with the current state",
    502: "Asterisk refused or failed the action",
    503: "a part this endpoint needs is unavailable",
}


def openapi_path(path: str) -> str:
    """aiohttp `{name:regex}` placeholders as OpenAPI `{name}`."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


_Ref = Callable[..., dict]  # (model, mode="serialization") -> its {"$ref": ...}


def response_schema(spec: dict, path: str, method: str, status: int) -> dict:
    """The JSON schema `spec` gives for one reply, with its components: what a client or a
    test validates the reply against."""
    media = spec["paths"][path][method]["responses"][str(status)]["content"]
    return {**next(iter(media.values()))["schema"], "components": spec["components"]}


def build(endpoints: list[Endpoint], *, title: str, version: str, tags: dict[str, str]) -> dict:
    """The whole description: one operation per endpoint, the schemas they refer to."""
    refs, schemas = _schemas(endpoints)

    def ref(model: type[BaseModel], mode: str = "serialization") -> dict:
        return refs[(model, mode)]  # type: ignore[index]

    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        method = "get" if ep.method == "WS" else ep.method.lower()
        paths.setdefault(openapi_path(ep.path), {})[method] = _operation(ep, ref)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "callcore's HTTP API: live queues, seats and figures (docs/figures.md), "
                "stored calls, supervisor actions, an event stream, health and metrics. "
                "Send `Authorization: Bearer <token>`; each operation's `x-role` is the "
                "least role it needs (seat < supervisor < admin; qa, department and "
                "subcentre stand apart). A seat token sees its own calls only; a department "
                "token its own unit's requests."
            ),
        },
        "tags": [{"name": t, "description": d} for t, d in sorted(tags.items())],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": dict(sorted(paths.items())),
    }


def _schemas(endpoints: list[Endpoint]) -> tuple[dict, dict]:
    """The `$ref` of each model an endpoint names, and the component schemas they point to.

    Request bodies are described as parsed (validation), replies as sent (serialization).
    """
    wanted: set[tuple[type[BaseModel], str]] = {(ErrorOut, "serialization")}
    for ep in endpoints:
        if ep.body is not None:
            wanted.add((ep.body, "validation"))
        if ep.response is not None:
            wanted.add((ep.response, "serialization"))
    keyed = sorted(wanted, key=lambda m: (m[0].__name__, m[1]))
    refs, defs = models_json_schema(keyed, ref_template=REF)  # type: ignore[arg-type]
    return refs, defs.get("$defs", {})


def _operation(ep: Endpoint, ref: _Ref) -> dict[str, Any]:
    """One operation object: who may call it, its parameters, body and replies."""
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "summary": ep.summary,
        "tags": [ep.tag],
    }
    if ep.description and ep.description != ep.summary:
        op["description"] = ep.description
    if ep.role is None:
        op["security"] = []
        op["x-role"] = "public"
    else:
        op["security"] = [{"bearer": []}]
        op["x-role"] = ep.role.value
        if ep.also:
            op["x-also-roles"] = sorted(r.value for r in ep.also)
    params = _parameters(ep)
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(ep.body, "validation")}},
        }
    op["responses"] = _responses(ep, ref)
    return op


def _parameters(ep: Endpoint) -> list[dict[str, Any]]:
    """Path placeholders, the query model's fields, and a WebSocket's `access_token`."""
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAM.findall(ep.path)
    ]
    if ep.query is not None:
        qs = ep.query.model_json_schema(ref_template=REF)
        required = set(qs.get("required", []))
        for name, schema in qs.get("properties", {}).items():
            param = {"name": name, "in": "query", "required": name in required}
            desc = schema.pop("description", None)
            if desc:
                param["description"] = desc
            param["schema"] = schema
            params.append(param)
    if ep.method == "WS":
        params.append(
            {
                "name": "access_token",
                "in": "query",
                "required": False,
                "description": "the token, for clients that cannot send headers",
                "schema": {"type": "string"},
            }
        )
    return params


def _responses(ep: Endpoint, ref: _Ref) -> dict[str, Any]:
    """The success reply, then every error status the endpoint can answer with."""
    responses: dict[str, Any] = {}
    if ep.method == "WS":
        responses["101"] = {"description": "switching to the WebSocket event stream"}
    elif ep.response is not None:
        responses[str(ep.status)] = {
            "description": ep.response.__doc__.strip().split("\n")[0]
            if ep.response.__doc__
            else "ok",
            "content": {"application/json": {"schema": ref(ep.response)}},
        }
    else:
        responses[str(ep.status)] = {
            "description": "ok",
            "content": {ep.content_type: {"schema": {"type": "string"}}},
        }
    codes = set(ep.errors)
    if ep.role is not None:
        codes |= {401, 403}
    if ep.query is not None or ep.body is not None:
        codes.add(400)
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _STATUS_TEXT.get(code, "error"),
            "content": {"application/json": {"schema": ref(ErrorOut)}},
        }
    return responses

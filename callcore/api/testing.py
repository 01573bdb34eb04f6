"""Helpers for API tests: send a request and check the reply against the endpoint's own
description, so a test of behaviour also keeps `/openapi.json` honest (test code only:
nothing in callcore imports this)."""

from __future__ import annotations

from typing import Any

import jsonschema
from aiohttp.test_utils import TestClient

from callcore.api.app import SPEC
from callcore.api.openapi import response_schema


async def described(c: TestClient, method: str, path: str, url: str, status: int, **kw: Any) -> Any:
    """Send `method url` (an instance of the described `path`), expect `status`, and
    validate the JSON reply against the schema the description gives for it."""
    r = await c.request(method, url, **kw)
    body = await r.json()
    assert r.status == status, body
    jsonschema.validate(body, response_schema(c.app[SPEC], path, method.lower(), status))
    return body

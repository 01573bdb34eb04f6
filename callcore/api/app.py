"""The aiohttp application: the endpoints it is given, the token middleware, and
`/openapi.json` generated from the same declarations.

Features declare their endpoints (`api = Api(...)` in their `api.py`); the wiring lists
them once (`callcore.wiring.endpoints`) and hands them here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiohttp import web

import callcore
from callcore.api import openapi
from callcore.api.auth import FailedAuth, TokenBook, middleware
from callcore.api.registry import Api, ApiServices, Endpoint, json_response, wrap

log = logging.getLogger("callcore.api")

SERVICES: web.AppKey[ApiServices] = web.AppKey("services")
ENDPOINTS: web.AppKey[list[Endpoint]] = web.AppKey("endpoints", list)
SPEC: web.AppKey[dict] = web.AppKey("spec", dict)


def describe(apis: Iterable[Api]) -> tuple[list[Endpoint], dict]:
    apis = list(apis)
    endpoints = [ep for a in apis for ep in a.endpoints]
    spec = openapi.build(
        endpoints,
        title="callcore 12345 hotline API",
        version=getattr(callcore, "__version__", "0.1.0"),
        tags={a.tag: a.description for a in apis},
    )
    return endpoints, spec


async def _openapi(request: web.Request) -> web.Response:
    return json_response(request.app[SPEC])


def make_app(
    services: ApiServices,
    tokens: TokenBook,
    apis: Iterable[Api],
    failures: FailedAuth | None = None,
) -> web.Application:
    """The application for these services and endpoints (`callcore.wiring.endpoints.APIS`);
    `failures` limits failed authentications per address (default: 10 a minute)."""
    app = web.Application(middlewares=[middleware(tokens, failures)], client_max_size=1 << 20)
    endpoints, spec = describe(apis)
    seen: set[tuple[str, str]] = set()
    for ep in endpoints:
        key = ("GET" if ep.method == "WS" else ep.method, ep.path)
        if key in seen:
            raise ValueError(f"two endpoints for {key[0]} {key[1]}")
        seen.add(key)
        app.router.add_route(key[0], ep.path, wrap(ep, services), name=ep.operation_id)
    app.router.add_get("/openapi.json", _openapi, name="openapi")
    app[SERVICES] = services
    app[ENDPOINTS] = endpoints
    app[SPEC] = spec
    app.on_shutdown.append(_close_streams)
    return app


async def _close_streams(app: web.Application) -> None:
    await app[SERVICES].hub.close()


class ApiServer:
    """The API on `host:port`, started and stopped with the engine."""

    def __init__(self, app: web.Application, host: str, port: int):
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("HTTP API on http://%s:%d", self.host, self.port)

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                await asyncio.wait_for(runner.cleanup(), 10)
            except TimeoutError:
                log.warning("HTTP API did not stop within 10 s")

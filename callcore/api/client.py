"""A small client of the HTTP API, for the CLI's supervisor commands and the monitor's keys.

Actions go through the API rather than straight to AMI so that each one is authorised by
a token (its name is the audit's "who") and audited in one place.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

from callcore.instance import Instance


def api_url(inst: Instance, override: str | None = None) -> str:
    """The engine's API: `--api`, `CALLCORE_API`, or the config's pbx.bind:api_port."""
    url = override or os.environ.get("CALLCORE_API")
    if url:
        return url.rstrip("/")
    pbx = inst.config.pbx
    return f"http://{pbx.bind}:{pbx.api_port}"


class ApiFailure(Exception):
    """The API refused or failed: `code` and `message` from its error reply."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ApiClient:
    def __init__(self, base: str, token: str | None, timeout: float = 45.0):
        self.base = base
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(self, method: str, path: str, body: dict | None = None) -> Any:
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as s,
                s.request(method, self.base + path, json=body, headers=self._headers()) as r,
            ):
                data = await r.json(content_type=None)
                if r.status >= 400:
                    raise ApiFailure(
                        r.status, str(data.get("error", r.status)), str(data.get("message", ""))
                    )
                return data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiFailure(0, "unreachable", f"{self.base}: {exc or type(exc).__name__}") from exc

    async def seat_action(self, seat: str, action: str, **body: Any) -> dict:
        """pause (reason), resume, logoff, move (zone), or a spy mode (supervisor)."""
        if action in ("listen", "whisper", "barge"):
            return await self.request("POST", f"/api/v1/seats/{seat}/spy", {"mode": action, **body})
        return await self.request("POST", f"/api/v1/seats/{seat}/{action}", body or None)

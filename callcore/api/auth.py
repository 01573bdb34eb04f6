"""Bearer tokens with roles, read from the instance's secrets file.

Tokens are made by `callcore token add`, which prints each once; `<home>/secrets.yaml`
(mode 0600) keeps only their SHA-256 (`api_tokens: {"sha256:<hex>": {role, name, seat,
unit}}`), so a copy of the file gives nobody a working token. The book re-reads the file
when it changes, so a new or revoked token takes effect without a restart. Tokens are never
logged nor echoed in an error; failed authentications are limited per source address.
"""

from __future__ import annotations

import logging
import os
import secrets as _secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from callcore.api.registry import IDENTITY, ApiError, Identity, Role
from callcore.instance import HASHED, hash_clear_tokens, hashed_key, token_digest

log = logging.getLogger("callcore.api")


def _key_digest(key: str) -> bytes:
    """The digest a key of `api_tokens` stands for: hashed keys as they are, a token
    written in the clear (older files, hand-made test files) hashed now."""
    if key.startswith(HASHED):
        try:
            return bytes.fromhex(key[len(HASHED):])
        except ValueError:
            pass
    return token_digest(key)


def fingerprint(key: str) -> str:
    """A short id of a token to tell tokens apart in lists (never the token)."""
    return _key_digest(str(key)).hex()[:8]


def parse_tokens(raw: dict[str, Any]) -> dict[bytes, Identity]:
    """`api_tokens` from the secrets file as digest -> identity; bad entries are skipped."""
    out: dict[bytes, Identity] = {}
    for token, spec in (raw or {}).items():
        try:
            role = Role(str(spec.get("role", "")))
        except (ValueError, AttributeError):
            log.error("api token %s has no valid role; ignored", fingerprint(str(token)))
            continue
        seat, unit = spec.get("seat"), spec.get("unit")
        if role is Role.DEPARTMENT and not unit:
            log.error("department token %s names no unit; ignored", fingerprint(str(token)))
            continue
        out[_key_digest(str(token))] = Identity(
            name=str(spec.get("name") or role.value),
            role=role,
            seat=str(seat) if seat else None,
            unit=str(unit) if unit else None,
        )
    return out


class TokenBook:
    """Token -> identity, following the secrets file as it changes."""

    def __init__(self, secrets_file: Path | None = None, tokens: dict[str, Any] | None = None):
        self.secrets_file = secrets_file
        self._stamp: tuple[int, int] | None = None
        self._by_digest: dict[bytes, Identity] = parse_tokens(tokens or {})

    def _refresh(self) -> None:
        if self.secrets_file is None:
            return
        try:
            st = self.secrets_file.stat()
        except FileNotFoundError:
            self._by_digest, self._stamp = {}, None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            data = yaml.safe_load(self.secrets_file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            log.error("cannot read api tokens from %s: %s", self.secrets_file, exc)
            return  # keep the tokens we had
        self._by_digest = parse_tokens(data.get("api_tokens") or {})
        self._stamp = stamp

    def identify(self, token: str) -> Identity | None:
        self._refresh()
        return self._by_digest.get(token_digest(token))


def bearer(request: web.Request) -> str | None:
    """The token of a request: `Authorization: Bearer …`, or `access_token=` on a WebSocket
    upgrade (browsers cannot set headers on a WebSocket)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return request.query.get("access_token") or None
    return None


class FailedAuth:
    """Failed authentications per source address in a sliding window: an address past the
    limit is refused (429) until its oldest failure leaves the window, so a token guesser
    gets a handful of tries a minute while every other address goes on as before."""

    def __init__(self, limit: int = 10, window_s: float = 60.0, clock=time.monotonic):
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._fails: dict[str, deque[float]] = {}

    def _recent(self, addr: str) -> deque[float]:
        now = self._clock()
        q = self._fails.get(addr)
        if q is None:
            return deque()
        while q and now - q[0] > self.window_s:
            q.popleft()
        if not q:
            del self._fails[addr]
        return q

    def retry_after(self, addr: str) -> float | None:
        """Seconds until this address may try again, or None if it may now."""
        q = self._recent(addr)
        if len(q) < self.limit:
            return None
        return max(0.0, self.window_s - (self._clock() - q[0]))

    def failed(self, addr: str) -> None:
        if len(self._fails) > 100_000:  # a scan from many addresses: forget the quiet ones
            for a in list(self._fails):
                self._recent(a)
        self._fails.setdefault(addr, deque()).append(self._clock())


def middleware(
    book: TokenBook, failures: FailedAuth | None = None
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Sets `request["identity"]` from the token. An unknown token is refused at once (401)
    and counted against the source address (429 past the limit); no token leaves the
    identity empty and each endpoint's role decides (public or 401)."""
    failures = failures or FailedAuth()

    @web.middleware
    async def auth(request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        token = bearer(request)
        identity = None
        if token is not None:
            addr = request.remote or "?"
            wait = failures.retry_after(addr)
            if wait is not None:
                resp = ApiError(
                    429, "too_many_failures", "too many failed authentications; try later"
                ).response()
                resp.headers["Retry-After"] = str(max(1, round(wait)))
                return resp
            identity = book.identify(token)
            if identity is None:
                failures.failed(addr)
                log.warning("unknown API token from %s", addr)
                return ApiError(401, "unauthorized", "unknown or revoked token").response()
        request[IDENTITY] = identity
        return await handler(request)

    return auth


# -- token management (the `callcore token` commands) -------------------------------------


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def _save(path: Path, data: dict[str, Any]) -> None:
    """Atomically, mode 0600: the file holds every secret of the instance."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        yaml.safe_dump(data, f, allow_unicode=True, sort_keys=True)
    os.replace(tmp, path)


def add_token(
    path: Path, role: Role, name: str, seat: str | None = None, unit: str | None = None
) -> str:
    """Create a token; returns it (shown once to the operator, kept only in the file)."""
    if (role is Role.SEAT) != bool(seat):
        raise ValueError(
            "a seat token needs the seat id it belongs to (--seat)"
            if role is Role.SEAT else "only a seat token names a seat"
        )
    if (role is Role.DEPARTMENT) != bool(unit):
        raise ValueError(
            "a department token needs the unit it acts for (--unit)"
            if role is Role.DEPARTMENT else "only a department token names a unit"
        )
    data = _load(path)
    tokens = data.setdefault("api_tokens", {})
    token = _secrets.token_urlsafe(24)
    entry = {"role": role.value, "name": name}
    if seat:
        entry["seat"] = seat
    if unit:
        entry["unit"] = unit
    hash_clear_tokens(tokens)
    tokens[hashed_key(token)] = entry
    _save(path, data)
    return token


def list_tokens(path: Path) -> list[dict[str, str]]:
    """Every token's name, role, seat or unit and a fingerprint to tell them apart (never
    the token: the file keeps only its hash)."""
    out = []
    for token, spec in (_load(path).get("api_tokens") or {}).items():
        out.append(
            {
                "id": fingerprint(str(token)),
                "name": str(spec.get("name", "")),
                "role": str(spec.get("role", "")),
                "seat": str(spec.get("seat") or ""),
                "unit": str(spec.get("unit") or ""),
            }
        )
    return sorted(out, key=lambda t: (t["role"], t["name"]))


def remove_tokens(path: Path, name: str) -> int:
    """Revoke every token with this name; returns how many."""
    data = _load(path)
    tokens = data.get("api_tokens") or {}
    gone = [t for t, spec in tokens.items() if spec.get("name") == name]
    for t in gone:
        del tokens[t]
    if gone:
        _save(path, data)
    return len(gone)

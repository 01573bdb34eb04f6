"""The workstation's static files, read once into memory with their type and ETag.

Only files that exist under `static/` when the engine starts are served, looked up by
their relative name in a table: a request path is never joined onto the file system, so
`..`, absolute paths or symlinks cannot reach anything else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str  # a strong validator: the content's hash


def load(root: Path = STATIC) -> dict[str, Asset]:
    """Every servable file under `root`, by its posix path relative to it."""
    out: dict[str, Asset] = {}
    for path in sorted(root.rglob("*")):
        kind = TYPES.get(path.suffix)
        if kind is None or not path.is_file() or path.is_symlink():
            continue
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:20]
        out[path.relative_to(root).as_posix()] = Asset(body, kind, f'"{digest}"')
    return out

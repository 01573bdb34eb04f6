"""The one shape of an audit row: who did or read what, when, allowed or refused.

Every feature that touches citizens' data (recordings, work orders, QA, exports) writes
its audit through this, in its own transaction or through the store writer (journaled).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert

from callcore.store.models import AuditEntry


def row(
    actor: str,
    role: str,
    action: str,
    target: str,
    detail: Mapping[str, Any],
    error: str = "",
    at: datetime | None = None,
) -> dict[str, Any]:
    """An `audit` row, cut to the columns' sizes; `error` marks a refused access."""
    at = at or datetime.now(UTC)
    return {
        "id": str(uuid.uuid4()),
        "at": at,
        "actor": actor[:64],
        "role": role[:16],
        "action": action[:32],
        "target": target[:64],
        "detail": json.dumps(dict(detail), ensure_ascii=False, default=str),
        "result": "error" if error else "ok",
        "error": error,
        "as_of": at.timestamp(),
    }


def write(engine: Engine, actor: str, role: str, action: str, target: str,
          detail: Mapping[str, Any], error: str = "") -> None:  # fmt: skip
    """Write one audit row in its own transaction (where no store writer runs: the CLI,
    `callcore api` on another node, a batch)."""
    with engine.begin() as conn:
        conn.execute(insert(AuditEntry.__table__).values(row(actor, role, action, target,
                                                             detail, error)))  # fmt: skip

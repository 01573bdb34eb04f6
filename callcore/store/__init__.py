"""The request store: one row per call (keyed by Linkedid), journaled, then upserted.

- `StoreWriter`: what the asyncio side uses (`submit`, `flush`, `close`, `health`);
- `db`: engines, migrations (`upgrade`), the idempotent upsert and queries;
- `journal`: the durable local journal; `models`: the schema; `rows`: record hygiene.
"""

from callcore.store.db import get_call, make_engine, query_calls, upgrade, upsert_calls
from callcore.store.journal import Journal, JournalLocked
from callcore.store.rows import RejectedRecord, clean_record
from callcore.store.writer import StoreWriter, WriterStopped

__all__ = [
    "Journal",
    "JournalLocked",
    "RejectedRecord",
    "StoreWriter",
    "WriterStopped",
    "clean_record",
    "get_call",
    "make_engine",
    "query_calls",
    "upgrade",
    "upsert_calls",
]

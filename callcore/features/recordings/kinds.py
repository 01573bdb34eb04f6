"""The store kind recordings are written as: `recording`, one `recordings` row per leg.

Importing this module registers the kind, so journal entries replay after a restart; a
file compressed twice (a crash between the row and removing the spool file) is one row.
"""

from __future__ import annotations

from callcore.features.recordings.model import RecordingRecord
from callcore.features.recordings.tables import Recording
from callcore.store.kinds import StoreKind, register

RECORDING = register(StoreKind(RecordingRecord.STORE_KIND, Recording.__table__))  # type: ignore[arg-type]

"""The store kind outbound calls are written as: `outbound_call`, one `outbound_calls` row
per call callcore places (journal first, like a call in).

Importing this module registers the kind with the store writer.
"""

from __future__ import annotations

from callcore.features.callsout.service import OutboundRecord
from callcore.features.callsout.tables import OutboundCall
from callcore.store.kinds import StoreKind, register

OUTBOUND_CALL = register(StoreKind(OutboundRecord.STORE_KIND, OutboundCall.__table__))  # type: ignore[arg-type]

"""The store kind ratings are written as: `rating`, one `ratings` row per call (Linkedid).

Importing this module registers the kind with the store writer; a rating given twice
(live, then again from queue_log) is one row, the live one kept (`model.RECONCILED_EARLIER`).
"""

from __future__ import annotations

from callcore.features.ratings.model import RatingRecord
from callcore.features.ratings.tables import Rating
from callcore.store.kinds import StoreKind, register

RATING = register(StoreKind(RatingRecord.STORE_KIND, Rating.__table__))  # type: ignore[arg-type]

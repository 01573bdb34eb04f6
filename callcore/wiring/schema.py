"""Every feature's tables, imported so that `Base.metadata` is the whole schema.

The store layer cannot import features; what needs the whole schema at once (the check
that the migrations build exactly the models, Alembic's autogenerate) imports this.
"""

from __future__ import annotations

import callcore.features.callsout.tables
import callcore.features.knowledge.tables
import callcore.features.quality.tables
import callcore.features.ratings.tables
import callcore.features.recordings.tables
import callcore.features.reports.tables
import callcore.features.workorders.tables  # noqa: F401
from callcore.store.models import Base

METADATA = Base.metadata

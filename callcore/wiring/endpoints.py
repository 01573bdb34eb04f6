"""Every feature's HTTP endpoints, listed once: the engine and `callcore api` mount these.

The order is the order of the tags in `/openapi.json`; a new feature's `api` is one line here.
"""

from __future__ import annotations

from callcore.api.events import api as events
from callcore.api.registry import Api
from callcore.features.calls.api import api as calls
from callcore.features.callsout.api import api as callsout
from callcore.features.enterprises.api import api as enterprises
from callcore.features.guard.api import api as guard
from callcore.features.knowledge.api import api as knowledge
from callcore.features.live.api import api as live
from callcore.features.quality.api import api as quality
from callcore.features.ratings.api import api as ratings
from callcore.features.recordings.api import api as recordings
from callcore.features.reports.api import api as reports
from callcore.features.subcentre.api import api as subcentre
from callcore.features.supervisors.api import api as supervisor_actions
from callcore.features.transfers.api import api as transfers
from callcore.features.workorders.api import api as requests
from callcore.features.workstation.api import api as workstation
from callcore.wiring.system_api import api as system
from seats.api import api as seat_sessions

APIS: tuple[Api, ...] = (
    supervisor_actions,
    calls,
    events,
    live,
    requests,
    enterprises,
    seat_sessions,
    subcentre,
    system,
    transfers,
    knowledge,
    reports,
    callsout,
    guard,
    quality,
    recordings,
    workstation,
    ratings,
)

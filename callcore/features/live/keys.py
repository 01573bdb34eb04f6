"""The Redis key layout of one site's live state (all under `callcore:<namespace>:`).

| key | type | holds |
|---|---|---|
| `meta` | hash | `heartbeat` (epoch s, every second), `pid`, `host`, `rebuilt_at` |
| `waiting` | hash | linkedid -> JSON of a caller waiting in a queue |
| `seats` | hash | seat id -> JSON of a seat's state |
| `fig:d:<YYYYMMDD>` | hash | `<scope>|<counter>` -> integer, calls that entered that local day |
| `fig:m:<epoch minute>` | hash | the same for calls that entered in that minute |
| `contrib:<YYYYMMDD>` | hash | linkedid -> JSON of what the call last added to the figures |
| `rate:d:<YYYYMMDD>` | string | JSON of that day's ratings (`live.ratings.RatingsView`) |
| `events` | pub/sub | the event stream, for API processes on other nodes |

Scopes: `all`, `q:<queue or trunk:id>`, `n:<directory number>` (`n:` alone: unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_TTL = 3 * 86400  # a day's figures and contributions outlive the day a little
MINUTE_TTL = 2 * 3600  # minute buckets are read for the rolling 60 minutes only
STATE_TTL = 86400  # waiting/seats/meta: refreshed on every write while an engine runs


@dataclass(frozen=True)
class Keys:
    namespace: str

    @property
    def prefix(self) -> str:
        return f"callcore:{self.namespace}:"

    @property
    def meta(self) -> str:
        return self.prefix + "meta"

    @property
    def waiting(self) -> str:
        return self.prefix + "waiting"

    @property
    def seats(self) -> str:
        return self.prefix + "seats"

    @property
    def events(self) -> str:
        return self.prefix + "events"

    def day(self, day: str) -> str:
        return f"{self.prefix}fig:d:{day}"

    def minute(self, minute: int) -> str:
        return f"{self.prefix}fig:m:{minute}"

    def contrib(self, day: str) -> str:
        return f"{self.prefix}contrib:{day}"

    def ratings(self, day: str) -> str:
        return f"{self.prefix}rate:d:{day}"

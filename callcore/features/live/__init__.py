"""Shared real-time state: who waits in which queue, what each seat is doing, and the
service figures for today and the last 15 and 60 minutes, kept in Redis.

- `model.py`   what is happening now, from AMI events and call records (pure, synchronous);
- `api.py`     the snapshot, queues, seats and figures over HTTP;
- `reader.py`  the same state read back by another node (`callcore api`);
- `state.py`   `LiveState`: the engine's writer of that model and of the figures into Redis
               (never on the AMI consumer's path: a task drains what changed, in pipelines);
               rebuilt from Asterisk (QueueStatus) and the store at start and after an outage;
- `keys.py`    the Redis key layout, namespaced per site so instances never collide;
- `snapshot.py` one read of everything (one pipeline) into the `Snapshot` that the monitor,
               `callcore monitor --once --json` and the API all show.

Redis being down never touches calls: the engine routes and stores as before, and every
reader reports "live figures unavailable".
"""

from __future__ import annotations

import hashlib
import os

from callcore.instance import Instance


def redis_url(inst: Instance) -> str:
    """The site's Redis; `CALLCORE_REDIS_URL` overrides the config (tests, other nodes)."""
    env = os.environ.get("CALLCORE_REDIS_URL")
    if env and not env.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("CALLCORE_REDIS_URL must be a redis://, rediss:// or unix:// URL")
    return env or inst.config.live.redis_url


def namespace(inst: Instance) -> str:
    """Key prefix of this site: the config's `live.namespace`, else one derived from the
    instance home, so two instances on one Redis (parallel tests) never share a key."""
    ns = inst.config.live.namespace
    if ns:
        return ns
    digest = hashlib.sha1(str(inst.home).encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"home-{digest}"

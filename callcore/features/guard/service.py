"""The guard in the engine: counts failures from the security events, bans an address past
the limit, lifts bans when they expire or an operator removes one; every ban and unban is
audited and applied to Asterisk (the wiring's `apply`: write the ACL, reload PJSIP).

Handlers are synchronous and quick (they run on the AMI consumer); applying a ban is an
AMI action, so it runs in a task of its own. A guesser that keeps trying while its ban is
being applied only adds failures; the real seats, on other addresses, never notice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from ipaddress import ip_address, ip_network
from typing import Any

from callcore.ami import Message, Subscriptions
from callcore.features.guard.model import (
    FAILURES,
    Ban,
    BanFile,
    Failures,
    Network,
    remote_ip,
    trusted,
)
from callcore.features.supervisors.actions import AuditRecord
from config.schema import SiteConfig

log = logging.getLogger(__name__)


class GuardService:
    def __init__(
        self,
        config: Callable[[], SiteConfig],
        bans: BanFile,
        apply: Callable[[list[Ban]], Awaitable[None]],
        audit: Callable[[AuditRecord], Any],
        *,
        clock: Callable[[], float] = time.time,
    ):
        self._config = config
        self.file = bans
        self._apply = apply
        self._audit = audit
        self._clock = clock
        self._failures = Failures(config().guard.window_seconds)
        self._banned: dict[str, Ban] = bans.read()
        self._applying: asyncio.Task[None] | None = None
        self._dirty = False
        self.counters = {"failures": 0, "bans": 0, "unbans": 0, "ignored_trusted": 0}

    def subscriptions(self) -> Subscriptions:
        return dict.fromkeys(FAILURES, self.on_failure)

    # -- what never gets banned --------------------------------------------------------------
    def _trusted(self) -> list[Network]:
        cfg = self._config()
        nets: list[Network] = list(cfg.guard.trusted)
        for t in cfg.trunks:
            try:
                nets.append(ip_network(t.host))
            except ValueError:
                continue  # a host name: its address is not known here
            for m in getattr(t, "match", None) or ():
                try:
                    nets.append(ip_network(m, strict=False))
                except ValueError:
                    continue
        return nets

    # -- the events --------------------------------------------------------------------------
    def on_failure(self, ev: Message) -> None:
        settings = self._config().guard
        addr = remote_ip(ev.get("RemoteAddress"))
        if addr is None or not settings.enabled:
            return
        self.counters["failures"] += 1
        key = str(addr)
        if key in self._banned:
            return
        if trusted(addr, self._trusted()):
            self.counters["ignored_trusted"] += 1
            return
        now = self._clock()
        count = self._failures.add(key, ev.get("SessionID", ""), now)
        if count >= settings.max_failures:
            self._ban(Ban(key, now, now + settings.ban_seconds, count))

    def _ban(self, ban: Ban) -> None:
        self._banned[ban.address] = ban
        self._failures.forget(ban.address)
        self.file.add(ban)
        self.counters["bans"] += 1
        log.warning("guard: banned %s for %d s after %d failed authentications",
                    ban.address, round(ban.until - ban.since), ban.failures)
        self._record("ban", ban.address, ban.by, {"failures": ban.failures, "until": ban.until})
        self._schedule()

    def _record(self, action: str, address: str, actor: str, detail: dict[str, Any]) -> None:
        now = self._clock()
        self._audit(AuditRecord(
            id=str(uuid.uuid4()), at=datetime.fromtimestamp(now, UTC), actor=actor,
            role="guard" if actor == "guard" else "admin", action=action, target=address,
            detail=_json(detail), result="ok", error="", as_of=now,
        ))  # fmt: skip

    # -- applying to Asterisk ----------------------------------------------------------------
    def _schedule(self) -> None:
        self._dirty = True
        if self._applying is None or self._applying.done():
            self._applying = asyncio.get_running_loop().create_task(self._apply_loop())

    async def _apply_loop(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self._apply(list(self._banned.values()))
            except Exception as exc:  # Asterisk away: the ACL is rendered again at its start
                log.error("guard: could not apply the bans: %s", exc)
                return

    async def tick(self) -> None:
        """Expire bans and follow the file (an operator's `callcore ban remove`)."""
        now = self._clock()
        on_file = self.file.read()
        for addr in [a for a in self._banned if a not in on_file]:
            self._banned.pop(addr)
            self._schedule()
        for ban in self.file.expired(now):
            self.unban(ban.address, "guard", reason="expired")

    def unban(self, address: str, actor: str, *, reason: str = "removed") -> Ban | None:
        try:
            address = str(ip_address(address))
        except ValueError:
            return None
        gone = self.file.remove([address])
        ban = self._banned.pop(address, None) or (gone[0] if gone else None)
        if ban is None:
            return None
        self.counters["unbans"] += 1
        log.warning("guard: lifted the ban of %s (%s)", address, reason)
        self._record("unban", address, actor, {"reason": reason})
        self._schedule()
        return ban

    def bans(self) -> list[Ban]:
        return sorted(self._banned.values(), key=lambda b: b.since)

    async def run(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:
                log.exception("guard: tick failed")

    def summary(self) -> str | None:
        """For the monitor's banner: how many addresses are banned, and which."""
        bans = self.bans()
        if not bans:
            return None
        shown = ", ".join(b.address for b in bans[:3])
        return f"{len(bans)} ({shown}{' …' if len(bans) > 3 else ''})"


def _json(detail: dict[str, Any]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True)

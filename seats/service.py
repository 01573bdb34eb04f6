"""The seats in the engine: their states from AMI (the board), the operations log in /
out / pause / resume / move (the sessions), the feature codes a softphone dials, and the
rebuild of every seat's state after each AMI login.

Each change of a seat's state goes to the store and to the listeners the wiring gives
(the live view). Everything that touches the database runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

from agi.server import AgiHandler
from callcore.ami import Subscriptions
from config.schema import SiteConfig
from seats.features import make_agent_handler
from seats.history import last_changes
from seats.sessions import Ami, SeatSessions, queue_members
from seats.states import SeatBoard, SeatChange

log = logging.getLogger(__name__)


class SeatService:
    def __init__(
        self,
        config: Callable[[], SiteConfig],
        ami: Ami,
        submit: Callable[[Any], None],
        db: Callable[[], Engine],
        ami_connected: Callable[[], bool] = lambda: True,
        on_change: Sequence[Callable[[SeatChange], None]] = (),
    ):
        self._db = db
        self._ami_connected = ami_connected
        self._listeners = (submit, *on_change)
        self.board = SeatBoard(config, self._changed)
        self.sessions = SeatSessions(ami, config, self.board)
        self._resyncing = asyncio.Lock()

    def subscriptions(self) -> Subscriptions:
        return self.board.subscriptions()

    def agi_handlers(self) -> dict[str, AgiHandler]:
        """The feature codes' FastAGI request (`agent`); refused while AMI is away."""
        return {
            "agent": make_agent_handler(lambda: self.sessions if self._ami_connected() else None)
        }

    def _changed(self, change: SeatChange) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("seat change listener %r failed", listener)

    async def resync(self) -> None:
        """Rebuild every seat's state from Asterisk (QueueStatus) and the store's history."""
        async with self._resyncing:
            marks = self.board.begin_snapshot()
            try:
                last = await asyncio.to_thread(last_changes, self._db())
            except Exception as exc:
                log.warning("seats: no seat history from the store (%s)", exc)
                last = {}
            try:
                members = await queue_members(self.sessions.ami)
            except Exception as exc:
                log.warning("seats: QueueStatus failed (%s); seat states follow events", exc)
                return
            changed = self.board.apply_snapshot(members, last, marks)
            log.info("seat states rebuilt from Asterisk: %d seats changed", changed)

"""Handing a seat's caller to 110, 119, 120, 122 or a utility line (国办发〔2022〕12号).

Blind (one click): the caller goes to `[cc-transfer]`'s explicit extension for the
target, which dials it over the carrier trunk and, if it does not answer, brings the
caller back to the seat (`[cc-handoff]`). The softphone's own transfer button reaches the
same extension, so the API, the CLI and the softphone do one thing.

Three-party (where it is unclear whose the call is): seat and caller are moved into a
ConfBridge and the target is dialed into it; the seat may hang up, the caller and the
target stay connected. If the target does not answer the seat still has the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from callcore.features.transfers.service import CONTEXT as TRANSFER_CONTEXT
from callcore.features.transfers.service import mark_via, seat_channel
from config.schema import SiteConfig
from seats.service import SeatService

CONFERENCE_CONTEXT = "cc-3p"


class HandoffError(ValueError):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code = status, code
        super().__init__(message)


class Handoff:
    def __init__(self, config: Callable[[], SiteConfig], seats: SeatService):
        self._config = config
        self._seats = seats

    @property
    def _ami(self) -> Any:
        return self._seats.sessions.ami

    def _target(self, code: str) -> Any:
        cfg = self._config().callsout
        target = cfg.emergency_target(code)
        if target is None:
            known = ", ".join(f"{e.code} ({e.name})" for e in cfg.emergency)
            raise HandoffError(400, "unknown_target", f"no hand-off target {code!r}; {known}")
        return target

    async def _channel(self, seat_id: str) -> str:
        seat = self._seats.sessions.seat(seat_id)
        status = self._seats.board.status(seat.id)
        if status is not None and status.channel:
            return status.channel
        return await seat_channel(self._ami, seat.extension)

    async def handoff(
        self, seat_id: str, code: str, mode: str, via: str = "api"
    ) -> tuple[str, str]:
        """Hand the seat's caller to `code`; the seat's channel and the conference, if any."""
        self._target(code)
        chan = await self._channel(seat_id)
        if mode == "conference":
            return chan, await self.conference(chan, code)
        await mark_via(self._ami, chan, via)
        await self._ami.action(
            {"Action": "BlindTransfer", "Channel": chan, "Exten": code, "Context": TRANSFER_CONTEXT}
        )
        return chan, ""

    async def conference(self, seat_chan: str, code: str) -> str:
        """Seat and caller into a new conference, then the target dialed into it."""
        target = self._target(code)
        cfg = self._config()
        ami = self._ami
        peer = await ami.action(
            {"Action": "Getvar", "Channel": seat_chan, "Variable": "BRIDGEPEER"}
        )
        caller = str(peer.get("Value") or "")
        if not caller or "," in caller:
            raise HandoffError(409, "not_in_call", "the seat is not in a call with one caller")
        num = await ami.action({"Action": "Getvar", "Channel": caller, "Variable": "CALLERID(num)"})
        conf = f"{cfg.callsout.conference_prefix}-{uuid.uuid4().hex[:12]}"
        await ami.action(
            {
                "Action": "Redirect",
                "Channel": caller,
                "Context": CONFERENCE_CONTEXT,
                "Exten": conf,
                "Priority": "1",
                "ExtraChannel": seat_chan,
                "ExtraContext": CONFERENCE_CONTEXT,
                "ExtraExten": conf,
                "ExtraPriority": "1",
            }
        )
        await ami.action(
            {
                "Action": "Originate",
                "Channel": f"PJSIP/{target.number}@{cfg.carrier_trunk}",
                "Context": CONFERENCE_CONTEXT,
                "Exten": conf,
                "Priority": "1",
                "CallerID": f"<{num.get('Value') or cfg.callsout.caller_id}>",
                "Timeout": str(target.timeout * 1000),
                "Variable": [f"CC_3P_TARGET={target.code}"],
                "Async": "true",
            }
        )
        return conf

"""Feature codes dialed from a seat's softphone: log in, log out, pause with a reason, resume.

The dialplan (`[cc-features]` in extensions.conf) answers the seat, then asks callcore on
a Local channel, under a time bound, exactly like the routing request:

    AGI(agi://HOST:PORT/agent,<action>,<seat id>,<argument>,<seat channel>)

`<seat id>` comes from the authenticated endpoint (`set_var CC_SEAT`), never from what was
dialed. The handler carries the operation out through `SeatSessions` (AMI) and writes the
name of the confirmation to play onto the seat's channel (`SHARED(CC_AGENT)`). If callcore
is down, slow or Asterisk refused, nothing is written and the dialplan does the same with
AddQueueMember / RemoveQueueMember / PauseQueueMember itself (`[cc-agent-static]`), so a
seat can always log in. Either way the state comes back as queue events to `SeatBoard`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from agi.protocol import AgiRequest
from agi.server import AgiChannel, AgiHandler, BadRequest
from callcore.ami import AmiError
from callcore.features.routing.agi import valid_channel
from config.schema import SiteConfig
from seats.sessions import SeatError, SeatSessions

log = logging.getLogger("callcore.agi.agent")

ACTIONS = ("login", "logout", "pause", "resume")

# Confirmations the seat hears (sound file `agent-<key>`), spoken by espeak-ng in Mandarin.
FIXED_PROMPTS = {
    "login": "已签入，开始接听来电。",
    "logout": "已签出，不再接听来电。",
    "resume": "已恢复接听。",
    "bad-code": "功能码无效，请重新拨号。",
    "not-logged-in": "您尚未签入，请先签入。",
    "transfer": "转接，请拨号。",  # features.conf transferannouncesound (DTMF ## / *2)
}
_ERROR_PROMPT = {"unknown_reason": "bad-code", "logged_off": "not-logged-in"}


def prompts(cfg: SiteConfig) -> dict[str, str]:
    """Sound name -> Mandarin text of every confirmation a feature code can play."""
    out = {f"agent-{k}": v for k, v in FIXED_PROMPTS.items()}
    for r in cfg.pause_reasons:
        out[f"agent-pause-{r.id}"] = f"已暂停接听，原因：{r.name}。"
    return out


async def perform(sessions: SeatSessions, action: str, seat_id: str, arg: str) -> str:
    """Carry out one feature code; returns the confirmation key (`agent-<key>` is played)."""
    source = "feature"
    if action == "login":
        await sessions.login(seat_id, source=source)
        return "login"
    if action == "logout":
        await sessions.logout(seat_id, source=source)
        return "logout"
    if action == "pause":
        return "pause-" + await sessions.pause(seat_id, arg, source=source)
    if action == "resume":
        await sessions.resume(seat_id, source=source)
        return "resume"
    raise SeatError("unknown_action", f"unknown feature {action!r}")


def make_agent_handler(
    sessions: Callable[[], SeatSessions | None], *, operation_timeout: float = 5.0
) -> AgiHandler:
    """The `agent` FastAGI handler. An operation runs to its end (AMI actions are not cut
    off halfway) even when the request's own bound passes first; the dialplan then falls
    back statically, which does the same again harmlessly."""

    async def agent(req: AgiRequest, chan: AgiChannel) -> None:
        action, seat_id, arg, channel = req.arg(1), req.arg(2), req.arg(3), req.arg(4)
        if not valid_channel(channel):
            raise BadRequest(f"seat channel is not a channel name: {channel[:40]!r}")
        if action not in ACTIONS:
            raise BadRequest(f"unknown feature action {action[:20]!r}")
        s = sessions()
        if s is None:
            raise BadRequest("no AMI session: the dialplan acts on its own")
        task = asyncio.ensure_future(perform(s, action, seat_id, arg))
        try:
            result = await asyncio.wait_for(asyncio.shield(task), operation_timeout)
        except SeatError as exc:
            if exc.code not in _ERROR_PROMPT:
                raise BadRequest(str(exc)) from None
            result = _ERROR_PROMPT[exc.code]
        except (AmiError, TimeoutError) as exc:
            log.warning("feature %s for %s not done by callcore (%s): static", action, seat_id, exc)
            return
        await chan.set_variable(f"SHARED(CC_AGENT,{channel})", result)
        log.info("seat %s: feature %s -> %s", seat_id, action, result)

    return agent

"""Where a seat can transfer a caller, and transfers started by the API or the CLI.

A seat transfers with its softphone's own transfer button (SIP REFER: blind, or attended
after a consultation call) to a hotline number or a zone's transfer code; the same
targets can be dialed for the consultation. The dialplan's `[cc-transfer]` is rendered
from `transfer_targets`, so the softphone, the API and the CLI reach the same places:

- a number that lands in a zone (12345, 12333, ...) or a zone's `transfer_code` -> that
  zone's queue, ahead of new callers (priority RETURNED: the caller has waited once);
- the sub-centre's number (12366) -> its trunk; if it does not answer or fails, the caller
  comes back to the queue it was transferred from, ahead of the others, never to silence.

Every transfer is announced to AMI (`UserEvent CallcoreTransfer`) and followed as a new
leg of the same call (`callcore.features.transfers.legs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from callcore.ami import AmiError, Subscriptions
from callcore.features.transfers.legs import LegTracker
from config.schema import Mode, SiteConfig
from seats.service import SeatService
from seats.sessions import SeatError

CONTEXT = "cc-transfer"
WRONG_NUMBER_SOUND = "cc-xfer-invalid"  # played to a caller transferred to no target


def prompts(cfg: SiteConfig) -> dict[str, str]:
    """Sound name -> Mandarin text of what the transfer dialplan plays."""
    return {WRONG_NUMBER_SOUND: cfg.transfers.wrong_number_notice}


class Ami(Protocol):
    async def action(self, fields: dict[str, str], *, timeout: float | None = None) -> dict: ...

    async def action_list(
        self, fields: dict[str, str], *, complete_event: str, timeout: float | None = None
    ) -> tuple[dict, list[dict]]: ...


@dataclass(frozen=True)
class TransferTarget:
    exten: str  # what the seat dials or transfers to
    kind: str  # queue | trunk
    queue: str  # the zone's queue; for a trunk, the fallback if the transferred-from is unknown
    zone: str
    name: str
    trunk: str = ""
    trunk_exten: str = ""
    trunk_timeout: int = 0


def transfer_targets(cfg: SiteConfig) -> list[TransferTarget]:
    """Every place a seat can transfer to, one per dialable extension."""
    out: list[TransferTarget] = []
    for h in cfg.hotlines:
        if h.mode is Mode.CANCELLED or h.zone is None:
            continue
        zone = cfg.zone(h.zone)
        for n in h.carrier_numbers:
            if h.mode is Mode.SUBCENTRE and h.trunk:
                trunk = cfg.trunk(h.trunk)
                out.append(
                    TransferTarget(
                        n, "trunk", zone.queue, zone.id, h.name, trunk.id, n, trunk.dial_timeout
                    )
                )
            else:
                out.append(TransferTarget(n, "queue", zone.queue, zone.id, zone.name))
    for z in cfg.zones:
        if z.transfer_code:
            out.append(TransferTarget(z.transfer_code, "queue", z.queue, z.id, z.name))
    return out


def target(cfg: SiteConfig, exten: str) -> TransferTarget:
    found = next((t for t in transfer_targets(cfg) if t.exten == exten), None)
    if found is None:
        known = ", ".join(f"{t.exten} ({t.name})" for t in transfer_targets(cfg))
        raise SeatError("unknown_target", f"cannot transfer to {exten!r}; targets: {known}")
    return found


async def seat_channel(ami: Ami, extension: str) -> str:
    """The seat's channel that is in a call (bridged), e.g. PJSIP/8001-0000002a.

    Raises SeatError if the seat is in no call. With a consultation up as well, the older
    channel (the caller's) is the one a transfer moves.
    """
    _, events = await ami.action_list(
        {"Action": "CoreShowChannels"}, complete_event="CoreShowChannelsComplete", timeout=5
    )
    prefix = f"PJSIP/{extension}-"
    mine = [e for e in events if e.get("Channel", "").startswith(prefix) and e.get("BridgeId", "")]
    if not mine:
        raise SeatError("not_in_call", f"the seat at {extension} is in no call to transfer")
    mine.sort(key=lambda e: float(e.get("Uniqueid", "0") or 0))
    return mine[0]["Channel"]


async def transfer(
    ami: Ami,
    cfg: SiteConfig,
    extension: str,
    exten: str,
    *,
    attended: bool = False,
    channel: str | None = None,
    via: str = "api",
) -> str:
    """Transfer the caller of the seat at `extension` to `exten`; returns the seat channel.

    Blind: AMI BlindTransfer, the caller goes to the target at once and the seat is free.
    Attended: AMI Atxfer, the seat consults the target first; the transfer completes when
    the seat hangs up (`complete_attended`), and the seat gets the caller back if the
    target does not answer.
    """
    target(cfg, exten)
    chan = channel or await seat_channel(ami, extension)
    action = "Atxfer" if attended else "BlindTransfer"
    try:
        await mark_via(ami, chan, via)
        await ami.action({"Action": action, "Channel": chan, "Exten": exten, "Context": CONTEXT})
    except AmiError as exc:
        raise SeatError("refused", f"Asterisk refused the transfer: {exc}") from None
    return chan


async def mark_via(ami: Ami, seat_chan: str, via: str) -> None:
    """Say on the channels how this transfer was asked for, so the dialplan's own transfer
    event carries it (`Via:`): on the caller (a blind transfer moves it) and, inherited,
    on the consultation an attended transfer makes from the seat's channel, with the seat
    channel it belongs to (Asterisk may optimise the consultation's Local pair away)."""
    for var, value in (("__CC_XFER_VIA", via), ("__CC_XFER_SEAT_CHANNEL", seat_chan)):
        await ami.action(
            {"Action": "Setvar", "Channel": seat_chan, "Variable": var, "Value": value}
        )
    peer = await ami.action({"Action": "Getvar", "Channel": seat_chan, "Variable": "BRIDGEPEER"})
    caller = str(peer.get("Value") or "")
    if caller and "," not in caller:
        await ami.action(
            {"Action": "Setvar", "Channel": caller, "Variable": "CC_XFER_VIA", "Value": via}
        )


async def complete_attended(ami: Ami, extension: str) -> str:
    """Complete an attended transfer by hanging up the seat's own leg: caller meets target."""
    chan = await seat_channel(ami, extension)
    await ami.action({"Action": "Hangup", "Channel": chan})
    return chan


class TransferService:
    """Transfers in the engine: the transfer chain from AMI events, and transfers asked for
    by the API for a seat's caller."""

    def __init__(
        self,
        config: Callable[[], SiteConfig],
        seats: SeatService,
        submit: Callable[[Any], None],
    ):
        self._config = config
        self._seats = seats
        self.legs = LegTracker(config, submit)

    def subscriptions(self) -> Subscriptions:
        return self.legs.subscriptions()

    async def transfer(
        self, seat_id: str, exten: str, *, attended: bool = False, via: str = "api"
    ) -> str:
        """Transfer the caller of a seat (blind, or attended: the seat consults first and
        completes by hanging up, see `complete`); returns the seat's channel."""
        seat = self._seats.sessions.seat(seat_id)
        status = self._seats.board.status(seat.id)
        channel = status.channel if status is not None and status.channel else None
        return await transfer(
            self._seats.sessions.ami,
            self._config(),
            seat.extension,
            exten,
            attended=attended,
            channel=channel,
            via=via,
        )

    async def complete(self, seat_id: str) -> str:
        """Complete a seat's attended transfer: its own leg hangs up, caller meets target."""
        return await complete_attended(
            self._seats.sessions.ami, self._seats.sessions.seat(seat_id).extension
        )

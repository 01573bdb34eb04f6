"""Transfers by API: a seat's caller to a zone or to the 12366 sub-centre, blind or
attended, and a call's transfer chain (its legs).

The same targets as the softphone's transfer button
(`callcore.features.transfers.service.transfer_targets`);
Asterisk carries the transfer out (AMI BlindTransfer / Atxfer) and the legs record it,
marked `via: api`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Literal

from sqlalchemy import select

from callcore.ami import AmiError
from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role
from callcore.features.transfers.service import transfer_targets
from callcore.store.models import Call, CallLeg
from seats.api import own_seat, seat_error
from seats.sessions import SeatError

api = Api("transfers", "Transfers by API and the transfer chain of a call.")


class TransferIn(Model):
    target: str  # a hotline number (12333, 12366, 12345) or a zone's transfer code
    mode: Literal["blind", "attended"] = "blind"


class TransferOut(Model):
    seat: str
    target: str
    mode: str
    channel: str  # the seat's channel the transfer acted on


@api.post(
    "/api/v1/seats/{seat}/transfer",
    role=Role.SEAT,
    body=TransferIn,
    response=TransferOut,
    errors=(400, 403, 404, 409, 502, 503),
)
async def transfer_caller(req: ApiRequest) -> TransferOut:
    """Transfer the seat's caller: blind at once, or attended (the seat consults first)."""
    seat = own_seat(req)
    transfers = req.services.need("transfers")
    body: TransferIn = req.body
    try:
        chan = await transfers.transfer(seat, body.target, attended=body.mode == "attended")
    except SeatError as exc:
        raise seat_error(exc) from None
    except AmiError as exc:
        raise ApiError(502, "asterisk", f"Asterisk refused: {exc}") from None
    return TransferOut(seat=seat, target=body.target, mode=body.mode, channel=chan)


class CompleteOut(Model):
    seat: str
    channel: str


@api.post(
    "/api/v1/seats/{seat}/transfer/complete",
    role=Role.SEAT,
    response=CompleteOut,
    errors=(403, 404, 409, 503),
)
async def complete_transfer(req: ApiRequest) -> CompleteOut:
    """Complete the seat's attended transfer: its leg hangs up, the caller meets the target."""
    seat = own_seat(req)
    transfers = req.services.need("transfers")
    try:
        chan = await transfers.complete(seat)
    except SeatError as exc:
        raise seat_error(exc) from None
    return CompleteOut(seat=seat, channel=chan)


class TargetOut(Model):
    target: str
    kind: str  # queue | trunk
    zone: str
    name: str


class TargetsOut(Model):
    targets: list[TargetOut]


@api.get("/api/v1/transfer-targets", role=Role.SEAT, response=TargetsOut)
async def list_transfer_targets(req: ApiRequest) -> TargetsOut:
    """Where a seat can transfer to (the same list the softphone's transfer button uses)."""
    return TargetsOut(
        targets=[
            TargetOut(target=t.exten, kind=t.kind, zone=t.zone, name=t.name)
            for t in transfer_targets(req.services.config())
        ]
    )


class LegOut(Model):
    seq: int
    kind: str
    target: str
    from_seat: str
    via: str
    seat: str
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str


class LegsOut(Model):
    linkedid: str
    legs: list[LegOut]


@api.get("/api/v1/calls/{linkedid}/legs", role=Role.SUPERVISOR, response=LegsOut, errors=(404,))
async def call_legs(req: ApiRequest) -> LegsOut:
    """A call's legs in order: where it was offered and who answered; the transfer chain."""
    linkedid = req.path["linkedid"]
    t, calls = CallLeg.__table__, Call.__table__

    def read() -> tuple[bool, list[dict]]:
        with req.services.db.connect() as conn:
            q = select(t).where(t.c.linkedid == linkedid).order_by(t.c.seq)
            rows = [dict(r) for r in conn.execute(q).mappings()]
            known = (
                bool(rows)
                or conn.execute(
                    select(calls.c.linkedid).where(calls.c.linkedid == linkedid)
                ).first()
                is not None
            )
        return known, rows

    known, rows = await asyncio.to_thread(read)
    if not known:  # a call followed while callcore was away has a record but no legs
        raise ApiError(404, "not_found", f"no call {linkedid!r}")
    return LegsOut(
        linkedid=linkedid,
        legs=[LegOut(**{k: r[k] for k in LegOut.model_fields}) for r in rows],
    )

"""The guard's bans by API: who is banned, until when, and lifting a ban."""

from __future__ import annotations

from callcore.api.registry import Api, ApiError, ApiRequest, Model, Role

api = Api("guard", "SIP sources banned for guessing passwords or scanning accounts.")


class BanOut(Model):
    address: str
    since: float  # epoch seconds
    until: float
    failures: int
    by: str


class BansOut(Model):
    bans: list[BanOut]


def _out(ban) -> BanOut:
    return BanOut(**ban.to_dict())


@api.get("/api/v1/bans", role=Role.SUPERVISOR, response=BansOut, errors=(503,))
async def list_bans(req: ApiRequest) -> BansOut:
    """Addresses banned now, oldest first."""
    guard = req.services.need("guard")
    return BansOut(bans=[_out(b) for b in guard.bans()])


@api.delete("/api/v1/bans/{address}", role=Role.ADMIN, response=BanOut, errors=(404, 503))
async def lift_ban(req: ApiRequest) -> BanOut:
    """Lift a ban at once (audited under the token's name)."""
    guard = req.services.need("guard")
    actor = req.identity.name if req.identity else "?"
    ban = guard.unban(req.path["address"], actor)
    if ban is None:
        raise ApiError(404, "not_banned", f"{req.path['address']} is not banned")
    return _out(ban)

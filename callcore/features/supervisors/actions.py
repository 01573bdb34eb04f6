"""Supervisor actions on seats, each one audited in the store.

pause / resume / log off / move between zones are the seats' own operations
(`seats.sessions.SeatSessions`: AMI QueuePause / QueueRemove / QueueAdd, the state then
learnt from Asterisk's events); listen / whisper / barge ring the supervisor's own
softphone (an Async Originate with a `ChannelId` we choose) into `[cc-spy]`, which runs
ChanSpy on the seat's channel. The monitor, the CLI and the API all come here (through the
API), so there is one way to act and one audit trail: every attempt, refused or not, is an
`audit` row (who, what, target, when, result) written through the store writer's journal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from callcore.ami import AmiError, Subscriptions
from callcore.features.transfers.service import seat_channel
from config.schema import Seat, SiteConfig
from seats.sessions import SeatError, SeatSessions

log = logging.getLogger("callcore.features.supervisors.actions")

# Extensions of [cc-spy] (asterisk-conf/extensions.conf.j2), which holds the ChanSpy options.
SPY_MODES = ("listen", "whisper", "barge")
SPY_CONTEXT = "cc-spy"
ACTIONS = ("pause", "resume", "logoff", "move", *SPY_MODES)
# HTTP status of each SeatError code the seats' operations raise.
_SEAT_ERRORS = {
    "unknown_seat": 404,
    "unknown_reason": 400,
    "unknown_zone": 400,
    "logged_off": 409,
    "not_in_call": 409,
}


@dataclass(frozen=True)
class AuditRecord:
    """An `audit` row, on the store writer's durable path (store.kinds)."""

    STORE_KIND: ClassVar[str] = "audit"
    id: str
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    detail: str
    result: str
    error: str
    as_of: float


class ActionError(Exception):
    """An action refused or failed; `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class ActionResult:
    audit_id: str
    action: str
    target: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    code: str = ""
    status: int = 200
    at: float = 0.0


class Supervisor:
    """Runs and audits supervisor actions; `handle` watches AMI for spy outcomes."""

    def __init__(
        self,
        sessions: SeatSessions,
        config: Callable[[], SiteConfig],
        record: Callable[[AuditRecord], None],
        *,
        spy_timeout: float = 30.0,
    ):
        self.sessions = sessions
        self._config = config
        self._record = record
        self.spy_timeout = spy_timeout
        self._spies: dict[str, asyncio.Future[dict]] = {}

    @property
    def ami(self) -> Any:
        return self.sessions.ami

    # -- AMI events (synchronous) -------------------------------------------------------
    def subscriptions(self) -> Subscriptions:
        return dict.fromkeys(("ChanSpyStart", "OriginateResponse"), self.handle)

    def handle(self, ev: dict) -> None:
        name = ev.get("Event")
        if name == "ChanSpyStart":
            fut = self._spies.get(ev.get("SpyerUniqueid", ""))
        elif name == "OriginateResponse" and ev.get("Response") != "Success":
            fut = self._spies.get(ev.get("ActionID", "")) or self._spies.get(ev.get("Uniqueid", ""))
        else:
            return
        if fut is not None and not fut.done():
            fut.set_result(ev)

    # -- the one entry point -------------------------------------------------------------
    async def run(
        self, actor: str, role: str, action: str, target: str, params: dict[str, Any]
    ) -> ActionResult:
        """Do `action` on seat `target` and audit it, whatever happens."""
        started = time.time()
        audit_id = str(uuid.uuid4())
        try:
            if action not in ACTIONS:
                raise ActionError(400, "bad_action", f"unknown action {action!r}")
            seat = self.sessions.seat(target)
            if action in SPY_MODES:
                detail = await self._spy(seat, action, params)
            else:
                detail = await getattr(self, f"_{action}")(seat, params)
            result = ActionResult(audit_id, action, target, True, detail, at=started)
        except SeatError as exc:
            status = _SEAT_ERRORS.get(exc.code, 409)
            result = ActionResult(
                audit_id, action, target, False, {}, str(exc), exc.code, status, started
            )
        except ActionError as exc:
            result = ActionResult(
                audit_id, action, target, False, {}, exc.message, exc.code, exc.status, started
            )
        except AmiError as exc:
            result = ActionResult(
                audit_id, action, target, False, {}, f"Asterisk: {exc}", "asterisk", 502, started
            )
        self._audit(actor, role, params, result)
        return result

    def _audit(self, actor: str, role: str, params: dict[str, Any], r: ActionResult) -> None:
        detail = {"params": params, **({"outcome": r.detail} if r.detail else {})}
        rec = AuditRecord(
            id=r.audit_id,
            at=datetime.fromtimestamp(r.at, UTC),
            actor=actor,
            role=role,
            action=r.action,
            target=r.target,
            detail=json.dumps(detail, ensure_ascii=False, default=str),
            result="ok" if r.ok else "error",
            error=r.error,
            as_of=r.at,
        )
        try:
            self._record(rec)
        except Exception:  # the action happened; losing its audit must at least be loud
            log.exception("could not record the audit of %s on %s", r.action, r.target)
        log.info(
            "supervisor action %s on %s by %s (%s): %s",
            r.action,
            r.target,
            actor,
            role,
            "ok" if r.ok else r.error,
        )

    # -- the seats' own operations ----------------------------------------------------------
    async def _pause(self, seat: Seat, params: dict[str, Any]) -> dict[str, Any]:
        reason = await self.sessions.pause(seat.id, params.get("reason") or "break")
        return {"reason": reason}

    async def _resume(self, seat: Seat, params: dict[str, Any]) -> dict[str, Any]:
        await self.sessions.resume(seat.id)
        return {}

    async def _logoff(self, seat: Seat, params: dict[str, Any]) -> dict[str, Any]:
        queues = await self.sessions.logout(seat.id)
        if not queues:
            raise SeatError("logged_off", f"seat {seat.id} is not logged in")
        return {"queues": queues}

    async def _move(self, seat: Seat, params: dict[str, Any]) -> dict[str, Any]:
        zone = params.get("zone") or ""
        return {"zone": zone, "queues": await self.sessions.move(seat.id, zone)}

    # -- listen / whisper / barge --------------------------------------------------------------
    async def _spy(self, seat: Seat, mode: str, params: dict[str, Any]) -> dict[str, Any]:
        cfg = self._config()
        sup_id = params.get("supervisor") or ""
        sup = next((s for s in cfg.supervisors if s.id == sup_id), None)
        if sup is None:
            raise ActionError(
                400, "unknown_supervisor", f"no supervisor {sup_id!r} in the site config"
            )
        channel = await seat_channel(self.ami, seat.extension)  # SeatError not_in_call
        spy_id = f"spy-{uuid.uuid4().hex[:16]}"
        fut: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._spies[spy_id] = fut
        try:
            await self.ami.action(
                {
                    "Action": "Originate",
                    "ActionID": spy_id,  # its OriginateResponse carries it too
                    "Channel": f"PJSIP/{sup.extension}",
                    "Context": SPY_CONTEXT,
                    "Exten": mode,
                    "Priority": "1",
                    "ChannelId": spy_id,
                    "CallerID": f'"{mode} {seat.id}" <{seat.extension}>',
                    "Timeout": str(int(self.spy_timeout * 1000)),
                    "Variable": [f"CC_SPY_TARGET={channel}", f"CC_SPY_SEAT={seat.id}"],
                    "Async": "true",
                }
            )
            try:
                ev = await asyncio.wait_for(fut, self.spy_timeout + 5)
            except TimeoutError:
                raise ActionError(
                    504, "spy_timeout", f"{mode} did not start within {self.spy_timeout:g} s"
                ) from None
        finally:
            self._spies.pop(spy_id, None)
        if ev.get("Event") != "ChanSpyStart":
            raise ActionError(
                502,
                "supervisor_unreachable",
                f"supervisor {sup.id}'s softphone {sup.extension} did not answer "
                f"({ev.get('Reason') or ev.get('Response')})",
            )
        return {
            "mode": mode,
            "supervisor": sup.id,
            "seat_channel": channel,
            "spy_channel": ev.get("SpyerChannel", ""),
        }


def read_audit(
    engine: Any, since: datetime | None = None, target: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Audit rows, newest first (synchronous: run it in a thread)."""
    from sqlalchemy import select

    from callcore.store.models import AuditEntry

    t = AuditEntry.__table__
    stmt = select(t)
    if since is not None:
        stmt = stmt.where(t.c.at >= since)
    if target is not None:
        stmt = stmt.where(t.c.target == target)
    stmt = stmt.order_by(t.c.at.desc(), t.c.id).limit(limit)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    for r in rows:
        try:
            r["detail"] = json.loads(r["detail"] or "{}")
        except ValueError:
            r["detail"] = {"raw": r["detail"]}
    return rows

"""Calls out in the engine: placing a call for a reason, following it to its outcome, and
the callback list fed by missed calls.

A call out rings the seat's softphone first (AMI Originate, async) into `[cc-out]`; once
the seat answers the dialplan dials the citizen over the carrier trunk and, however the
call ends, a hangup handler reports the dial's status (`CallcoreOutboundEnd`). Every call
is an `outbound_calls` row through the store writer (journal first, like a call in); the
callback tasks are changed by conditional statements straight in the database
(`callcore.features.callsout.tasks`), off the event loop.

Nothing here is on an inbound caller's path: the record listener only schedules work, and
a failing store or AMI leaves inbound calls exactly as they were.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine as Database

from callcore.ami import AmiError, Subscriptions, event_time
from callcore.contract import UserEvent
from callcore.features.callsout import tasks
from callcore.features.callsout.model import (
    Outcome,
    Reason,
    Refused,
    dialable,
    in_rest_hours,
    mask,
    next_attempt,
    outcome_of,
    rest_ends,
)
from callcore.records import CallRecord
from callcore.records import Outcome as CallOutcome
from config.callsout import Offer, Present
from config.schema import Mode, SiteConfig
from seats.service import SeatService
from seats.sessions import SeatError
from seats.states import SeatState

log = logging.getLogger(__name__)
CONTEXT = "cc-out"
MISSED = (CallOutcome.ABANDONED, CallOutcome.TIMEOUT)
GOT_THROUGH = (CallOutcome.ANSWERED, CallOutcome.TRANSFERRED)
BUSY_STATES = (SeatState.RINGING, SeatState.TALKING, SeatState.UNREACHABLE)


class Ami(Protocol):
    async def action(self, fields: dict[str, Any], *, timeout: float | None = None) -> dict: ...


@dataclass(frozen=True)
class OutboundRecord:
    """One `outbound_calls` row, as the store writer keeps it (kind `outbound_call`)."""

    STORE_KIND: ClassVar[str] = "outbound_call"
    # `id` is digits: it is also the seat channel's Uniqueid and Linkedid, and the
    # recordings file a call under its linkedid's digits

    id: str
    reason: str
    started_at: datetime
    as_of: float
    direction: str = "out"
    task_id: str = ""
    request_id: str = ""
    number: str = ""
    dialed: str = ""
    presented: str = ""
    seat: str = ""
    outcome: str | None = None
    cause: str = ""
    linkedid: str = ""
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _seconds(text: str | None) -> float:
    try:
        return max(float(text or 0), 0.0)
    except ValueError:
        return 0.0


class CallsOut:
    """Outbound calls and the callback list, for the API, the CLI (through the API) and
    the engine's automatic offering."""

    def __init__(
        self,
        config: Callable[[], SiteConfig],
        ami: Ami,
        seats: SeatService,
        submit: Callable[[Any], None],
        store: Callable[[], Database],
        *,
        enterprise_numbers: Callable[[], frozenset[str]] = frozenset,
        waiting_queues: Callable[[], set[str]] = set,
        clock: Callable[[], datetime] = _now,
    ):
        self._config = config
        self._ami = ami
        self._seats = seats
        self._submit = submit
        self._store = store
        self._enterprises = enterprise_numbers
        self._waiting = waiting_queues
        self._clock = clock
        self._live: dict[str, OutboundRecord] = {}  # calls up, by id
        self._seat_answered: dict[str, float] = {}
        self._jobs: set[asyncio.Task[Any]] = set()
        self.placed = 0

    # -- AMI ------------------------------------------------------------------------------
    def subscriptions(self) -> Subscriptions:
        return {"UserEvent": self._on_user_event, "OriginateResponse": self._on_originate}

    def _on_originate(self, ev: dict) -> None:
        rec = self._live.get(ev.get("ActionID", ""))
        if rec is None or ev.get("Response") == "Success":
            return
        # the seat's softphone did not answer (or could not be rung): the citizen never was
        self._end(rec, Outcome.FAILED, "seat_no_answer", event_time(ev), 0.0, 0.0)

    def _on_user_event(self, ev: dict) -> None:
        kind = ev.get("UserEvent", "")
        rec = self._live.get(ev.get("Id", ""))
        if rec is None:
            return
        if kind == UserEvent.OUTBOUND:
            self._seat_answered[rec.id] = event_time(ev) or rec.as_of
            self._live[rec.id] = replace(rec, linkedid=ev.get("Linkedid", ""))
        elif kind == UserEvent.OUTBOUND_END:
            outcome = outcome_of(ev.get("Status", ""), ev.get("Cause"))
            cause = f"{ev.get('Status', '')}:{ev.get('Cause', '')}".strip(":").lower()
            answered, dialed = _seconds(ev.get("Answered")), _seconds(ev.get("Dialed"))
            self._end(rec, outcome, cause, event_time(ev), answered, dialed)

    def _end(
        self, rec: OutboundRecord, outcome: Outcome, cause: str, at: float | None,
        talk: float, dialed: float,
    ) -> None:  # fmt: skip
        """The call is over: its row, and its task's next step."""
        self._live.pop(rec.id, None)
        seat_at = self._seat_answered.pop(rec.id, None)
        end = at or self._clock().timestamp()
        ended = datetime.fromtimestamp(end, UTC)
        reached = outcome is Outcome.REACHED
        ring = (
            (seat_at - rec.started_at.timestamp()) if seat_at else end - rec.started_at.timestamp()
        )
        done = replace(
            rec,
            outcome=outcome.value,
            cause=cause[:64],
            ended_at=ended,
            answered_at=datetime.fromtimestamp(end - talk, UTC) if reached else None,
            talk_seconds=round(talk, 3) if reached else None,
            wait_seconds=round(max(ring, 0.0) + max(dialed - talk, 0.0), 3),
            as_of=max(rec.as_of, end),
        )
        self._submit(done)
        log.info("call out %s to %s: %s (%s)", rec.id, mask(rec.number), outcome.value, cause)
        if rec.task_id:
            self._spawn(self._task_after(rec.task_id, outcome, ended))

    async def _task_after(self, task_id: str, outcome: Outcome, at: datetime) -> None:
        cfg = self._config().callsout
        db = self._store()
        if outcome is Outcome.FAILED:
            # a seat that did not answer, or a call that failed before the citizen rang:
            # the task goes back as it was, no attempt counted
            await asyncio.to_thread(tasks.release, db, task_id, at, outcome.value)
            return
        task = await asyncio.to_thread(tasks.get, db, task_id)
        attempts = (task or {}).get("attempts", 0) + 1
        verdict = next_attempt(outcome, attempts, cfg.attempts.max)
        verdict = "reached" if verdict == "closed" else verdict
        retry = at + timedelta(minutes=cfg.attempts.spacing_minutes)
        await asyncio.to_thread(tasks.finish, db, task_id, outcome.value, verdict, at, retry)

    # -- placing a call ------------------------------------------------------------------
    def check(self, number: str) -> str:
        """The number to dial, or Refused: invalid, on the do-not-call list, rest hours."""
        cfg = self._config()
        out = cfg.callsout
        target = dialable(number, cfg.site.area_code, out.local_digits)
        if number in out.do_not_call or target.number in out.do_not_call:
            raise Refused("do_not_call", f"{mask(number)} is on the do-not-call list")
        local = self._clock().astimezone(ZoneInfo(cfg.site.timezone))
        if in_rest_hours(local.time(), out.rest_hours):
            ends = rest_ends(local, out.rest_hours)
            raise Refused("rest_hours", f"no calls out in rest hours; from {ends:%H:%M} again")
        return target.number

    def _presented(self, dialed_hotline: str) -> str:
        cfg = self._config()
        if cfg.callsout.present is Present.DIALED and dialed_hotline:
            h = next((h for h in cfg.hotlines if dialed_hotline in h.carrier_numbers), None)
            if h is not None and h.mode in (Mode.MAIN, Mode.RETAINED):
                return h.number
        return cfg.callsout.caller_id

    def _seat_free(self, seat_id: str) -> Any:
        seat = self._seats.sessions.seat(seat_id)
        status = self._seats.board.status(seat.id)
        if status is not None and status.state in BUSY_STATES:
            raise SeatError("seat_busy", f"seat {seat.id} is {status.state.value}; not now")
        return seat

    async def place(
        self,
        seat_id: str,
        number: str,
        reason: Reason,
        *,
        task_id: str = "",
        request_id: str = "",
        dialed_hotline: str = "",
    ) -> OutboundRecord:
        """Ring the seat, then the citizen. Refused (a row `refused` / `invalid_number`
        is kept) or SeatError before anything rings."""
        now = self._clock()
        rec = OutboundRecord(
            id=f"{uuid.uuid4().int % 10**20:020d}", reason=reason.value,
            started_at=now, as_of=now.timestamp(),
            task_id=task_id, request_id=request_id, number=number.strip()[:128],
            presented=self._presented(dialed_hotline), seat=seat_id,
        )  # fmt: skip
        try:
            dial = self.check(number)
        except Refused as exc:
            outcome = Outcome.INVALID_NUMBER if exc.code == "invalid_number" else Outcome.REFUSED
            self._submit(replace(rec, outcome=outcome.value, cause=exc.code, ended_at=now))
            raise
        seat = self._seat_free(seat_id)
        rec = replace(rec, dialed=dial)
        out = self._config().callsout
        self._live[rec.id] = rec
        self._submit(rec)
        try:
            await self._ami.action(
                {
                    "Action": "Originate",
                    "ActionID": rec.id,
                    "ChannelId": rec.id,
                    "Channel": f"PJSIP/{seat.extension}",
                    "Context": CONTEXT,
                    "Exten": dial,
                    "Priority": "1",
                    "CallerID": f'"{reason.value}" <{dial}>',
                    "Timeout": str(out.ring_seat_seconds * 1000),
                    "Variable": [
                        f"CC_OUT_ID={rec.id}",
                        f"CC_OUT_CID={rec.presented}",
                        f"CC_OUT_TIMEOUT={out.dial_seconds}",
                    ],
                    "Async": "true",
                },
                timeout=5,
            )
        except (AmiError, TimeoutError, ConnectionError) as exc:
            self._end(rec, Outcome.FAILED, f"originate:{exc}", None, 0.0, 0.0)
            raise SeatError("asterisk", f"Asterisk did not place the call: {exc}") from None
        self.placed += 1
        return rec

    # -- the callback list ---------------------------------------------------------------
    def on_record(self, rec: CallRecord) -> None:
        """A record listener: a missed call joins (or makes) its caller's task; an answered
        call from the caller closes it. Only schedules the work."""
        if rec.ended_at is None or not rec.caller_number:
            return
        if rec.outcome in MISSED:
            self._spawn(self._missed(rec))
        elif rec.outcome in GOT_THROUGH and rec.answered_at is not None:
            self._spawn(self._got_through(rec))

    async def _missed(self, rec: CallRecord) -> None:
        cfg = self._config()
        zone = next((z.id for z in cfg.zones if z.queue == rec.route), cfg.general_zone)
        miss = tasks.Miss(
            rec.linkedid, rec.caller_number, zone, rec.hotline or rec.dialed_number,
            rec.caller_number in self._enterprises(), rec.ended_at or self._clock(),
        )  # fmt: skip
        window = timedelta(minutes=cfg.callsout.callbacks.window_minutes)
        task = await asyncio.to_thread(tasks.add_miss, self._store(), miss, window)
        if task:
            log.info("missed call from %s: callback task %s", mask(rec.caller_number), task)

    async def _got_through(self, rec: CallRecord) -> None:
        at = rec.answered_at or self._clock()
        closed = await asyncio.to_thread(
            tasks.close_for_caller, self._store(), rec.caller_number, "called_in", at
        )
        if closed:
            log.info("%s called in and was answered: callback closed", mask(rec.caller_number))

    async def call_task(self, task_id: str, seat_id: str) -> OutboundRecord:
        """Preview: the seat takes the task and calls. Refused("taken") if another has it."""
        self._seat_free(seat_id)
        db = self._store()
        task = await asyncio.to_thread(tasks.claim, db, task_id, seat_id, self._clock())
        if task is None:
            held = await asyncio.to_thread(tasks.get, db, task_id)
            if held is None:
                raise Refused("not_found", f"no callback task {task_id!r}")
            raise Refused("taken", f"task {task_id} is {held['status']}; not callable now")
        return await self._dial_task(task, seat_id)

    async def _dial_task(self, task: dict, seat_id: str) -> OutboundRecord:
        db = self._store()
        try:
            return await self.place(
                seat_id, task["caller"], Reason(task["reason"]), task_id=task["id"],
                request_id=task["request_id"], dialed_hotline=task["dialed"],
            )  # fmt: skip
        except Refused as exc:
            if exc.code == "rest_hours":  # rescheduled for when the rest hours end
                cfg = self._config()
                local = self._clock().astimezone(ZoneInfo(cfg.site.timezone))
                ends = rest_ends(local, cfg.callsout.rest_hours).astimezone(UTC)
                await asyncio.to_thread(tasks.release, db, task["id"], ends, "refused")
            else:
                now = self._clock()
                await asyncio.to_thread(
                    tasks.finish, db, task["id"], exc.code, "given_up", now, now
                )
            raise
        except SeatError:
            await asyncio.to_thread(tasks.release, db, task["id"], self._clock())
            raise

    # -- automatic offering ------------------------------------------------------------
    def idle_seats(self, zone: str) -> list[str]:
        """Seats of the zone that are available with nobody waiting in their queues."""
        waiting = self._waiting()
        out = []
        for s in self._config().seats:
            if s.zone != zone:
                continue
            status = self._seats.board.status(s.id)
            if status is None or status.state is not SeatState.AVAILABLE:
                continue
            if not waiting.intersection(status.queues) and s.id not in self._busy_seats():
                out.append(s.id)
        return out

    def _busy_seats(self) -> set[str]:
        return {r.seat for r in self._live.values()}

    async def offer_once(self) -> int:
        """One round of automatic offering: the oldest task to each idle seat of an
        automatic zone. Returns the calls placed."""
        cfg = self._config()
        local = self._clock().astimezone(ZoneInfo(cfg.site.timezone))
        if in_rest_hours(local.time(), cfg.callsout.rest_hours):
            return 0
        placed = 0
        for zone in [z.id for z in cfg.zones if cfg.callsout.offer(z.id) is Offer.AUTO]:
            for seat_id in self.idle_seats(zone):
                task = await asyncio.to_thread(
                    tasks.claim_next, self._store(), [zone], seat_id, self._clock()
                )
                if task is None:
                    break
                try:
                    await self._dial_task(task, seat_id)
                    placed += 1
                except (Refused, SeatError) as exc:
                    log.info("automatic callback %s not placed: %s", task["id"], exc)
        return placed

    async def run(self) -> None:
        """The engine's offering loop; a store that is away only skips a round."""
        while True:
            await asyncio.sleep(self._config().callsout.callbacks.auto_every_seconds)
            try:
                await self.offer_once()
            except Exception as exc:  # the store or AMI may be away; try next round
                log.info("automatic callbacks: round skipped (%s)", exc)

    # -- reading -------------------------------------------------------------------------
    async def tasks(self, status: str | None, zone: str | None) -> list[dict]:
        return await asyncio.to_thread(tasks.listing, self._store(), status, zone)

    async def figures(self) -> dict[str, Any]:
        return await asyncio.to_thread(tasks.figures, self._store(), self._clock())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        job = asyncio.get_running_loop().create_task(coro)
        self._jobs.add(job)
        job.add_done_callback(self._done)

    def _done(self, job: asyncio.Task[Any]) -> None:
        self._jobs.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.warning("calls out: %s", job.exception())

    async def close(self) -> None:
        for job in list(self._jobs):
            job.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)

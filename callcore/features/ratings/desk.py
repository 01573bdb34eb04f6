"""Ratings in the engine: each rating the dialplan reports is filed with its call's context.

Live, the `CallcoreRating` UserEvent is filed at once from the engine's own state (the
tracker's record of the call, the transfer chain the leg tracker holds, the request the
call registered), so nothing waits for the store. After an outage, the calls reconciler
hands over the queue_log it read: every `CCRATE` fact of a call not rated yet is filed
from the rebuilt record or the store (`Source.RECONCILED`, stamped earlier than a live
rating of the same press, so the store keeps the live one and a replay changes nothing).
Whoever follows ratings (the live view's figures, the alert on an unsatisfied rating)
hears of each new one through `on_rating`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from callcore.ami import EventTable, event_time
from callcore.contract import Fact, UserEvent
from callcore.features.ratings import kinds  # noqa: F401  (the store writer's `rating` kind)
from callcore.features.ratings.model import (
    CallContext,
    RatingFact,
    RatingRecord,
    Source,
    context_of,
    parse_rating_data,
)
from callcore.features.ratings.service import RatingService
from callcore.records import CallRecord
from config.schema import SiteConfig

log = logging.getLogger(__name__)
_FILED_MEMORY = 50_000  # calls remembered as rated (a replayed event files nothing)


class RatingDesk(EventTable):
    def __init__(
        self,
        service: RatingService,
        config: Callable[[], SiteConfig],
        *,
        call_of: Callable[[str], CallRecord | None],
        legs_of: Callable[[str], Sequence[Any]],
        request_of: Callable[[str], str],
        on_rating: Sequence[Callable[[RatingRecord], None]] = (),
    ):
        self._service = service
        self._config = config
        self._call_of = call_of
        self._legs_of = legs_of
        self._request_of = request_of
        self._on_rating = tuple(on_rating)
        self._filed: OrderedDict[str, None] = OrderedDict()
        self._pending: set[asyncio.Task[None]] = set()
        self.filed = 0
        self.reconciled = 0
        self.bad = 0

    # -- live -------------------------------------------------------------------------------
    def _on_UserEvent(self, ev: dict) -> None:
        if ev.get("UserEvent") != UserEvent.RATING or self._config().ratings is None:
            return
        lid = ev.get("Linkedid", "")
        at = event_time(ev) or 0.0
        try:
            fact = parse_rating_data(lid, f"{at}|{ev.get('Outcome', '')}|{ev.get('Key', '')}")
        except ValueError as exc:
            self.bad += 1
            log.warning("rating event ignored: %s", exc)
            return
        call = self._call_of(lid)
        if call is not None and call.linkedid != lid:  # re-keyed by an attended transfer
            lid = call.linkedid
            fact = dataclasses.replace(fact, linkedid=lid)
        if lid in self._filed:
            return
        if call is None:  # not followed (adopted late): the store has what the call was
            self._later(fact)
            return
        self._file(fact, Source.LIVE, self._context(call.to_dict(), self._legs(lid), lid))

    def _legs(self, linkedid: str) -> list[dict[str, Any]]:
        return [dataclasses.asdict(leg) for leg in self._legs_of(linkedid)]

    def _context(
        self, call: Mapping[str, Any], legs: Iterable[Mapping[str, Any]], linkedid: str
    ) -> CallContext:
        seat_zone = {s.id: s.zone for s in self._config().seats}
        return context_of(call, legs, self._request_of(linkedid), seat_zone)

    def _file(self, fact: RatingFact, source: Source, context: CallContext) -> RatingRecord:
        settings = self._config().ratings
        keys = settings.keys if settings is not None else {}
        rec = self._service.record(
            fact.linkedid, fact.verdict(keys), fact.at, source=source, context=context
        )
        self._filed[fact.linkedid] = None
        while len(self._filed) > _FILED_MEMORY:
            self._filed.popitem(last=False)
        self.filed += 1
        for listener in self._on_rating:
            listener(rec)
        return rec

    def _later(self, fact: RatingFact) -> None:
        """File from the store's context, read off the event loop."""

        async def run() -> None:
            try:
                context = await asyncio.to_thread(self._service.context, fact.linkedid)
            except Exception as exc:  # the store away: the rating still counts, unattributed
                log.warning("rating of %s filed without its context: %s", fact.linkedid, exc)
                context = CallContext()
            if fact.linkedid not in self._filed:
                self._file(fact, Source.LIVE, context)

        task = asyncio.get_running_loop().create_task(run())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    _HANDLERS: ClassVar[dict[str, Callable[..., None]]] = {"UserEvent": _on_UserEvent}

    # -- after an outage ----------------------------------------------------------------------
    async def reconcile(self, qlog: Any, rebuilt: Mapping[str, CallRecord]) -> int:
        """File the CCRATE facts of a resync's queue_log that no rating covers yet.

        `qlog` is the calls reconciler's `QueueLog` (its `other` facts); `rebuilt` the
        records it just rebuilt, whose context the store may not hold yet.
        """
        if self._config().ratings is None:
            return 0
        facts = self._facts(qlog.other)
        todo = [f for f in facts if f.linkedid not in self._filed]
        if not todo:
            return 0
        stored = await asyncio.to_thread(self._service.rated, [f.linkedid for f in todo])
        todo = [f for f in todo if f.linkedid not in stored]
        for fact in todo:
            rec = rebuilt.get(fact.linkedid) or self._call_of(fact.linkedid)
            context = await asyncio.to_thread(self._stored_context, fact.linkedid, rec)
            self._file(fact, Source.RECONCILED, context)
        self.reconciled += len(todo)
        if todo:
            log.info("ratings: %d reconciled from queue_log", len(todo))
        return len(todo)

    def _facts(self, lines: Iterable[tuple[str, str, str]]) -> list[RatingFact]:
        out: dict[str, RatingFact] = {}
        for callid, event, data in lines:
            if event != Fact.RATE:
                continue
            try:
                fact = parse_rating_data(callid, data)
            except ValueError:
                self.bad += 1
                continue
            out.setdefault(callid, fact)
        return list(out.values())

    def _stored_context(self, linkedid: str, rec: CallRecord | None) -> CallContext:
        """The context from the store, with a record just rebuilt (or still followed)
        standing in for a row the writer may not have stored yet. Reads the store: run it
        in a thread."""
        if rec is None:
            return self._service.context(linkedid)
        return self._context(rec.to_dict(), self._service.legs(linkedid), linkedid)

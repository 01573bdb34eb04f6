"""Requests in the engine: each answered call registers its request once; changes made
through the API are stored and told to whoever follows requests (first contact)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from callcore.features.workorders.registration import RequestRecord, registration
from callcore.records import CallRecord
from config.schema import SiteConfig
from seats.membership import SeatLookup

_REGISTERED_MEMORY = 50_000  # calls remembered as registered (replays register nothing)


class RequestService:
    def __init__(
        self,
        config: Callable[[], SiteConfig],
        submit: Callable[[Any], None],
        on_change: Sequence[Callable[[RequestRecord], None]] = (),
    ):
        self._config = config
        self._submit = submit
        self._on_change = tuple(on_change)
        self._registered: OrderedDict[str, None] = OrderedDict()
        self._lookup = SeatLookup()

    def on_record(self, rec: CallRecord) -> None:
        """Each call record: register the request of a call a seat answered, once."""
        if rec.linkedid in self._registered:
            return
        req = registration(rec, self._lookup.ids(self._config()))
        if req is None:
            return
        self._registered[rec.linkedid] = None
        while len(self._registered) > _REGISTERED_MEMORY:
            self._registered.popitem(last=False)
        self._submit(req)

    def changed(self, req: RequestRecord) -> None:
        """A request's status changed in this process (the API): apply it now, store it."""
        for listener in self._on_change:
            listener(req)
        self._submit(req)

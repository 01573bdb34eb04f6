"""The `callsout:` section: calls callcore places (外呼) and hand-offs to 110 and the like.

Seats' softphones never dial outside numbers themselves (no toll fraud); callcore places
every outbound call for a reason it keeps: a missed call's callback (漏话回拨), a request's
follow-up (回访), a seat's click-to-call from a request. What a site decides is here: the
number the citizen sees, the rest hours (MIIT: no calls then), the numbers never to call,
how often and how far apart a task is tried, and how each zone's callbacks are offered.
"""

from __future__ import annotations

from datetime import time
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from config.base import Problems, Strict, duplicates

DIALABLE = r"^[0-9]{3,20}$"


class Present(StrEnum):
    """Which number the citizen sees on an outbound call."""

    HOTLINE = "hotline"  # always `caller_id` (12345)
    DIALED = "dialed"  # the kept number the citizen had dialed (12333, …), else `caller_id`


class Offer(StrEnum):
    """How a zone's callback tasks reach its seats."""

    PREVIEW = "preview"  # a seat takes a task and presses call (API/CLI)
    AUTO = "auto"  # the engine offers the oldest task to an idle seat with nobody waiting


class RestHours(Strict):
    """No outbound calls from `start` to `end` (site time; may run over midnight)."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, v: object) -> object:
        # YAML 1.1 reads an unquoted 21:00 as the number 1260 (base 60)
        if isinstance(v, int | float) and not isinstance(v, bool):
            raise ValueError("write the time as text in quotes, e.g. '21:00'")
        return v


class Attempts(Strict):
    """How often and how far apart one task is tried before it is given up."""

    max: Annotated[int, Field(ge=1, le=10)] = 3
    spacing_minutes: Annotated[int, Field(ge=1, le=1440)] = 30


class Callbacks(Strict):
    """The missed-call callback list (漏话回拨)."""

    # A missed call makes no task if the same caller got through within this window.
    window_minutes: Annotated[int, Field(ge=0, le=1440)] = 30
    offer: Offer = Offer.PREVIEW  # every zone's, unless `zones` says otherwise
    zones: dict[str, Offer] = {}
    auto_every_seconds: Annotated[float, Field(gt=0, le=600)] = 5.0


class Emergency(Strict):
    """A hand-off target over the carrier trunk (110, 119, 120, 122, utility lines)."""

    code: Annotated[str, Field(pattern=DIALABLE)]  # what the seat transfers to or dials
    name: Annotated[str, Field(min_length=1, max_length=40)]
    dial: Annotated[str, Field(pattern=DIALABLE)] = ""  # sent to the carrier; default `code`
    timeout: Annotated[int, Field(ge=5, le=120)] = 30  # then the caller comes back

    @property
    def number(self) -> str:
        return self.dial or self.code


DEFAULT_EMERGENCY = [
    Emergency(code="110", name="公安110"),
    Emergency(code="119", name="消防119"),
    Emergency(code="120", name="急救120"),
    Emergency(code="122", name="交警122"),
]


class CallsOutConfig(Strict):
    caller_id: Annotated[str, Field(pattern=DIALABLE)] = "12345"
    present: Present = Present.HOTLINE
    rest_hours: RestHours = RestHours()
    do_not_call: list[Annotated[str, Field(pattern=DIALABLE)]] = []
    attempts: Attempts = Attempts()
    ring_seat_seconds: Annotated[int, Field(ge=5, le=120)] = 20
    dial_seconds: Annotated[int, Field(ge=5, le=120)] = 40
    # The city's own numbers without area code: their length (盐城: 8 digits).
    local_digits: Annotated[int, Field(ge=7, le=8)] = 8
    callbacks: Callbacks = Callbacks()
    emergency: list[Emergency] = DEFAULT_EMERGENCY
    # What a softphone hears when it dials an outside number by itself.
    refusal_notice: Annotated[str, Field(min_length=1, max_length=200)] = (
        "座席电话不能直接拨打外线，请通过系统外呼。"
    )
    # The three-party call's conference: seat, citizen, target (ConfBridge).
    conference_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,20}$")] = "cc3p"

    @field_validator("do_not_call")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return sorted(set(v))

    def offer(self, zone: str) -> Offer:
        return self.callbacks.zones.get(zone, self.callbacks.offer)

    def emergency_target(self, code: str) -> Emergency | None:
        return next((e for e in self.emergency if e.code == code), None)

    def problems(self, zones: set[str], taken: dict[str, str]) -> Problems:
        """Cross-references: zones that exist, emergency codes that clash with nothing.

        `taken` maps every extension a seat can already reach (transfer targets, codes)
        to what it is.
        """
        out: Problems = [
            (("callsout", "callbacks", "zones", z), f"unknown zone {z!r}")
            for z in self.callbacks.zones
            if z not in zones
        ]
        out += duplicates("emergency", [(i, e.code) for i, e in enumerate(self.emergency)], "code")
        for i, e in enumerate(self.emergency):
            if e.code in taken:
                out.append(
                    (("callsout", "emergency", i, "code"), f"{e.code!r} is already {taken[e.code]}")
                )
        return [(("callsout", *w) if w[0] == "emergency" else w, m) for w, m in out]

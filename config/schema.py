"""The site configuration: the hotline directory, zones, seats, trunks and the PBX settings.

Everything a site changes lives in one YAML file validated by these models, so a typo is
caught at load with the file, the key and the problem, before anything is rendered.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from config.base import CrossReferenceError, Loc, Strict, duplicates
from config.callsout import CallsOutConfig
from config.guard import GuardSettings
from config.quality import QualitySettings
from config.ratings import RatingSettings
from config.recordings import RecordingSettings
from config.transfers import TransferSettings
from config.workorders import WorkOrdersConfig

ZONE_ID = r"^[a-z][a-z0-9_]{0,30}$"
DIGITS = r"^[0-9]{3,20}$"


class Mode(StrEnum):
    """How a number of the plan's directory is served."""

    MAIN = "main"  # 12345 itself
    RETAINED = "retained"  # kept number, lands in its expert zone
    CANCELLED = "cancelled"  # withdrawn; notice during the transition, then general seats
    SUBCENTRE = "subcentre"  # 12366: the tax centre's own system over a trunk


class ZoneKind(StrEnum):
    GENERAL = "general"
    EXPERT = "expert"
    SUBCENTRE = "subcentre"  # the 12366 zone inside 12345
    ENTERPRISE = "enterprise"  # 一企来


class Role(StrEnum):
    GENERAL = "general"
    EXPERT = "expert"
    TAX = "tax"
    ENTERPRISE = "enterprise"


class Window(Strict):
    """Transition window of a cancelled number, both days inclusive, in the site's time zone."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


class ServiceTargets(Strict):
    answer_seconds: Annotated[int, Field(ge=1, le=600)] = 15
    sl_target: Annotated[float, Field(gt=0, le=1)] = 0.9
    answer_rate_target: Annotated[float, Field(gt=0, le=1)] = 0.95
    # Staffing: the share of offered calls that may abandon (Erlang A sizes for it).
    abandon_target: Annotated[float, Field(ge=0, le=1)] = 0.03
    # An abandon this soon after the call arrived is a short abandon, shown apart.
    short_abandon_seconds: Annotated[int, Field(ge=0, le=60)] = 5


class Site(Strict):
    name: str
    city: str
    area_code: Annotated[str, Field(pattern=r"^0[0-9]{2,3}$")]
    timezone: str = "Asia/Shanghai"
    lang: Literal["zh", "en"] = "zh"
    targets: ServiceTargets = ServiceTargets()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


class PbxSettings(Strict):
    """Where Asterisk and callcore listen. Loopback only by default; ports are per instance."""

    bind: str = "127.0.0.1"
    sip_port: Annotated[int, Field(ge=1, le=65535)] = 5060
    ami_port: Annotated[int, Field(ge=1, le=65535)] = 5038
    agi_port: Annotated[int, Field(ge=1, le=65535)] = 4573
    api_port: Annotated[int, Field(ge=1, le=65535)] = 8345
    rtp_start: Annotated[int, Field(ge=1024, le=65535)] = 20000
    rtp_end: Annotated[int, Field(ge=1024, le=65535)] = 20999
    realm: str = "callcore"
    # How long the dialplan waits for a FastAGI routing decision before routing statically.
    agi_bound_ms: Annotated[int, Field(ge=100, le=10000)] = 1000
    ami_user: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")] = "callcore"

    @field_validator("bind")
    @classmethod
    def _ip(cls, v: str) -> str:
        ipaddress.ip_address(v)
        return v

    @model_validator(mode="after")
    def _rtp_range(self) -> PbxSettings:
        if self.rtp_end <= self.rtp_start:
            raise ValueError("rtp_end must be above rtp_start")
        return self


class Trunk(Strict):
    """A SIP peer identified by address: the carrier delivering calls, or the 12366 sub-centre."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,30}$")]
    name: str
    host: str
    port: Annotated[int, Field(ge=1, le=65535)] = 5060
    match: list[str] = []  # source addresses/networks that identify it; default: host
    dial_timeout: Annotated[int, Field(ge=1, le=120)] = 20
    qualify_seconds: Annotated[int, Field(ge=0, le=300)] = 5

    @field_validator("match")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for item in v:
            ipaddress.ip_network(item, strict=False)
        return v

    @property
    def sources(self) -> list[str]:
        return self.match or [self.host]


class OverflowStep(Strict):
    """After `after_seconds` in queue, members up to `max_penalty` are offered the call too."""

    after_seconds: Annotated[int, Field(ge=1, le=3600)]
    max_penalty: Annotated[int, Field(ge=0, le=100)]


class Zone(Strict):
    id: Annotated[str, Field(pattern=ZONE_ID)]
    name: str
    kind: ZoneKind
    wrapup_seconds: Annotated[int, Field(ge=0, le=600)] = 5
    # 0: the caller waits until a human answers (a caller is never turned away).
    max_wait_seconds: Annotated[int, Field(ge=0, le=7200)] = 0
    overflow: list[OverflowStep] = []
    # A seat in several queues serves the heavier queue's callers first (queues.conf
    # `weight`): how the enterprise zone's callers go ahead of the general queue's.
    weight: Annotated[int, Field(ge=0, le=100)] = 0
    # What a seat dials (or transfers to) to reach this zone, besides the numbers of the
    # hotlines that land in it (e.g. 12333 for hrss); for zones without a number.
    transfer_code: Annotated[str, Field(pattern=r"^[0-9]{3,12}$")] | None = None

    @property
    def queue(self) -> str:
        """Asterisk queue name; never 'general', which queues.conf reserves."""
        return f"q-{self.id}"

    @model_validator(mode="after")
    def _overflow_increasing(self) -> Zone:
        steps = self.overflow
        for a, b in pairwise(steps):
            if b.after_seconds <= a.after_seconds or b.max_penalty <= a.max_penalty:
                raise ValueError("overflow steps must rise in after_seconds and max_penalty")
        return self


class Hotline(Strict):
    number: Annotated[str, Field(pattern=r"^[0-9]{3,20}(-[0-9]{1,6})?$")]
    name: str
    unit: str
    mode: Mode
    zone: str | None = None
    # What the carrier delivers as the called number; default: the number's digits.
    dialed: list[Annotated[str, Field(pattern=DIGITS)]] = []
    notice: str | None = None
    notice_audio: str | None = None  # a recorded file; otherwise the notice text is spoken
    transition: Window | None = None
    trunk: str | None = None

    @property
    def carrier_numbers(self) -> list[str]:
        return self.dialed or [self.number.replace("-", "")]

    @model_validator(mode="after")
    def _mode_fields(self) -> Hotline:
        m = self.mode
        if m is Mode.CANCELLED:
            if not (self.notice and self.notice.strip()):
                raise ValueError("a cancelled number needs notice text (notice)")
            if self.transition is None:
                raise ValueError("a cancelled number needs a transition window (transition)")
            if self.zone is not None:
                raise ValueError("a cancelled number reaches the general seats; remove zone")
        else:
            if self.zone is None:
                raise ValueError(f"a {m.value} number needs a zone")
        if m is Mode.SUBCENTRE and self.trunk is None:
            raise ValueError("a sub-centre needs the trunk that reaches it (trunk)")
        if m is not Mode.SUBCENTRE and self.trunk is not None:
            raise ValueError("only a sub-centre has a trunk")
        return self


class Seat(Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    name: str
    extension: Annotated[str, Field(pattern=r"^[0-9]{3,8}$")]
    role: Role
    zone: str
    # Zones this seat can back up, with a level: 1 is closest (offered first on overflow).
    skills: dict[str, Annotated[int, Field(ge=1, le=9)]] = {}


class Supervisor(Strict):
    """A supervisor's own softphone: where listen / whisper / barge calls ring."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    name: str
    extension: Annotated[str, Field(pattern=r"^[0-9]{3,8}$")]


class LiveSettings(Strict):
    """The shared real-time state (Redis) and the monitor's highlight thresholds."""

    # CALLCORE_REDIS_URL overrides it (tests run a private Redis).
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Key prefix shared by every node serving this site; default: derived from the home.
    namespace: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    waiting_alert_seconds: Annotated[int, Field(ge=1, le=7200)] = 60
    paused_alert_seconds: Annotated[int, Field(ge=1, le=86400)] = 900
    refresh_seconds: Annotated[float, Field(ge=0.2, le=60)] = 1.0

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return v


_CODE = r"^[*#]?[0-9]{1,6}$"


class FeatureCodes(Strict):
    """What seats dial on their softphones to change their state (callers never see these)."""

    login: Annotated[str, Field(pattern=_CODE)] = "*61"
    logout: Annotated[str, Field(pattern=_CODE)] = "*62"
    pause: Annotated[str, Field(pattern=_CODE)] = "*63"  # then the reason's code: *632
    resume: Annotated[str, Field(pattern=_CODE)] = "*64"

    @model_validator(mode="after")
    def _distinct(self) -> FeatureCodes:
        codes = [self.login, self.logout, self.pause, self.resume]
        for a in codes:
            for b in codes:
                if a is not b and b.startswith(a):
                    raise ValueError(f"feature code {b} starts with {a}; codes must be distinct")
        return self


class PauseReason(Strict):
    """Why a seat is paused; dialed as the pause code followed by `code` (one digit)."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z_]{0,19}$")]
    code: Annotated[str, Field(pattern=r"^[0-9]$")]
    name: str


DEFAULT_PAUSE_REASONS = [
    PauseReason(id="break", code="1", name="小休"),
    PauseReason(id="meal", code="2", name="就餐"),
    PauseReason(id="training", code="3", name="培训"),
    PauseReason(id="meeting", code="4", name="会议"),
    PauseReason(id="acw", code="5", name="事后处理"),
]


class FirstContact(Strict):
    """首接负责制: a repeat caller is offered first to the seat that took their open request."""

    # How far back a conversation counts (0: never offer to the previous seat).
    window_minutes: Annotated[int, Field(ge=0, le=525_600)] = 4320
    # How long the previous seat rings before the caller joins the normal queue.
    ring_seconds: Annotated[int, Field(ge=1, le=60)] = 8


class Enterprise(Strict):
    """A registered enterprise contact (一企来): recognised by the caller's number."""

    number: Annotated[str, Field(pattern=DIGITS)]
    name: str


_Problem = tuple[Loc, str]  # (where in the file, what is wrong there)


class SiteConfig(Strict):
    site: Site
    pbx: PbxSettings = PbxSettings()
    general_zone: str = "general"
    zones: list[Zone]
    trunks: list[Trunk]
    carrier_trunk: str = "carrier"
    hotlines: list[Hotline]
    seats: list[Seat] = []
    enterprises: list[Enterprise] = []
    features: FeatureCodes = FeatureCodes()
    pause_reasons: list[PauseReason] = DEFAULT_PAUSE_REASONS
    first_contact: FirstContact = FirstContact()
    supervisors: list[Supervisor] = []
    live: LiveSettings = LiveSettings()
    # After-call rating (一次一评); None: callers are not asked.
    ratings: RatingSettings | None = None
    # The QA desk (质检); None: no sampling, no scorecards.
    quality: QualitySettings | None = None
    workorders: WorkOrdersConfig = WorkOrdersConfig()  # units, classes, time limits
    callsout: CallsOutConfig = CallsOutConfig()  # outbound calls, callbacks, 110
    guard: GuardSettings = GuardSettings()  # bans of SIP password guessers
    # What a caller hears when a softphone transfers it to a number that is no target.
    transfers: TransferSettings = TransferSettings()
    recordings: RecordingSettings = RecordingSettings()  # 录音: on by default

    # Cross-references are checked here so each problem names the entry it is in.
    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        """Every problem at once, each under the entry it is in; one check per kind of
        reference, in the order the problems have always been reported."""
        zones = {z.id: z for z in self.zones}
        trunks = {t.id for t in self.trunks}
        problems = [
            *self._duplicate_keys(),
            *self._enterprise_zones(),
            *self._transfer_code_clashes(),
            *self._supervisor_clashes(),
            *self._dialed_number_clashes(),
            *self._default_references(zones, trunks),
            *self._hotline_references(zones, trunks),
            *self._seat_references(zones),
            *self.callsout.problems(set(zones), self._reachable()),
        ]
        if problems:
            raise CrossReferenceError(problems)
        return self

    def _reachable(self) -> dict[str, str]:
        """What a seat's softphone already reaches by number: hotlines, transfer codes, seats."""
        out = {n: f"hotlines[{i}]" for i, h in enumerate(self.hotlines) for n in h.carrier_numbers}
        for i, z in enumerate(self.zones):
            if z.transfer_code:
                out[z.transfer_code] = f"zones[{i}]"
        out.update({s.extension: f"seats[{i}]" for i, s in enumerate(self.seats)})
        return out

    def _duplicate_keys(self) -> list[_Problem]:
        """Ids, numbers, extensions and codes that must be unique within their list."""
        return [
            *duplicates("zones", [(i, z.id) for i, z in enumerate(self.zones)]),
            *duplicates("trunks", [(i, t.id) for i, t in enumerate(self.trunks)]),
            *duplicates("hotlines", [(i, h.number) for i, h in enumerate(self.hotlines)]),
            *duplicates("seats", [(i, s.id) for i, s in enumerate(self.seats)]),
            *duplicates("seats", [(i, s.extension) for i, s in enumerate(self.seats)]),
            *duplicates("enterprises", [(i, e.number) for i, e in enumerate(self.enterprises)]),
            *duplicates("pause_reasons", [(i, r.id) for i, r in enumerate(self.pause_reasons)]),
            *duplicates("pause_reasons", [(i, r.code) for i, r in enumerate(self.pause_reasons)]),
        ]

    def _enterprise_zones(self) -> list[_Problem]:
        enterprise_zones = [i for i, z in enumerate(self.zones) if z.kind is ZoneKind.ENTERPRISE]
        return [
            (("zones", i, "kind"), "only one zone may be the enterprise zone")
            for i in enterprise_zones[1:]
        ]

    def _transfer_code_clashes(self) -> list[_Problem]:
        """A zone's transfer code must not be a number callers dial, nor another zone's."""
        problems: list[_Problem] = []
        dialable = {
            n: f"hotlines[{i}]" for i, h in enumerate(self.hotlines) for n in h.carrier_numbers
        }
        for i, z in enumerate(self.zones):
            if z.transfer_code is None:
                continue
            if z.transfer_code in dialable:
                where = dialable[z.transfer_code]
                problems.append(
                    (("zones", i, "transfer_code"), f"{z.transfer_code} is also {where}")
                )
            dialable[z.transfer_code] = f"zones[{i}]"
        return problems

    def _supervisor_clashes(self) -> list[_Problem]:
        """Supervisors' ids and extensions are unique, and no extension is also a seat's."""
        problems = duplicates("supervisors", [(i, s.id) for i, s in enumerate(self.supervisors)])
        seat_exts = {s.extension: i for i, s in enumerate(self.seats)}
        for i, sup in enumerate(self.supervisors):
            if sup.extension in seat_exts:
                problems.append(
                    (
                        ("supervisors", i, "extension"),
                        f"extension {sup.extension} is also seats[{seat_exts[sup.extension]}]",
                    )
                )
        problems += duplicates(
            "supervisors", [(i, s.extension) for i, s in enumerate(self.supervisors)]
        )
        return problems

    def _dialed_number_clashes(self) -> list[_Problem]:
        """A number the carrier delivers routes one hotline only."""
        problems: list[_Problem] = []
        carried: dict[str, int] = {}
        for i, h in enumerate(self.hotlines):
            for n in h.carrier_numbers:
                if n in carried and carried[n] != i:
                    problems.append(
                        (
                            ("hotlines", i, "dialed"),
                            f"dialed number {n} also routes hotlines[{carried[n]}]",
                        )
                    )
                carried[n] = i
        return problems

    def _default_references(self, zones: dict[str, Zone], trunks: set[str]) -> list[_Problem]:
        """The general zone and the carrier trunk exist (and the general zone is general)."""
        problems: list[_Problem] = []
        if self.general_zone not in zones:
            problems.append((("general_zone",), f"unknown zone {self.general_zone!r}"))
        elif zones[self.general_zone].kind is not ZoneKind.GENERAL:
            problems.append((("general_zone",), "must name a zone of kind general"))
        if self.carrier_trunk not in trunks:
            problems.append((("carrier_trunk",), f"unknown trunk {self.carrier_trunk!r}"))
        return problems

    def _hotline_references(self, zones: dict[str, Zone], trunks: set[str]) -> list[_Problem]:
        """Each number's zone and trunk exist; exactly one number is the main one."""
        problems: list[_Problem] = []
        for i, h in enumerate(self.hotlines):
            if h.zone is not None and h.zone not in zones:
                problems.append((("hotlines", i, "zone"), f"unknown zone {h.zone!r}"))
            if h.trunk is not None and h.trunk not in trunks:
                problems.append((("hotlines", i, "trunk"), f"unknown trunk {h.trunk!r}"))
        mains = [i for i, h in enumerate(self.hotlines) if h.mode is Mode.MAIN]
        if len(mains) != 1:
            problems.append(
                (("hotlines",), f"exactly one main number is needed, found {len(mains)}")
            )
        return problems

    def _seat_references(self, zones: dict[str, Zone]) -> list[_Problem]:
        """Each seat's zone and the zones of its skills exist."""
        problems: list[_Problem] = []
        for i, s in enumerate(self.seats):
            if s.zone not in zones:
                problems.append((("seats", i, "zone"), f"unknown zone {s.zone!r}"))
            for z in s.skills:
                if z not in zones:
                    problems.append((("seats", i, "skills", z), f"unknown zone {z!r}"))
        return problems

    @model_validator(mode="after")
    def _quality_seats(self) -> SiteConfig:
        if self.quality is not None:
            problems = self.quality.unknown_seats({s.id for s in self.seats})
            if problems:
                raise CrossReferenceError([(("quality", *loc), m) for loc, m in problems])
        return self

    @model_validator(mode="after")
    def _workorder_references(self) -> SiteConfig:
        """A hotline's defaults name a hotline; a department's hotline names a unit."""
        wo = self.workorders
        problems: list[tuple[tuple[str | int, ...], str]] = []
        numbers = {h.number for h in self.hotlines}
        for number in wo.hotlines:
            if number not in numbers:
                problems.append((("workorders", "hotlines", number), "unknown hotline number"))
        if wo.units:
            for i, h in enumerate(self.hotlines):
                if h.mode is not Mode.MAIN and wo.unit_by_name(h.unit) is None:
                    problems.append(
                        (("hotlines", i, "unit"), f"{h.unit!r} is not a unit of workorders.units")
                    )
        if problems:
            raise CrossReferenceError(problems)
        return self

    def hotline_defaults(self, number: str) -> tuple[str | None, str | None]:
        """(unit id, class id) the seat's form starts with for a call to `number`."""
        own = next((h for h in self.hotlines if h.number == number), None)
        set_ = self.workorders.hotlines.get(number)
        unit = set_.unit if set_ and set_.unit else None
        if unit is None and own is not None and own.mode is not Mode.MAIN:
            found = self.workorders.unit_by_name(own.unit)
            unit = found.id if found else None
        return unit, set_.class_id if set_ else None

    # Lookups used on the routing path; built once per loaded config.
    def zone(self, zone_id: str) -> Zone:
        return next(z for z in self.zones if z.id == zone_id)

    def trunk(self, trunk_id: str) -> Trunk:
        return next(t for t in self.trunks if t.id == trunk_id)

    @property
    def main(self) -> Hotline:
        return next(h for h in self.hotlines if h.mode is Mode.MAIN)

    @property
    def enterprise_zone(self) -> Zone | None:
        """The 一企来 zone, where registered enterprises' general calls go; None if none."""
        return next((z for z in self.zones if z.kind is ZoneKind.ENTERPRISE), None)

    def seat(self, seat_id: str) -> Seat | None:
        return next((s for s in self.seats if s.id == seat_id), None)


def digits_only(value: str) -> str:
    return re.sub(r"\D", "", value)

"""The contract between the dialplan and the engine, written once.

Asterisk and callcore meet in four places: the routing decision the FastAGI handler
writes onto the caller (`CC_ROUTE`, cut apart by the dialplan), the UserEvents the
dialplan sends to AMI, the `CC…` facts it writes to queue_log for reconciliation, and the
flags a call's record carries. The templates render from these definitions (the CUT
lines, every UserEvent's headers, every fact's fields: a template naming anything else
fails to render) and the readers import them, so neither side can drift from the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class RouteField:
    variable: str  # the dialplan variable the field is cut into
    digits: bool = False  # numeric: the dialplan keeps only digits (FILTER(0-9,…))


# `SHARED(CC_ROUTE)`: these fields joined by `|`, in this order.
ROUTE_FIELDS: tuple[RouteField, ...] = (
    RouteField("CC_KIND"),
    RouteField("CC_QUEUE"),
    RouteField("CC_PRIO", digits=True),
    RouteField("CC_HOTLINE"),
    RouteField("CC_NOTICE"),
    RouteField("CC_TRUNK"),
    RouteField("CC_TRUNK_EXTEN"),
    RouteField("CC_TRUNK_TIMEOUT"),
    RouteField("CC_FLAGS"),
    RouteField("CC_AFF_SEAT"),
    RouteField("CC_AFF_DIAL"),
    RouteField("CC_AFF_SECS", digits=True),
)
ROUTE_SEPARATOR = "|"
FLAG_SEPARATOR = "+"  # between the flags of CC_FLAGS


class UserEvent(StrEnum):
    """The dialplan's UserEvents (AMI `UserEvent: <name>`)."""

    ROUTE = "CallcoreRoute"  # the routing decision was taken (or the static one)
    QUEUE_EXIT = "CallcoreQueueExit"  # the caller left a queue unanswered
    TRUNK_FAILED = "CallcoreTrunkFailed"  # the 12366 trunk did not answer
    AFFINITY = "CallcoreAffinity"  # the first-contact seat was rung first
    TRANSFER = "CallcoreTransfer"  # a seat transferred the caller here
    OUTBOUND = "CallcoreOutbound"  # the seat answered a call callcore places
    OUTBOUND_END = "CallcoreOutboundEnd"  # that call ended: how the citizen's dial went
    TRANSFER_INVALID = "CallcoreTransferInvalid"  # to no target: the caller comes back
    RATE_ASKED = "CallcoreRateAsked"  # the seat hung up first: the rating prompt begins
    RATING = "CallcoreRating"  # the rating ended: a key, or why none (一次一评)


# The headers each UserEvent carries, in the order the dialplan writes them.
USER_EVENT_HEADERS: dict[UserEvent, tuple[str, ...]] = {
    UserEvent.ROUTE: (
        "Dialed", "Hotline", "Kind", "Route", "Prio", "Fallback", "Flags", "Trunk", "Affinity",
    ),
    UserEvent.QUEUE_EXIT: ("Route", "Status"),
    UserEvent.TRUNK_FAILED: ("Trunk", "Status", "Route"),
    UserEvent.AFFINITY: ("Seat", "Status", "Route"),
    UserEvent.TRANSFER: (
        "Target", "Kind", "Route", "Trunk", "Seat", "Transferer", "Via", "Consulting",
    ),
    UserEvent.OUTBOUND: ("Id", "Seat"),
    UserEvent.OUTBOUND_END: ("Id", "Status", "Cause", "Answered", "Dialed"),
    UserEvent.TRANSFER_INVALID: ("Target", "Seat", "Transferer", "Via", "Route"),
    UserEvent.RATE_ASKED: ("Member",),
    UserEvent.RATING: ("Outcome", "Key"),
}  # fmt: skip


class Fact(StrEnum):
    """The dialplan's own queue_log lines (event field), one per milestone of a call."""

    IN = "CCIN"  # the call arrived
    ROUTE = "CCROUTE"  # the routing decision
    QUEUE = "CCQUEUE"  # the caller entered a queue
    QUEUE_EXIT = "CCQEXIT"  # the caller left it unanswered
    TRUNK = "CCTRUNK"  # the 12366 trunk was dialed
    TRUNK_ANSWERED = "CCTRUNKANS"
    TRUNK_END = "CCTRUNKEND"
    END = "CCEND"  # the caller hung up
    RATE_ASKED = "CCRATEASK"  # the seat hung up first: talk is over, the prompt begins
    RATE = "CCRATE"  # the rating ended (callcore/features/ratings/model.py parses it)


FACT_PREFIX = "CC"
# A fact's data fields after its millisecond stamp, `|`-separated.
FACT_FIELDS: dict[Fact, tuple[str, ...]] = {
    Fact.IN: ("dialed", "caller", "name"),
    Fact.ROUTE: ("kind", "queue", "prio", "hotline", "fallback", "flags", "trunk"),
    Fact.QUEUE: ("queue",),
    Fact.QUEUE_EXIT: ("status",),
    Fact.TRUNK: ("trunk",),
    Fact.TRUNK_ANSWERED: (),
    Fact.TRUNK_END: ("status",),
    Fact.END: ("cause",),
    Fact.RATE_ASKED: (),
    Fact.RATE: ("outcome", "key"),
}


class Flag(StrEnum):
    """Every flag a call's record can carry (`CallRecord.flags`)."""

    # from the routing decision (the dialplan carries them in CC_FLAGS)
    UNKNOWN_NUMBER = "unknown_number"  # a number not in the directory still reached a human
    CANCELLED = "cancelled"  # a cancelled number: the caller heard the merge notice
    OUTSIDE_TRANSITION = "outside_transition"  # cancelled, its transition window is over
    ENTERPRISE = "enterprise"  # a registered enterprise contact (一企来)
    # from what happened to the call
    TRANSFERRED_IN = "transferred_in"  # the 12366 sub-centre transferred the caller to us
    TRANSFER_RETURNED = "transfer_returned"  # a transfer failed; the caller came back
    SUBCENTRE_FAILED = "subcentre_failed"  # `subcentre_failed:<dial status>`
    ASTERISK_LOST = "asterisk_lost"  # Asterisk went away with the call up
    RECONCILED = "reconciled"  # rebuilt from queue_log after an outage

    def detail(self, value: str) -> str:
        """A flag with a detail, e.g. `subcentre_failed:noanswer`."""
        return f"{self.value}:{value}"

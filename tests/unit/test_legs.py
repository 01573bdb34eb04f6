"""The transfer chain (callcore/legs.py) and the call record's transfer and first-contact
facts (callcore/tracker.py), from AMI event sequences shaped like those Asterisk 22 sent
for each case on the real test site (blind and attended REFER, AMI Atxfer, the 12366
trunk answered and unanswered, a first-contact seat, a call from the 12366 trunk)."""

from __future__ import annotations

import itertools

import pytest

import config
from callcore.features.calls.tracker import CallTracker
from callcore.features.transfers.legs import LegRecord, LegTracker
from callcore.records import CallRecord, Outcome
from config.directory import Directory

CFG = config.load()
DIRECTORY = Directory(CFG)
C = "1795668184.9"  # the citizen's channel (and call)


class Site:
    """Both followers fed the same events; what each published."""

    def __init__(self) -> None:
        self.legs: dict[str, LegRecord] = {}
        self.records: list[CallRecord] = []
        self.legs_tracker = LegTracker(lambda: CFG, lambda leg: self.legs.__setitem__(leg.id, leg))
        self.tracker = CallTracker(lambda: DIRECTORY, self.records.append)
        self.t = itertools.count(1795668184)

    def feed(self, name: str, **fields: str) -> None:
        ev = {"Event": name, "Timestamp": f"{next(self.t)}.000000", **fields}
        self.tracker.handle(ev)
        self.legs_tracker.handle(ev)

    def chain(self) -> list[tuple]:
        legs = sorted(self.legs.values(), key=lambda x: x.seq)
        return [(x.kind, x.target, x.from_seat, x.via, x.seat, x.outcome) for x in legs]

    @property
    def record(self) -> CallRecord:
        return self.records[-1]

    # -- pieces of a call ---------------------------------------------------------------
    def arrive(self, dialed: str = "12345", context: str = "from-carrier", **route: str) -> None:
        self.feed(
            "Newchannel",
            Channel="PJSIP/carrier-00000005",
            Uniqueid=C,
            Linkedid=C,
            Context=context,
            Exten=dialed,
            CallerIDNum="13956681839",
            CallerIDName="测试",
        )
        fields = {
            "Kind": "queue",
            "Route": "q-general",
            "Prio": "0",
            "Hotline": "12345",
            "Dialed": dialed,
            "Fallback": "0",
            "Flags": "",
            "Trunk": "",
            "Affinity": "",
        }
        fields.update(route)
        self.feed("UserEvent", UserEvent="CallcoreRoute", Uniqueid=C, Linkedid=C, **fields)

    def seat_answers(
        self, seat: str, ext: str, chan: str, queue: str = "q-general", caller: str = C
    ) -> None:
        uid = f"S-{chan}"
        self.feed("QueueCallerJoin", Uniqueid=caller, Linkedid=C, Queue=queue)
        self.feed(
            "Newchannel",
            Channel=f"PJSIP/{ext}-{chan}",
            Uniqueid=uid,
            Linkedid=C,
            Context="from-seat",
            Exten="s",
        )
        self.feed(
            "AgentCalled",
            Uniqueid=caller,
            Linkedid=C,
            Queue=queue,
            MemberName=seat,
            DestChannel=f"PJSIP/{ext}-{chan}",
        )
        self.feed(
            "AgentConnect",
            Uniqueid=caller,
            Linkedid=C,
            Queue=queue,
            MemberName=seat,
            DestChannel=f"PJSIP/{ext}-{chan}",
        )

    def transferee_arrives(
        self,
        kind: str = "queue",
        route: str = "q-hrss",
        trunk: str = "",
        via: str = "",
        target: str = "12333",
    ) -> None:
        self.feed(
            "UserEvent",
            UserEvent="CallcoreTransfer",
            Uniqueid=C,
            Linkedid=C,
            Channel="PJSIP/carrier-00000005",
            Target=target,
            Kind=kind,
            Route=route,
            Trunk=trunk,
            Seat="",
            Transferer="PJSIP/8003-00000006",
            Via=via,
        )

    def blind_event(self, target: str = "12333") -> None:
        self.feed(
            "BlindTransfer",
            Result="Success",
            TransfererChannel="PJSIP/8003-00000006",
            TransfereeUniqueid=C,
            TransfereeLinkedid=C,
            Context="cc-transfer",
            Extension=target,
            IsExternal="Yes",
        )

    def end(self) -> None:
        for uid in list(self.tracker._by_channel):
            self.feed("Hangup", Uniqueid=uid, Linkedid=C, Cause="16")
        self.feed("Hangup", Uniqueid=C, Linkedid=C, Cause="16")  # fmt: skip


@pytest.mark.parametrize("event_first", [True, False], ids=["event-first", "dialplan-first"])
def test_blind_transfer_to_a_zone(event_first: bool):
    s = Site()
    s.arrive()
    s.seat_answers("G03", "8003", "00000006")
    if event_first:
        s.blind_event()
        s.transferee_arrives()
    else:  # the transferee's dialplan may report before Asterisk's BlindTransfer event
        s.transferee_arrives()
        s.blind_event()
    s.seat_answers("E-hrss1", "8101", "00000008", queue="q-hrss")
    s.end()
    assert s.chain() == [
        ("queue", "q-general", "", "", "G03", "transferred"),
        ("blind", "q-hrss", "G03", "softphone", "E-hrss1", "answered"),
    ]
    rec = s.record
    assert rec.ended_at is not None and rec.outcome is Outcome.TRANSFERRED
    assert rec.transfer_target == "q-hrss" and rec.route == "q-general" and rec.seat == "G03"


def test_attended_transfer_by_softphone_consultation():
    s = Site()
    s.arrive()
    s.seat_answers("G03", "8003", "00000006")
    consult = "1795668186.13"
    s.feed("Newchannel", Channel="PJSIP/8003-00000007", Uniqueid=consult, Linkedid=consult,
           Context="from-seat", Exten="12333")  # fmt: skip
    s.feed("UserEvent", UserEvent="CallcoreTransfer", Uniqueid=consult, Linkedid=consult,
           Channel="PJSIP/8003-00000007", Target="12333", Kind="queue", Route="q-hrss", Trunk="",
           Seat="G03", Transferer="", Via="")  # fmt: skip
    s.feed("AgentConnect", Uniqueid=consult, Linkedid=consult, Queue="q-hrss",
           MemberName="E-hrss1", DestChannel="PJSIP/8101-00000008")  # fmt: skip
    s.feed("AttendedTransfer", Result="Success", OrigTransfererChannel="PJSIP/8003-00000006",
           OrigTransfererUniqueid="S-00000006", OrigTransfererLinkedid=C,
           SecondTransfererChannel="PJSIP/8003-00000007", SecondTransfererUniqueid=consult,
           TransfereeChannel="PJSIP/carrier-00000005", TransfereeUniqueid=C,
           TransferTargetChannel="PJSIP/8101-00000008", DestType="Link")  # fmt: skip
    s.end()
    assert s.chain() == [
        ("queue", "q-general", "", "", "G03", "transferred"),
        ("attended", "q-hrss", "G03", "softphone", "E-hrss1", "answered"),
    ]
    assert s.record.transfer_target == "q-hrss" and s.record.outcome is Outcome.TRANSFERRED


def test_attended_transfer_by_api_through_atxfers_local_channels():
    s = Site()
    s.arrive()
    s.seat_answers("G03", "8003", "00000006")
    local = "Local/12333@cc-transfer-00000005"
    s.feed("Newchannel", Channel=f"{local};1", Uniqueid="L1", Linkedid=C, Context="cc-transfer")
    s.feed("Newchannel", Channel=f"{local};2", Uniqueid="L2", Linkedid=C, Context="cc-transfer")
    s.feed("UserEvent", UserEvent="CallcoreTransfer", Uniqueid="L2", Linkedid=C,
           Channel=f"{local};2", Target="12333", Kind="queue", Route="q-hrss", Trunk="",
           Seat="", Transferer="", Via="api")  # fmt: skip
    s.feed("AgentConnect", Uniqueid="L2", Linkedid=C, Queue="q-hrss", MemberName="E-hrss1",
           DestChannel="PJSIP/8101-0000000a")  # fmt: skip
    s.feed("AttendedTransfer", Result="Success", OrigTransfererChannel="PJSIP/8003-00000006",
           OrigTransfererUniqueid="S-00000006", SecondTransfererChannel="PJSIP/8003-00000006",
           SecondTransfererUniqueid="S-00000006", TransfereeUniqueid=C,
           TransferTargetChannel=f"{local};1", DestType="Bridge")  # fmt: skip
    s.end()
    assert s.chain()[1] == ("attended", "q-hrss", "G03", "api", "E-hrss1", "answered")
    assert s.record.transfer_target == "q-hrss"


def test_attended_transfer_by_api_after_the_local_pair_was_optimised_away():
    s = Site()
    s.arrive()
    s.seat_answers("G03", "8003", "00000006")
    local = "Local/12333@cc-transfer-00000005"
    s.feed("UserEvent", UserEvent="CallcoreTransfer", Uniqueid="L2", Linkedid=C,
           Channel=f"{local};2", Target="12333", Kind="queue", Route="q-hrss", Trunk="",
           Seat="", Transferer="", Via="api", Consulting="PJSIP/8003-00000006")  # fmt: skip
    s.feed("AgentConnect", Uniqueid="L2", Linkedid=C, Queue="q-hrss", MemberName="E-hrss1",
           DestChannel="PJSIP/8101-0000000a")  # fmt: skip
    s.feed("AttendedTransfer", Result="Success", OrigTransfererChannel="PJSIP/8003-00000006",
           OrigTransfererUniqueid="S-00000006", SecondTransfererChannel="PJSIP/8003-00000006",
           SecondTransfererUniqueid="S-00000006", TransfereeUniqueid=C,
           TransferTargetChannel="PJSIP/8101-0000000a", DestType="Bridge")  # fmt: skip
    s.end()
    assert s.chain()[1] == ("attended", "q-hrss", "G03", "api", "E-hrss1", "answered")
    assert s.record.transfer_target == "q-hrss"


def test_transfer_to_12366_answered_and_unanswered():
    s = Site()
    s.arrive()
    s.seat_answers("G03", "8003", "00000006")
    s.transferee_arrives("trunk", "q-tax", "tax12366", "api", "12366")
    s.feed("DialEnd", Uniqueid=C, Linkedid=C, DestChannel="PJSIP/tax12366-0000000b",
           DestUniqueid="T1", DialStatus="ANSWER")  # fmt: skip
    s.end()
    assert s.chain()[1] == ("blind", "trunk:tax12366", "G03", "api", "tax12366", "answered")
    assert s.record.outcome is Outcome.TRANSFERRED
    assert s.record.transfer_target == "trunk:tax12366"

    s = Site()
    s.arrive()
    s.seat_answers("G03", "8003", "00000006")
    s.transferee_arrives("trunk", "q-tax", "tax12366", "", "12366")
    s.feed("UserEvent", UserEvent="CallcoreTrunkFailed", Uniqueid=C, Linkedid=C,
           Trunk="tax12366", Status="NOANSWER", Route="q-general")  # fmt: skip
    s.blind_event("12366")  # Asterisk's own report may come after the return: changes nothing
    s.seat_answers("G07", "8007", "00000009")
    s.end()
    assert s.chain() == [
        ("queue", "q-general", "", "", "G03", "transferred"),
        ("blind", "trunk:tax12366", "G03", "softphone", "", "unanswered"),
        ("returned", "q-general", "G03", "", "G07", "answered"),
    ]
    rec = s.record
    assert rec.outcome is Outcome.ANSWERED and "transfer_returned" in rec.flags
    assert "ahead of others" in rec.reason


@pytest.mark.parametrize("target", ["99999", "abc"])
def test_a_transfer_to_no_target_fails_its_leg_and_the_caller_comes_back(target: str):
    """A softphone's REFER to a number that is no target (here a baresip seat, which hangs
    up after the transfer's NOTIFY): the caller is queued again and answered by a human."""
    s = Site()
    s.arrive()
    s.seat_answers("G03", "8003", "00000006")
    invalid = {"UserEvent": "CallcoreTransferInvalid", "Uniqueid": C, "Linkedid": C,
               "Target": target, "Transferer": "PJSIP/8003-00000006", "Route": "q-general"}
    s.feed("UserEvent", **invalid)
    s.feed("Hangup", Uniqueid="S-00000006", Linkedid=C, Cause="16")  # the softphone hangs up
    s.seat_answers("G07", "8007", "00000009")
    s.end()
    chain = s.chain()
    assert chain[1:] == [
        ("blind", target, "G03", "softphone", "", "failed"),
        ("returned", "q-general", "G03", "", "G07", "answered"),
    ]
    assert chain[0][-1] == "transferred"
    assert "transfer_returned" in s.record.flags and s.record.outcome is Outcome.ANSWERED
    assert f"transfer to {target} failed (no such target): back in q-general" in s.record.reason


def test_first_contact_seat_answering_and_not_answering():
    s = Site()
    s.arrive(Affinity="G03")
    s.feed("DialBegin", Uniqueid=C, Linkedid=C, DestChannel="PJSIP/8003-00000006",
           DestUniqueid="D1")  # fmt: skip
    s.feed("DialEnd", Uniqueid=C, Linkedid=C, DestChannel="PJSIP/8003-00000006",
           DestUniqueid="D1", DialStatus="ANSWER")  # fmt: skip
    s.end()
    rec = s.record
    assert rec.affinity is True and rec.seat == "G03" and rec.outcome is Outcome.ANSWERED
    assert rec.queued_at is not None and rec.wait_seconds is not None
    assert "首接负责制" in rec.reason
    assert s.chain() == [("first_contact", "seat:G03", "", "", "G03", "answered")]

    s = Site()
    s.arrive(Affinity="G03")
    s.feed("DialBegin", Uniqueid=C, Linkedid=C, DestChannel="PJSIP/8003-00000006",
           DestUniqueid="D1")  # fmt: skip
    s.feed("DialEnd", Uniqueid=C, Linkedid=C, DestChannel="PJSIP/8003-00000006",
           DestUniqueid="D1", DialStatus="NOANSWER")  # fmt: skip
    s.feed("UserEvent", UserEvent="CallcoreAffinity", Uniqueid=C, Linkedid=C, Seat="G03",
           Status="NOANSWER", Route="q-general")  # fmt: skip
    s.seat_answers("G05", "8005", "00000007")
    s.end()
    rec = s.record
    assert rec.affinity is True and rec.seat == "G05" and rec.route == "q-general"
    waited = rec.answered_at - rec.queued_at
    assert rec.wait_seconds == pytest.approx(waited.total_seconds())  # from the first ring
    assert s.chain() == [
        ("first_contact", "seat:G03", "", "", "", "unanswered"),
        ("queue", "q-general", "", "", "G05", "answered"),
    ]


def test_a_call_transferred_in_from_the_12366_trunk():
    s = Site()
    s.arrive("12345", "from-trunk", Prio="10", Flags="transferred_in", Trunk="tax12366",
             Hotline="")  # fmt: skip
    s.seat_answers("G01", "8001", "00000002")
    s.end()
    assert s.chain() == [("transfer_in", "q-general", "", "trunk:tax12366", "G01", "answered")]
    rec = s.record
    assert rec.flags == ["transferred_in"] and rec.priority == 10
    assert rec.reason.startswith("transferred in")


def test_an_enterprise_callers_record_says_why_it_went_to_the_enterprise_zone():
    s = Site()
    s.feed("Newchannel", Channel="PJSIP/carrier-00000005", Uniqueid=C, Linkedid=C,
           Context="from-carrier", Exten="12345", CallerIDNum="+8651588001234",
           CallerIDName="某公司")  # fmt: skip
    s.feed("UserEvent", UserEvent="CallcoreRoute", Uniqueid=C, Linkedid=C, Kind="queue",
           Route="q-enterprise", Prio="5", Hotline="12345", Dialed="12345", Fallback="0",
           Flags="enterprise", Trunk="", Affinity="")  # fmt: skip
    s.seat_answers("Q01", "8301", "00000002", queue="q-enterprise")
    s.end()
    rec = s.record
    assert rec.route == "q-enterprise" and rec.priority == 5 and rec.flags == ["enterprise"]
    assert "一企来" in rec.reason and "[FastAGI]" in rec.reason


def test_a_caller_who_hangs_up_while_waiting_ends_the_leg_abandoned():
    s = Site()
    s.arrive()
    s.feed("QueueCallerJoin", Uniqueid=C, Linkedid=C, Queue="q-general")
    s.end()
    assert s.chain() == [("queue", "q-general", "", "", "", "abandoned")]
    legs = list(s.legs.values())
    assert all(x.linkedid == C and x.id == f"{C}/{x.seq}" for x in legs)

"""Enterprise and first-contact routing, the seats' config, transfer targets and what is
rendered for seats (feature codes, their static fallback, transfers, queue weights)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
import yaml

import config
from agi.server import FastAgiServer
from callcore.asterisk import render
from callcore.asterisk.runtime import Runtime
from callcore.contract import Flag
from callcore.features.routing.agi import make_route_handler
from callcore.features.routing.decision import FirstContact, Kind, decide
from callcore.features.transfers.service import target, transfer_targets
from callcore.instance import Instance
from config.directory import Directory
from config.loader import DEFAULT_PATH, ConfigError, parse
from queues import priority
from seats.membership import memberships
from tests.unit.test_agi_server import agi_env, fake_asterisk

CFG = config.load()
DIR = Directory(CFG)
TODAY = date(2026, 11, 26)
ENT = frozenset({"51588001234"})  # as the engine gives them: national numbers
G03 = FirstContact("G03", "PJSIP/8003", 8)


@pytest.mark.parametrize(
    ("dialed", "queue", "notice"),
    [
        ("12345", "q-enterprise", ""),  # 12345 from an enterprise: the enterprise zone first
        ("99999", "q-enterprise", ""),  # unknown number: where general calls would go
        ("12349", "q-enterprise", "notice-12349"),  # cancelled: notice, then the zone
        ("12333", "q-hrss", ""),  # a kept number stays with its experts
    ],
)
def test_enterprise_callers_get_priority_and_the_enterprise_zone(dialed, queue, notice):
    for caller in ("051588001234", "+8651588001234", "88001234"):
        r = decide(DIR, dialed, caller, TODAY, ENT)
        assert (r.queue, r.notice, r.priority) == (queue, notice, priority.ENTERPRISE)
        assert Flag.ENTERPRISE in r.flags and "一企来" in r.reason
    assert decide(DIR, dialed, "13800000000", TODAY, ENT).priority == priority.NORMAL


def test_12366_from_an_enterprise_still_goes_to_the_subcentre():
    r = decide(DIR, "12366", "051588001234", TODAY, ENT)
    assert r.kind is Kind.TRUNK and r.trunk == "tax12366" and r.queue == "q-tax"


def test_first_contact_rings_the_previous_seat_then_the_queue():
    r = decide(DIR, "12393", "13800000000", TODAY, first_contact=G03)
    assert (r.queue, r.affinity_seat, r.affinity_dial, r.affinity_seconds) == (
        "q-medins", "G03", "PJSIP/8003", 8
    )  # fmt: skip
    assert "首接负责制" in r.reason
    trunk = decide(DIR, "12366", "13800000000", TODAY, first_contact=G03)
    assert trunk.affinity_dial == ""  # the sub-centre's callers are its own
    both = decide(DIR, "12345", "051588001234", TODAY, ENT, G03)
    assert both.queue == "q-enterprise" and both.affinity_seat == "G03"


async def test_the_route_request_carries_the_first_contact_seat():
    asked: list[str] = []

    def first_contact(caller: str) -> FirstContact | None:
        asked.append(caller)
        return G03 if caller == "13800000000" else None

    handler = make_route_handler(
        lambda: DIR, lambda: ENT, clock=lambda: datetime(2026, 11, 26, tzinfo=UTC),
        first_contact=first_contact,
    )  # fmt: skip
    srv = FastAgiServer({"route": handler}, "127.0.0.1", 0)
    await srv.start()
    try:
        chan = "PJSIP/carrier-00000001"
        ex = await fake_asterisk(srv.bound_port, agi_env("route", ("12345", chan, "13800000000")))
        values = ex.words[0][3].split("|")
        assert values[1] == "q-general" and values[9:] == ["G03", "PJSIP/8003", "8"]
        ex = await fake_asterisk(srv.bound_port, agi_env("route", ("12345", chan, "139")))
        assert ex.words[0][3].split("|")[9:] == ["", "", ""]
        assert asked == ["13800000000", "139"]
    finally:
        await srv.close(grace=1.0)


# -- config ---------------------------------------------------------------------------------


def data() -> dict:
    return yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["pause_reasons"].append({"id": "nap", "code": "1", "name": "午睡"}),
         "duplicate '1'"),
        (lambda d: d["zones"].append({"id": "ent2", "name": "二区", "kind": "enterprise"}),
         "only one zone may be the enterprise zone"),
        (lambda d: d["zones"][1].update(transfer_code="12345"), "12345 is also hotlines[0]"),
        (lambda d: d["features"].update(pause="*6"), "starts with *6"),
        (lambda d: d["first_contact"].update(ring_seconds=0), "greater than or equal to 1"),
    ],
)  # fmt: skip
def test_bad_seat_settings_are_named(change, problem):
    d = data()
    change(d)
    with pytest.raises(ConfigError) as e:
        parse(yaml.safe_dump(d, allow_unicode=True), "site.yaml")
    assert problem in str(e.value)


def test_transfer_targets_are_the_zones_numbers_codes_and_the_subcentre():
    by = {t.exten: t for t in transfer_targets(CFG)}
    assert by["12333"].queue == "q-hrss" and by["12345"].queue == "q-general"
    assert by["9100"].queue == "q-tax" and by["9200"].queue == "q-enterprise"
    tax = by["12366"]
    assert (tax.kind, tax.trunk, tax.queue, tax.trunk_timeout) == ("trunk", "tax12366", "q-tax", 20)
    assert not {h.number for h in CFG.hotlines if h.mode.value == "cancelled"} & set(by)
    with pytest.raises(ValueError, match="cannot transfer to '110'"):
        target(CFG, "110")


# -- rendered -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    inst = Instance(tmp_path_factory.mktemp("home"), DEFAULT_PATH)
    return render.render(inst, Runtime(None, "/usr/sbin/asterisk")).files


def context(text: str, name: str) -> str:
    m = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M)
    assert m, name
    return m.group(1)


def test_feature_codes_and_their_static_fallback_are_rendered(files):
    ext = files["extensions.conf"]
    feats = context(ext, "cc-features")
    for code in ("*61", "*62", "_*63X", "*64"):
        assert f"exten => {code}," in feats
    assert "include => cc-features" in context(ext, "from-seat")
    for seat in CFG.seats:
        login = re.search(rf"^exten => {seat.extension},1.*?Return\(\)", context(ext,
                          "cc-seat-login"), re.S | re.M).group(0)  # fmt: skip
        for m in memberships(CFG, seat):
            assert f"AddQueueMember({m.queue},{m.interface},{m.penalty},,{seat.id}," in login
    reasons = context(ext, "cc-pause-reason")
    for r in CFG.pause_reasons:
        assert f"exten => {r.code},1,Set(CC_REASON={r.id})" in reasons
    assert "AGI(${CC_AGI}/agent,${CC_AG})" in context(ext, "cc-agent-agi")


def test_transfers_and_first_contact_are_rendered(files):
    ext, pjsip = files["extensions.conf"], files["pjsip.conf"]
    xfer = context(ext, "cc-transfer")
    for t in transfer_targets(CFG):
        assert f"exten => {t.exten},1,Gosub(cc-xfer,s,1({t.kind},{t.queue}," in xfer
    assert "QUEUE_PRIO=10" in context(ext, "cc-xfer")  # transferred callers go ahead
    # `g`: the caller stays when the seat hangs up, to rate the call (一次一评)
    assert "Dial(${CC_AFF},${CC_AFF_SECS},tg)" in context(ext, "cc-affinity")
    assert pjsip.count("set_var = TRANSFER_CONTEXT=cc-transfer") == len(CFG.seats)
    assert "send_connected_line = no" in pjsip  # no re-INVITE of citizens; seats stay private
    queues = files["queues.conf"]
    assert re.search(r"\[q-enterprise\][^\[]*weight = 10", queues)
    assert re.search(r"\[q-general\][^\[]*weight = 0", queues)
    assert "transferannouncesound" in files["features.conf"]

"""Routing decisions for every number class, and agreement with the static dialplan."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

import config
from callcore.contract import Flag
from callcore.features.routing.decision import Kind, decide, static_routes
from config.directory import Directory, clean
from config.schema import Mode
from queues import priority

CFG = config.load()
DIR = Directory(CFG)
TODAY = date(2026, 11, 26)


def test_main_number_goes_to_general_seats():
    r = decide(DIR, "12345", "13800000000", TODAY)
    assert (r.kind, r.queue, r.hotline, r.notice, r.flags) == (
        Kind.QUEUE,
        "q-general",
        "12345",
        "",
        frozenset(),
    )


@pytest.mark.parametrize(
    "number,zone",
    [
        ("12348", "legal"),
        ("12333", "hrss"),
        ("12329", "hpf"),
        ("12328", "transport"),
        ("12350", "safety"),
        ("12315", "market"),
        ("12393", "medins"),
    ],
)
def test_kept_numbers_land_in_their_expert_zone(number, zone):
    r = decide(DIR, number, "13800000000", TODAY)
    assert r.kind is Kind.QUEUE and r.queue == f"q-{zone}" and r.hotline == number
    assert not r.notice


@pytest.mark.parametrize(
    "dialed,number",
    [("12349", "12349"), ("81610000", "81610000"), ("883486661", "88348666-1"), ("96119", "96119")],
)
def test_cancelled_numbers_in_window_hear_the_notice_then_general(dialed, number):
    r = decide(DIR, dialed, "13800000000", TODAY)
    assert r.queue == "q-general" and r.hotline == number
    assert r.notice == "notice-" + number.replace("-", "")
    assert r.flags == {Flag.CANCELLED}


def test_cancelled_number_outside_window_has_no_notice():
    h = next(h for h in CFG.hotlines if h.number == "12349")
    after = date(h.transition.end.year + 1, 1, 1)
    before = date(h.transition.start.year - 1, 1, 1)
    for day in (after, before):
        r = decide(DIR, "12349", "13800000000", day)
        assert r.queue == "q-general" and not r.notice
        assert Flag.OUTSIDE_TRANSITION in r.flags
    # the window's own days are inside
    assert decide(DIR, "12349", "1", h.transition.end).notice
    assert decide(DIR, "12349", "1", h.transition.start).notice


def test_12366_goes_to_the_subcentre_trunk_with_the_tax_zone_behind():
    r = decide(DIR, "12366", "13800000000", TODAY)
    assert r.kind is Kind.TRUNK and r.trunk == "tax12366" and r.trunk_exten == "12366"
    assert r.queue == "q-tax" and r.priority == priority.RETURNED
    assert r.trunk_timeout == CFG.trunk("tax12366").dial_timeout


@pytest.mark.parametrize("dialed", ["99999", "110", "", "abc", "12345678901234567890123456789"])
def test_unknown_numbers_reach_general_seats_flagged(dialed):
    r = decide(DIR, dialed, "13800000000", TODAY)
    assert r.queue == "q-general" and r.kind is Kind.QUEUE
    assert r.flags == {Flag.UNKNOWN_NUMBER}


@pytest.mark.parametrize(
    "dialed", ["051512333", "+8651512333", "008651512333", "8651512333", "0515-12333", " 12333 "]
)
def test_carrier_number_shapes(dialed):
    assert decide(DIR, dialed, "1", TODAY).hotline == "12333"


def test_enterprise_caller_gets_priority():
    r = decide(DIR, "12345", "051588001234", TODAY, frozenset({"051588001234"}))
    assert r.priority == priority.ENTERPRISE and Flag.ENTERPRISE in r.flags


def test_clean_rejects_non_numbers():
    assert clean("12-34 5") == "12345"
    assert clean("+86 515") == "+86515"
    assert clean("1;DROP") == ""
    assert clean("+") == ""


def test_static_routes_cover_every_number():
    routes = {h.number: r for h, r in static_routes(DIR)}
    assert set(routes) == {h.number for h in CFG.hotlines}


_variants = [(v, h) for h in CFG.hotlines for v in DIR.variants(h)]


@given(st.sampled_from(_variants))
def test_static_and_dynamic_agree_on_every_variant(pair):
    """The static dialplan is rendered from static_routes; FastAGI uses decide."""
    variant, h = pair
    static = dict((x.number, r) for x, r in static_routes(DIR))[h.number]
    dynamic = decide(DIR, variant, "13800000000", TODAY)
    assert dynamic.hotline == h.number
    assert (dynamic.kind, dynamic.queue, dynamic.priority, dynamic.trunk) == (
        static.kind,
        static.queue,
        static.priority,
        static.trunk,
    )
    if h.mode is Mode.CANCELLED:
        assert dynamic.notice == static.notice


@given(st.text(max_size=40))
def test_decide_never_fails_on_any_dialed_text(text):
    r = decide(DIR, text, text, TODAY)
    assert r.queue.startswith("q-")

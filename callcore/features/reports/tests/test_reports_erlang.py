"""Erlang C against a published worked example, Erlang A against Palm's closed forms, its
exact special cases and its Erlang C limit; staffing from the hand-worked store."""

from __future__ import annotations

import math
from datetime import date

import pytest

from callcore.features.reports import erlang
from callcore.features.reports.service import ReportService


def test_erlang_c_call_centre_helper_example():
    """Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked Example"
    (callcentrehelper.com): 100 calls in 30 minutes, average handling time 180 s, 80 % of
    calls answered within 20 s. Traffic intensity 10 erlangs; with 11 agents the
    probability a call waits is 68.21 %; 14 agents reach the service level (13 do not);
    occupancy then 71.43 %; with 30 % shrinkage 20 agents are rostered."""
    rate, aht = 100 / 1800, 180.0
    a = rate * aht
    assert a == pytest.approx(10.0)
    assert round(erlang.erlang_c(11, a), 4) == 0.6821
    assert erlang.erlang_c_service_level(13, a, aht, 20) < 0.80
    assert erlang.erlang_c_agents(rate, aht, 20, 0.80) == 14
    assert round(a / 14, 4) == 0.7143
    assert math.ceil(14 / (1 - 0.30)) == 20


def test_erlang_a_agrees_with_palms_closed_forms():
    """Mandelbaum & Zeltyn, "The Palm/Erlang-A Queue, with Applications to Call Centers"
    (Technion, 2005), sections 4.4-4.5: with x = n mu / theta, y = lambda / theta,
    A(x, y) = 1 + sum_j y^j / prod_{k<=j} (x + k) and E = Erlang B(n, lambda / mu),
    P(W > 0) = A E / (1 + (A - 1) E) and P(Ab) = (1 / (rho A) + 1 - 1 / rho) P(W > 0)."""

    def palm(n: int, rate: float, aht: float, patience: float) -> tuple[float, float]:
        x, y = n / aht * patience, rate * patience
        big, term, j = 1.0, 1.0, 0
        while term > 1e-18:
            j += 1
            term *= y / (x + j)
            big += term
        e = erlang.erlang_b(n, rate * aht)
        p_wait = big * e / (1 + (big - 1) * e)
        rho = rate * aht / n
        return p_wait, (1 / (rho * big) + 1 - 1 / rho) * p_wait

    for n, rate, aht, patience in ((14, 100 / 1800, 180, 60), (50, 0.5, 120, 90),
                                   (8, 0.1, 100, 30), (120, 1.2, 95, 240)):  # fmt: skip
        r = erlang.erlang_a(n, rate, aht, patience, 15)
        p_wait, p_ab = palm(n, rate, aht, patience)
        assert r.p_wait == pytest.approx(p_wait, rel=1e-9)
        assert r.p_abandon == pytest.approx(p_ab, rel=1e-9)


def test_erlang_a_special_cases():
    # patience equal to the handle time: callers leave the system at the same rate whether
    # served or waiting, so the number of callers is Poisson with mean a (Palm's M/M/inf)
    n, rate, aht = 10, 0.1, 100.0
    a = rate * aht
    pois = [math.exp(-a) * a**k / math.factorial(k) for k in range(120)]
    r = erlang.erlang_a(n, rate, aht, aht, 15)
    assert r.p_wait == pytest.approx(sum(pois[n:]), rel=1e-9)
    assert r.p_abandon == pytest.approx(sum((k - n) * p for k, p in enumerate(pois) if k > n)
                                        / aht / rate, rel=1e-9)  # fmt: skip
    # callers who never give up: Erlang C, service level included (the published example)
    r = erlang.erlang_a(14, 100 / 1800, 180, 1e12, 20)
    assert r.service_level == pytest.approx(erlang.erlang_c_service_level(14, 10, 180, 20))
    assert r.p_wait == pytest.approx(erlang.erlang_c(14, 10), rel=1e-6)


def test_erlang_a_needs_fewer_seats_than_c_and_meets_its_targets():
    rate, aht, patience = 0.5, 180.0, 60.0  # 1,800 calls an hour, 90 erlangs
    n_c = erlang.erlang_c_agents(rate, aht, 15, 0.9)
    n_a = erlang.erlang_a_agents(rate, aht, patience, 15, 0.9, 0.03)
    assert n_a <= n_c
    at = erlang.erlang_a(n_a, rate, aht, patience, 15)
    below = erlang.erlang_a(n_a - 1, rate, aht, patience, 15)
    assert at.service_level >= 0.9 and at.p_abandon <= 0.03
    assert below.service_level < 0.9 or below.p_abandon > 0.03


def test_staffing_from_the_store(service: ReportService):
    s = service.staffing(date(2025, 3, 3), interval=30)
    rows = {(r.slot, r.zone): r for r in s.rows}
    eight = rows[("08:00", "general")]  # A1 A2 A3
    assert eight.offered == 3 and eight.per_hour == pytest.approx(6)
    g = s.zones["general"]
    # general: handled A1 A2 A4 A8, talk 120+100+60+1200 + wrap-up 5+10+5+5
    assert g.aht == pytest.approx((1480 + 25) / 4)
    # in the queue 5+20+2+10+40+30 s, two gave up there (A3, A9; A11 during the notice)
    assert g.patience == pytest.approx(107 / 2)
    assert eight.needed_c >= eight.needed_a >= 1
    # G01 from 07:55 and G02 from 08:00: both logged in the whole half hour, and G02 was
    # free or on a call all of it while G01 was too
    assert eight.logged_in == pytest.approx(2.0) and eight.staffed == pytest.approx(2.0)
    half = rows[("08:30", "general")]  # G02 paused 08:30-08:45
    assert half.logged_in == pytest.approx(2.0) and half.staffed == pytest.approx(1.5)
    assert ("09:00", "trunk:tax12366") not in rows  # the sub-centre's own seats answer those
    assert rows[("03:00", "general")].needed_a == 0


def test_forecast_from_the_same_weekday(service: ReportService):
    f = service.forecast(date(2025, 3, 10), weeks=2)  # two Mondays back: the 3rd and 24 Feb
    assert f.based_on == [date(2025, 3, 3), date(2025, 2, 24)]
    rows = {(r.slot, r.zone): r for r in f.rows}
    assert rows[("08:00", "general")].offered == pytest.approx(3 / 2)

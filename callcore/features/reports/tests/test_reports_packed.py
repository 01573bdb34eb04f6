"""Packed sums: bytes and back, and thirty days added up as arrays give exactly what
adding the days' `Acc`s one by one gives."""

from __future__ import annotations

import random

from callcore.features.reports.model import Acc
from callcore.features.reports.packed import Packed, merge


def day(rnd: random.Random) -> dict[tuple, Acc]:
    out = {}
    for key in rnd.sample([(b, r) for b in range(40) for r in ("q-general", "q-hrss", "")], 30):
        acc = out[key] = Acc()
        for name in rnd.sample(["offered", "answered", "wait_ms", "wrap_ms"], 3):
            acc.counters[name] = rnd.randrange(0, 10**9)
        for _ in range(rnd.randrange(0, 6)):
            acc.wait_hist[rnd.randrange(0, 90)] += rnd.randrange(1, 50)
            acc.reach_hist[rnd.randrange(0, 90)] += 1
    return out


def test_round_trip_and_merge_agree_with_accs():
    rnd = random.Random(5)
    days = [day(rnd) for _ in range(30)]
    expected: dict[tuple, Acc] = {}
    for d in days:
        for k, acc in d.items():
            expected.setdefault(k, Acc()).merge(acc)
    got = merge([Packed.from_bytes(Packed.of(d).to_bytes()) for d in days])
    assert set(got) == set(expected)
    for k, acc in expected.items():
        g = got[k]
        assert {n: v for n, v in g.counters.items() if v} == {
            n: v for n, v in acc.counters.items() if v
        }
        assert g.wait_hist == acc.wait_hist and g.reach_hist == acc.reach_hist


def test_empty():
    assert merge([Packed.from_bytes(Packed.of({}).to_bytes())]) == {}
    one = {("x",): Acc()}
    assert list(merge([Packed.of(one)])) == [("x",)]

"""The load harness's own arithmetic: figures the benchmarks report must be right."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callcore.bench import peak_concurrency
from callcore.sim.sipp import CallResult

spans = st.lists(st.tuples(st.integers(0, 100), st.integers(0, 50)), max_size=30)


@given(spans)
def test_peak_concurrency_is_the_most_calls_up_at_any_moment(pairs):
    results = [CallResult(f"c{i}", "12345", invite_tick=a, end_tick=a + d)
               for i, (a, d) in enumerate(pairs)]
    results.append(CallResult("never-sent", "12345"))  # no ticks: not counted
    brute = max((sum(a <= t < a + d for a, d in pairs) for t in range(0, 151)), default=0)
    assert peak_concurrency(results) == brute

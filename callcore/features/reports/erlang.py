"""Erlang C (M/M/n) and Erlang A (Palm's M/M/n+M, callers who give up) for staffing.

Rates are per second, times in seconds. Erlang C assumes callers wait for ever; Erlang A
gives each caller an exponential patience (mean `patience`) and so predicts abandons too.
Why these are written here rather than taken from `pyworkforce`: docs/decisions/reports.md.

Erlang A is computed exactly from its birth-and-death steady state (Palm 1946; Garnett,
Mandelbaum & Reiman 2002): the probability of waiting and of abandoning in closed form
(`erlang_a`), and the share of callers answered within t by following an arriving caller
through the queue ahead of it (uniformisation of that pure-death chain). Nothing is
approximated beyond truncating the queue where its probability is below 1e-16 of the peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_TAIL = 37.0  # log(1e16): queue states this much less likely than the likeliest are dropped


def erlang_b(n: int, a: float) -> float:
    """Blocking probability of n servers offered a erlangs (stable recursion)."""
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(n: int, a: float) -> float:
    """Probability an arriving caller waits (all n busy); 1 when n <= a (no steady state)."""
    if a <= 0:
        return 0.0
    if n <= a:
        return 1.0
    b = erlang_b(n, a)
    return n * b / (n - a * (1 - b))


def erlang_c_service_level(n: int, a: float, aht: float, t: float) -> float:
    """Share of callers answered within t seconds: 1 - C e^{-(n - a) t / aht}."""
    if a <= 0:
        return 1.0
    if n <= a:
        return 0.0
    return 1.0 - erlang_c(n, a) * math.exp(-(n - a) * t / aht)


def erlang_c_asa(n: int, a: float, aht: float) -> float:
    """Average speed of answer (mean wait over all callers)."""
    if n <= a:
        return math.inf
    return erlang_c(n, a) * aht / (n - a)


def erlang_c_agents(
    rate: float, aht: float, t: float, target: float, max_occupancy: float = 1.0
) -> int:
    """The fewest seats that answer `target` of callers within t seconds (and keep the
    occupancy a / n at most `max_occupancy`)."""
    a = rate * aht
    if a <= 0:
        return 0
    n = max(1, math.floor(a) + 1)
    while erlang_c_service_level(n, a, aht, t) < target or a / n > max_occupancy:
        n += 1
    return n


@dataclass(frozen=True)
class ErlangA:
    """What Erlang A predicts for n seats."""

    n: int
    p_wait: float  # an arriving caller finds all seats busy
    p_abandon: float  # share of callers who give up
    service_level: float  # share of callers answered within t (of all callers)
    mean_wait: float  # mean time in queue, every caller (answered or not)
    occupancy: float  # busy seats / n


def _log_weights(n: int, rate: float, aht: float, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """log of unnormalised steady-state weights: k busy seats (k < n), and n busy with j
    callers waiting (j >= 0), truncated where negligible."""
    a = rate * aht
    mu_n = n / aht
    k = np.arange(n)
    log_a = math.log(a)
    low = k * log_a - np.array([math.lgamma(i + 1) for i in k])
    top = n * log_a - math.lgamma(n + 1)
    q = [top]
    j = 0
    peak = max(top, low.max() if n else top)
    while True:
        j += 1
        nxt = q[-1] + math.log(rate / (mu_n + j * theta))
        peak = max(peak, nxt)
        q.append(nxt)
        if nxt < peak - _TAIL and rate < mu_n + j * theta:
            break
        if j > 10_000_000:  # pragma: no cover - theta > 0 bounds the queue
            raise ValueError("the queue does not settle")
    return low, np.array(q)


def _served_within(n: int, aht: float, theta: float, mass: np.ndarray, t: float) -> float:
    """Mass of arriving callers served within t, given `mass[j]` = probability of arriving
    to find j callers waiting ahead: the caller moves up at rate n/aht + i*theta with i
    ahead (service or abandons ahead of it) and gives up at rate theta itself."""
    if t <= 0:
        return 0.0
    size = mass.size
    i = np.arange(size)
    advance = n / aht + i * theta
    lam = n / aht + size * theta  # uniformisation rate: at least every state's total rate
    stay = 1.0 - (advance + theta) / lam
    move = advance / lam
    u = mass.astype(np.float64).copy()
    x = lam * t
    served = 0.0
    total = 0.0
    weight_log = -x
    cum_p = 0.0
    k = 0
    while True:
        p = math.exp(weight_log)
        total += p * served
        cum_p += p
        if cum_p > 1 - 1e-14 or (k > x and p < 1e-18):
            break
        served += u[0] * move[0]
        shifted = np.empty_like(u)
        shifted[:-1] = u[1:] * move[1:]
        shifted[-1] = 0.0
        u = u * stay + shifted
        k += 1
        weight_log += math.log(x) - math.log(k)
    return total + (1 - cum_p) * served


def erlang_a(n: int, rate: float, aht: float, patience: float | None, t: float) -> ErlangA:
    """Erlang A for n seats, `rate` calls per second, mean handle time `aht`, mean patience
    `patience` (None or inf: callers never give up, Erlang C), service level within t."""
    if rate <= 0:
        return ErlangA(n, 0.0, 0.0, 1.0, 0.0, 0.0)
    a = rate * aht
    theta = 0.0 if patience is None or math.isinf(patience) else 1.0 / patience
    if theta == 0.0:
        if n <= a:
            return ErlangA(n, 1.0, 0.0, 0.0, math.inf, 1.0)
        return ErlangA(
            n,
            erlang_c(n, a),
            0.0,
            erlang_c_service_level(n, a, aht, t),
            erlang_c_asa(n, a, aht),
            a / n,
        )
    if n == 0:
        return ErlangA(0, 1.0, 1.0, 0.0, patience or 0.0, 0.0)
    low, queue = _log_weights(n, rate, aht, theta)
    shift = max(low.max() if low.size else -math.inf, queue.max())
    p_low = np.exp(low - shift)
    p_queue = np.exp(queue - shift)
    norm = p_low.sum() + p_queue.sum()
    p_low, p_queue = p_low / norm, p_queue / norm
    waiting = np.arange(queue.size)
    mean_q = float((waiting * p_queue).sum())
    busy = float((np.arange(n) * p_low).sum() + n * p_queue.sum())
    sl = float(p_low.sum()) + _served_within(n, aht, theta, p_queue, t)
    return ErlangA(
        n=n,
        p_wait=float(p_queue.sum()),
        p_abandon=theta * mean_q / rate,
        service_level=min(sl, 1.0),
        mean_wait=mean_q / rate,
        occupancy=busy / n,
    )


def erlang_a_agents(
    rate: float,
    aht: float,
    patience: float | None,
    t: float,
    sl_target: float,
    abandon_target: float,
) -> int:
    """The fewest seats for which Erlang A answers `sl_target` of callers within t and at
    most `abandon_target` give up (both improve with every seat: doubling, then halving)."""
    if rate <= 0:
        return 0

    def ok(n: int) -> bool:
        r = erlang_a(n, rate, aht, patience, t)
        return r.service_level >= sl_target and r.p_abandon <= abandon_target

    hi = max(1, math.ceil(rate * aht))
    while not ok(hi):
        hi *= 2
    lo = 0  # not enough (n = 0 answers nobody)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi

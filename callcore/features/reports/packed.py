"""A dimension's sums packed as arrays: how a kept day is stored, and how thirty of them
are added up without a Python object per key and day (docs/decisions/reports.md,
"Rollups"). Counters are whole numbers (milliseconds, calls), so sums stay exact.

Bytes: a 4-byte length, a JSON header (the keys, the counter names, the histogram
lengths), then little-endian int64 arrays: the counters (keys × names) and the two
histograms as (key index, whole seconds, calls) triples.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .model import Acc

DbKey = tuple[Any, ...]
_I8 = np.dtype("<i8")


@dataclass
class Packed:
    keys: list[DbKey]
    names: list[str]
    counters: np.ndarray  # int64, one row per key, one column per name
    wait: np.ndarray  # int64 (n, 3): key index, whole seconds, answered calls
    reach: np.ndarray

    @classmethod
    def of(cls, accs: dict[DbKey, Acc]) -> Packed:
        keys = list(accs)
        names = sorted({n for a in accs.values() for n in a.counters})
        counters = np.array(
            [[int(a.counters.get(n, 0)) for n in names] for a in accs.values()], dtype=_I8
        ).reshape(len(keys), len(names))
        return cls(keys, names, counters, _triples(accs, "wait_hist"), _triples(accs, "reach_hist"))

    def to_bytes(self) -> bytes:
        head = json.dumps(
            {
                "keys": [list(k) for k in self.keys],
                "names": self.names,
                "wait": len(self.wait),
                "reach": len(self.reach),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        arrays = (a.astype(_I8).tobytes() for a in (self.counters, self.wait, self.reach))
        return len(head).to_bytes(4, "little") + head + b"".join(arrays)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Packed:
        n = int.from_bytes(blob[:4], "little")
        head = json.loads(blob[4 : 4 + n])
        keys = [tuple(k) for k in head["keys"]]
        flat = np.frombuffer(blob[4 + n :], dtype=_I8)
        size = len(keys) * len(head["names"])
        counters = flat[:size].reshape(len(keys), len(head["names"]))
        wait = flat[size : size + 3 * head["wait"]].reshape(-1, 3)
        reach = flat[size + 3 * head["wait"] :].reshape(-1, 3)
        return cls(keys, head["names"], counters, wait, reach)


def _triples(accs: dict[DbKey, Acc], hist: str) -> np.ndarray:
    rows = [(i, s, n) for i, a in enumerate(accs.values()) for s, n in getattr(a, hist).items()]
    return np.array(rows, dtype=_I8).reshape(-1, 3)


def merge(parts: Sequence[Packed]) -> dict[DbKey, Acc]:
    """The parts added up, key by key, as one `Acc` per key."""
    index: dict[Hashable, int] = {}
    for p in parts:
        for k in p.keys:
            index.setdefault(k, len(index))
    names = sorted({n for p in parts for n in p.names})
    col = {n: i for i, n in enumerate(names)}
    total = np.zeros((len(index), len(names)), dtype=_I8)
    waits, reaches = [], []
    for p in parts:
        ids = np.array([index[k] for k in p.keys], dtype=np.int64)
        cols = np.array([col[n] for n in p.names], dtype=np.int64)
        if len(ids) and len(cols):
            total[np.ix_(ids, cols)] += p.counters
        waits.append(_relabel(p.wait, ids))
        reaches.append(_relabel(p.reach, ids))
    out = {k: Acc() for k in index}
    accs = list(out.values())
    for i, row in enumerate(total.tolist()):
        accs[i].counters.update(dict(zip(names, row, strict=True)))
    _fill(accs, waits, "wait_hist")
    _fill(accs, reaches, "reach_hist")
    return out


def _relabel(triples: np.ndarray, ids: np.ndarray) -> np.ndarray:
    if not len(triples):
        return triples.reshape(-1, 3)
    out = triples.copy()
    out[:, 0] = ids[triples[:, 0]]
    return out


def _fill(accs: list[Acc], parts: list[np.ndarray], hist: str) -> None:
    """Each key's histogram: equal (key, seconds) pairs of all parts summed."""
    rows = [p for p in parts if len(p)]
    if not rows:
        return
    t = np.concatenate(rows)
    width = int(t[:, 1].max()) + 1  # (key, seconds) as one number: a 1-d unique is fast
    pairs, inverse = np.unique(t[:, 0] * width + t[:, 1], return_inverse=True)
    calls = np.zeros(len(pairs), dtype=_I8)
    np.add.at(calls, inverse.ravel(), t[:, 2])
    bounds = np.searchsorted(pairs // width, np.arange(len(accs) + 1))
    secs, counts = (pairs % width).tolist(), calls.tolist()
    for i, acc in enumerate(accs):
        a, b = bounds[i], bounds[i + 1]
        if b > a:
            getattr(acc, hist).update(dict(zip(secs[a:b], counts[a:b], strict=True)))

"""TLB levels from a pointer-chase curve: plateaus by changepoint segmentation, reach by 50 %-miss crossing.

Input: working sets ``pages`` (ascending, one cache line touched per page) and ``extra_ns``, the
chase's ns/access minus the cache-only chase's ns/access for the same number of lines (so only the
address-translation cost is left). The curve is first passed through a running median of 3, which
removes one-point spikes (interference) and keeps steps and monotone ramps. Then three steps:

1. **Plateaus.** Optimal partitioning (Jackson et al., 2005; dynamic programming) of
   ``z = ln(1 ns + max(extra_ns, 0))`` into constant segments, minimising
   ``SSE + beta * segments`` with ``beta = 3 sigma^2 ln(n)``; ``sigma`` is the noise of ``z``, estimated
   robustly from successive differences (``1.4826 * MAD(diff z) / sqrt 2``, floored at 0.05).
   Segments of at least ``max(3, points per octave)`` points are plateaus; neighbouring plateaus
   within 30 % (in ``1 ns + extra``) are merged; shorter segments are transitions between plateaus.
2. **Reach.** Between a plateau at ``a`` ns and the next one, ``extra = a + miss * (b - a)``, so the
   working set where half the accesses miss the lower level is where ``(extra - a) / (b - a)`` crosses
   0.5, interpolated linearly in ``log2(pages)``. ``a`` is the median of the lower plateau's 3 points
   nearest the step; as a walk grows dearer with the working set, ``b`` is the upper plateau's
   least-squares trend in ``log2(pages)`` (slope clamped at >= 0), read at each transition point.
   One line per page means one TLB entry per page, so that crossing is the level's reach in entries;
   times the page size, in bytes. For a fully associative LRU
   level the step is sharp and the crossing is its capacity; for a set-associative level with hashed
   sets the rise is gradual and about half the lines miss near capacity.
3. **Naming.** The first transition (from the ~0 ns plateau) is the L1 dTLB; the next one the L2
   STLB; the plateau above the STLB is the page-walk cost; later transitions are the page walk itself
   outgrowing its caches (reported as walk regimes, not TLB levels).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from lowprof.errors import InputError

__all__ = ["Plateau", "Transition", "median3", "segment", "analyse"]


@dataclass(frozen=True)
class Plateau:
    """A run of sweep points at one translation cost: indices [first, last], median extra ns."""

    first: int
    last: int
    extra_ns: float


@dataclass(frozen=True)
class Transition:
    """A step between two plateaus; ``reach_pages`` is the 50 %-miss crossing (entries)."""

    below: Plateau
    above: Plateau
    reach_pages: float
    last_pages_below: int  # the largest sweep point still on the lower plateau

    def to_json(self) -> dict:
        return {"reach_pages": self.reach_pages, "last_pages_below": self.last_pages_below,
                "extra_ns_below": self.below.extra_ns, "extra_ns_above": self.above.extra_ns}


def median3(y: np.ndarray) -> np.ndarray:
    """Running median of 3 (ends kept): removes one-point spikes, keeps steps and monotone ramps."""
    out = y.astype(float).copy()
    if len(y) >= 3:
        out[1:-1] = np.median(np.stack([y[:-2], y[1:-1], y[2:]]), axis=0)
    return out


def _noise_sigma(z: np.ndarray) -> float:
    d = np.diff(z)
    if d.size < 2:
        return 0.05
    mad = float(np.median(np.abs(d - np.median(d))))
    return max(1.4826 * mad / math.sqrt(2), 0.05)


def segment(z: np.ndarray, beta: float) -> list[tuple[int, int]]:
    """Optimal partitioning of ``z`` into constant pieces, cost ``SSE + beta`` per piece: [(first, last)]."""
    n = len(z)
    s1 = np.concatenate([[0.0], np.cumsum(z)])
    s2 = np.concatenate([[0.0], np.cumsum(z * z)])

    def sse(i: int, j: int) -> float:  # points i..j-1
        m = j - i
        return float(s2[j] - s2[i] - (s1[j] - s1[i]) ** 2 / m)

    best = [0.0] + [math.inf] * n
    prev = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            c = best[i] + sse(i, j) + beta
            if c < best[j]:
                best[j], prev[j] = c, i
    pieces, j = [], n
    while j > 0:
        pieces.append((prev[j], j - 1))
        j = prev[j]
    return pieces[::-1]


def _plateaus(pages: np.ndarray, extra: np.ndarray) -> list[Plateau]:
    z = np.log(1.0 + np.clip(extra, 0, None))
    beta = 3 * _noise_sigma(z) ** 2 * math.log(max(len(z), 2))
    per_octave = (len(pages) - 1) / max(math.log2(pages[-1] / pages[0]), 1e-9)
    min_points = max(3, round(per_octave))
    out: list[Plateau] = []
    for first, last in segment(z, beta):
        if last - first + 1 < min_points:
            continue
        level = float(np.median(extra[first:last + 1]))
        if out and (1 + max(level, 0)) / (1 + max(out[-1].extra_ns, 0)) < 1.3:
            merged = (out[-1].first, last)
            out[-1] = Plateau(*merged, float(np.median(extra[merged[0]:merged[1] + 1])))
        else:
            out.append(Plateau(first, last, level))
    return out


def _crossing(pages: np.ndarray, extra: np.ndarray, lo: Plateau, hi: Plateau) -> Transition:
    """Where half the accesses miss the lower level: ``(extra - a) / (b(x) - a)`` crosses 0.5.

    ``a`` is the median of the lower plateau's 3 points nearest the step. A walk grows dearer as
    the working set grows, so the upper level is a trend, ``b(x) = c0 + c1 x`` (``x = log2 pages``,
    least squares over the upper plateau, ``c1 >= 0``), read at each point of the transition.
    """
    x = np.log2(pages.astype(float))
    a = float(np.median(extra[max(lo.first, lo.last - 2):lo.last + 1]))
    xs, ys = x[hi.first:hi.last + 1], extra[hi.first:hi.last + 1]
    c1 = max(float(np.polyfit(xs, ys, 1)[0]), 0.0) if len(xs) >= 3 else 0.0
    c0 = float(np.median(ys - c1 * xs))

    def miss(i: int) -> float:
        return (extra[i] - a) / max(c0 + c1 * x[i] - a, 1e-9)

    b_at_step = float(c0 + c1 * x[hi.first])
    lo, hi = Plateau(lo.first, lo.last, a), Plateau(hi.first, hi.last, b_at_step)
    reach = float(pages[hi.first])
    last_below = int(pages[lo.last])
    for i in range(lo.last, hi.first):  # first upward crossing after the lower plateau ends
        m0, m1 = miss(i), miss(i + 1)
        if m0 <= 0.5 < m1:
            f = (0.5 - m0) / (m1 - m0)
            reach = float(2 ** (x[i] + f * (x[i + 1] - x[i])))
            last_below = int(pages[i])
            break
    return Transition(lo, hi, reach, last_below)


def analyse(pages, extra_ns) -> dict:
    """Plateaus and transitions of one curve, named as L1 dTLB / L2 STLB / walk regimes.

    Returns ``{"plateaus": [...], "l1": Transition|None, "l2": Transition|None,
    "walk_regimes": [Transition...], "walk_extra_ns": float|None}``; ``walk_extra_ns`` is the
    median extra ns/access on the plateau just beyond the STLB's reach.
    """
    pages = np.asarray(pages)
    extra = np.asarray(extra_ns, dtype=float)
    if len(pages) != len(extra) or len(pages) < 6:
        raise InputError(f"need >= 6 points of equal length, got {len(pages)} pages and {len(extra)} values")
    extra = median3(extra)
    plateaus = _plateaus(pages, extra)
    steps = [_crossing(pages, extra, a, b) for a, b in zip(plateaus, plateaus[1:])]
    l1 = steps[0] if steps else None
    l2 = steps[1] if len(steps) > 1 else None
    return {
        "plateaus": [asdict(p) | {"pages_first": int(pages[p.first]), "pages_last": int(pages[p.last])}
                     for p in plateaus],
        "l1": l1,
        "l2": l2,
        "walk_regimes": steps[2:],
        "walk_extra_ns": l2.above.extra_ns if l2 else None,
    }

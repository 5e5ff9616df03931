"""The changepoint analysis on curves simulated from a TLB model with known sizes (no machine needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lowprof.native.tlb import sweep_grid
from lowprof.native.tlb_curve import analyse, segment


def _poisson_sf(k: int, lam: float) -> float:
    """P(X >= k), X ~ Poisson(lam)."""
    term, cdf = math.exp(-lam), 0.0
    for i in range(k):
        cdf += term
        term *= lam / (i + 1)
    return max(0.0, 1.0 - cdf)


def simulate(pages, l1: int, l2: int, ways: int, hit_ns: float, walk_ns: float, noise: float, seed: int):
    """extra ns per access: fully associative LRU L1 (sharp step) and a hashed ``ways``-way L2 (a line
    misses when its set holds more than ``ways`` lines), a walk that grows dearer with the working set,
    multiplicative noise, and a few interference spikes."""
    rng = np.random.default_rng(seed)
    out = []
    for n in pages:
        m1 = 1.0 if n > l1 else 0.0
        m2 = _poisson_sf(ways, ways * n / l2) if n > l1 else 0.0
        walk = walk_ns * (1 + 0.15 * max(0.0, math.log2(n / l2)))
        out.append(m1 * hit_ns + m2 * walk)
    y = np.array(out) * rng.lognormal(0, noise, len(out)) + rng.normal(0, 0.02, len(out))
    spikes = rng.choice(len(y), 2, replace=False)
    y[spikes] *= 1.4
    return y


@pytest.mark.parametrize("l1, l2, ways, hit_ns, walk_ns", [
    (64, 2048, 8, 2.2, 20.0),    # AMD Zen 3
    (64, 1536, 12, 3.0, 30.0),   # Intel Skylake
    (96, 3072, 12, 2.5, 25.0),   # a larger STLB
])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reach_recovered_within_one_step(l1, l2, ways, hit_ns, walk_ns, seed):
    pages = np.array(sweep_grid(4, 65536, 4))
    y = simulate(pages, l1, l2, ways, hit_ns, walk_ns, noise=0.03, seed=seed)
    res = analyse(pages, y)
    step = 0.25  # one sweep step: the interpolated 50 %-miss crossing must land within it
    assert abs(math.log2(res["l1"].reach_pages / l1)) <= step
    assert abs(math.log2(res["l2"].reach_pages / l2)) <= step
    assert res["l2"].last_pages_below <= res["l2"].reach_pages  # the grid point below the crossing
    assert res["l1"].above.extra_ns == pytest.approx(hit_ns, rel=0.2)
    assert res["walk_extra_ns"] > 3 * hit_ns


def test_no_stlb_step_means_no_l2():
    """A curve with one step (as 2 MiB pages under nested paging show here) names only the L1 level."""
    pages = np.array(sweep_grid(2, 512, 4))
    y = np.where(pages > 64, 19.0, 0.0) + np.random.default_rng(0).normal(0, 0.05, len(pages))
    res = analyse(pages, y)
    assert res["l1"].last_pages_below == 64 and res["l2"] is None and res["walk_extra_ns"] is None


def test_segment_finds_exact_steps():
    z = np.array([0.0] * 5 + [1.0] * 5 + [3.0] * 5)
    assert segment(z, beta=0.1) == [(0, 4), (5, 9), (10, 14)]


def test_too_short_curve_is_refused():
    with pytest.raises(ValueError, match="need >= 6 points"):
        analyse([1, 2, 3], [0.0, 0.0, 1.0])


def test_sweep_grid_is_geometric():
    g = sweep_grid(4, 65536, 4)
    assert g[0] == 4 and g[-1] == 65536 and 2048 in g and 64 in g
    ratios = np.array(g[1:]) / np.array(g[:-1])
    assert np.allclose(ratios, 2 ** 0.25, rtol=0.15)

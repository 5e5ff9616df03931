"""Levels of a latency-vs-footprint curve: plateaus (L1, L2 near, L2 far, DRAM) and the knees between.

The median latency per footprint is segmented on a log scale with the optimal-partitioning changepoint
method lowprof's TLB sweep uses (:func:`lowprof.native.tlb_curve.segment`); segments of >= ``min_points``
points are plateaus, neighbours within 20 % are merged. A knee is the footprint where the curve first
climbs half-way from one plateau to the next (interpolated in log2 footprint): near a cache's capacity.
Plateaus are named in order: L1, then L2 (split into near/far when two plateaus sit between L1 and
DRAM, as gpu-benches reports for H100), then DRAM.
"""

from __future__ import annotations

import math

import numpy as np

from lowprof.native.tlb_curve import median3, segment

__all__ = ["curve_levels", "level_names"]


def level_names(count: int) -> list[str]:
    """Names for ``count`` plateaus in footprint order."""
    return {1: ["L1"], 2: ["L1", "DRAM"], 3: ["L1", "L2", "DRAM"], 4: ["L1", "L2 near", "L2 far", "DRAM"]}.get(
        count, ["L1"] + [f"level {k}" for k in range(2, count)] + ["DRAM"])


def _plateaus(y: np.ndarray, min_points: int) -> list[list[int]]:
    z = np.log(y)
    d = np.diff(z)
    sigma = max(1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2), 0.02) if d.size else 0.02
    segs = segment(z, 3 * sigma * sigma * math.log(max(len(z), 2)))
    plats = [[a, b] for a, b in segs if b - a + 1 >= min_points]
    merged: list[list[int]] = []
    for p in plats:
        if merged and abs(math.log(np.median(y[p[0]:p[1] + 1]) / np.median(y[merged[-1][0]:merged[-1][1] + 1]))) < math.log(1.2):
            merged[-1][1] = p[1]
        else:
            merged.append(p)
    return merged


def curve_levels(footprint_bytes, latency, min_points: int = 2) -> dict:
    """Plateaus and knees of a latency curve (any latency unit; footprints ascending, in B).

    Returns ``{"levels": [{"name", "latency", "first_bytes", "last_bytes"}], "knees": [{"between",
    "knee_bytes"}]}``.
    """
    x = np.asarray(footprint_bytes, dtype=float)
    y = median3(np.asarray(latency, dtype=float))
    plats = _plateaus(y, min_points)
    names = level_names(len(plats))
    levels = [{"name": n, "latency": float(np.median(y[a:b + 1])), "first_bytes": int(x[a]), "last_bytes": int(x[b])}
              for n, (a, b) in zip(names, plats)]
    knees = []
    for (lo, hi), (a, b) in zip(zip(levels, levels[1:]), zip(plats, plats[1:])):
        half = (lo["latency"] + hi["latency"]) / 2
        i = next(k for k in range(a[1], b[0] + 1) if y[k] >= half)
        if i == 0 or y[i] == y[i - 1]:
            knee = x[i]
        else:
            f = (half - y[i - 1]) / (y[i] - y[i - 1])
            knee = 2 ** (math.log2(x[i - 1]) + f * (math.log2(x[i]) - math.log2(x[i - 1])))
        knees.append({"between": f"{lo['name']} -> {hi['name']}", "knee_bytes": int(knee)})
    return {"levels": levels, "knees": knees}

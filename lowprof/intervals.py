"""Intervals on one time axis (int64 ns, or any unit): their union, and which one contains a time.

Used by the importers (a launch's step and op: the innermost annotation around it) and by analysis (GPU
busy time: the union of activity intervals). numpy is imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["union", "segment_firsts", "innermost_containing"]


def union(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint segments covering the union of the intervals [start, end), sorted by start; an interval
    ending before it starts counts as the instant at its start. Empty in, empty out."""
    import numpy as np

    if not len(starts):
        return starts, ends
    o = np.argsort(starts, kind="stable")
    s, e = starts[o], np.maximum(ends[o], starts[o])
    first = segment_firsts(s, e)
    return s[first], np.maximum.reduceat(e, first)


def segment_firsts(s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Of intervals sorted by start (``e >= s``): the index of the first interval of each
    disjoint segment of their union (segment k is s[first[k]] to the max of e over its intervals)."""
    import numpy as np

    new = np.ones(len(s), bool)
    new[1:] = s[1:] > np.maximum.accumulate(e)[:-1]
    return np.flatnonzero(new)


def innermost_containing(t: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the last-started interval [start, end] (``starts`` sorted) containing each t, or -1.

    For properly nested intervals the last-started one that contains t is the innermost.
    """
    import numpy as np

    if len(starts) == 0:
        return np.full(len(t), -1)
    i = np.searchsorted(starts, t, side="right") - 1
    ok = (i >= 0) & (ends[np.clip(i, 0, None)] >= t)
    return np.where(ok, i, -1)

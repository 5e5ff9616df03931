"""Pointer-chase lists for the GPU memory-latency sweep: one random cycle through ``n`` slots placed
``stride_bytes`` apart, built on the host, checked, and the footprint grid the sweep walks.

The buffer is an array of 8 B words; slot ``i`` is word ``i * stride_bytes / 8`` and holds the byte offset
of the next slot (the device adds the buffer's base address, so each load returns the next address).
A random permutation read as a cycle (each slot's successor is the next one in the permutation, the last
wraps to the first) is a uniformly random single cycle over all slots, so a chase of ``n`` loads touches every slot once
in an order no stride prefetcher follows (Mei & Chu 2017; gpu-benches' gpu-latency uses the same idea).
"""

from __future__ import annotations

import numpy as np

from lowprof.errors import LowprofError

__all__ = ["build_chase", "walk_chase", "validate_chase", "footprint_grid"]

WORD = 8


def build_chase(slots: int, stride_bytes: int, seed: int = 0) -> np.ndarray:
    """Words (``uint64`` byte offsets) of a buffer of ``slots * stride_bytes`` bytes holding one random
    cycle through all slots. Unused words are 0."""
    if slots < 2:
        raise LowprofError(f"a chase needs at least 2 slots, got {slots}")
    if stride_bytes < WORD or stride_bytes % WORD:
        raise LowprofError(f"stride {stride_bytes} B must be a positive multiple of {WORD} B")
    perm = np.random.default_rng(seed).permutation(slots)
    succ = np.empty(slots, dtype=np.int64)
    succ[perm] = np.roll(perm, -1)  # slot perm[i] -> perm[i + 1]: one cycle through every slot
    words = np.zeros(slots * stride_bytes // WORD, dtype=np.uint64)
    words[np.arange(slots) * (stride_bytes // WORD)] = (succ * stride_bytes).astype(np.uint64)
    return words


def walk_chase(words: np.ndarray, start_offset: int, loads: int) -> np.ndarray:
    """Byte offsets a chase of ``loads`` loads reads from ``start_offset`` (what the kernel does)."""
    out = np.empty(loads, dtype=np.int64)
    off = int(start_offset)
    for k in range(loads):
        out[k] = off
        off = int(words[off // WORD])
    return out


def validate_chase(words: np.ndarray, slots: int, stride_bytes: int) -> None:
    """Raise unless the chase from slot 0 visits every slot exactly once and returns to slot 0."""
    seen = walk_chase(words, 0, slots + 1)
    if seen[-1] != 0:
        raise LowprofError(f"chase does not close after {slots} loads (ends at offset {seen[-1]})")
    body = seen[:-1]
    if len(np.unique(body)) != slots or np.any(body % stride_bytes):
        raise LowprofError(f"chase visits {len(np.unique(body))} distinct slots of {slots}, or off-stride ones")


def footprint_grid(min_bytes: int, max_bytes: int, per_octave: int = 2) -> list[int]:
    """Footprints from ``min_bytes`` to ``max_bytes``, ``per_octave`` points per doubling, 1 KiB-aligned."""
    if not 0 < min_bytes <= max_bytes:
        raise LowprofError(f"footprint range {min_bytes}..{max_bytes} B is empty")
    n = int(np.floor(np.log2(max_bytes / min_bytes) * per_octave + 1e-9)) + 1
    sizes = {int(round(min_bytes * 2 ** (k / per_octave) / 1024)) * 1024 for k in range(n)}
    return sorted(s for s in sizes if s > 0)

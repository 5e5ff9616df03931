"""Kernel logic under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, in a subprocess so the flag is set
before numba.cuda loads): a line-by-line numba port of kernels/smem.cu's shared-memory chase records the
word every lane reads at every step; at each step the lanes' bank conflict must be gcd(stride, 32)-way,
including after the chase wraps around the 8192-word array. (The port mirrors smem.cu; keep them equal.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lowprof.microbench.benchmarks import smem

pytest.importorskip("numba")

_SCRIPT = r"""
import json, sys
import numpy as np
from numba import cuda

WORDS, STEPS = 8192, 40

@cuda.jit
def smem_chase_trace(trace, stride):
    words = cuda.shared.array(8192, dtype=np.uint32)
    j = cuda.threadIdx.x
    while j < WORDS:                       # words[j] = 4 * ((j + 32 * stride) % n): byte offsets
        words[j] = 4 * ((j + 32 * stride) % WORDS)
        j += cuda.blockDim.x
    cuda.syncthreads()
    t = cuda.threadIdx.x
    off = 4 * ((t * stride) % WORDS)
    for s in range(STEPS):
        trace[s, t] = off // 4             # the word this lane reads at step s
        off = words[off // 4]

out = {}
for stride in [int(a) for a in sys.argv[1:]]:
    trace = np.zeros((STEPS, 32), dtype=np.int64)
    smem_chase_trace[1, 32](trace, stride)
    out[stride] = trace.tolist()
print(json.dumps(out))
"""

STRIDES = (0, 1, 2, 3, 4, 6, 8, 16, 31, 32)


@pytest.fixture(scope="module")
def traces():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    p = subprocess.run([sys.executable, "-c", _SCRIPT, *map(str, STRIDES)], capture_output=True, text=True,
                       env=env, timeout=240)
    assert p.returncode == 0, p.stderr[-2000:]
    return {int(k): v for k, v in json.loads(p.stdout).items()}


def _ways(words_read: list[int]) -> int:
    per_bank: dict[int, set[int]] = {}
    for w in words_read:
        per_bank.setdefault(w % 32, set()).add(w)
    return max(len(v) for v in per_bank.values())


def test_every_step_of_the_smem_chase_has_the_intended_conflict(traces):
    for stride, trace in traces.items():
        want = smem.expected_ways(stride)
        for step, words in enumerate(trace):
            assert _ways(words) == want, f"stride {stride} step {step}: lanes read {words[:8]}..."


def test_the_chase_moves_32_strides_per_step_and_wraps(traces):
    t = traces[32]
    assert t[1][0] == 32 * 32 and t[0][1] == 32
    assert all(0 <= w < smem.SMEM_WORDS for step in t for w in step)
    assert len({tuple(s) for s in t}) == smem.SMEM_WORDS // (32 * 32)  # wraps after 8192 / 1024 steps

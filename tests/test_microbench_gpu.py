"""The GPU suite end to end (``--quick`` sizes): runs only where CuPy can launch a kernel."""

from __future__ import annotations

import pytest

import lowprof
from lowprof.microbench.gpu import gpu_unavailable_reason
from lowprof.microbench.registry import BENCHMARKS

_reason = gpu_unavailable_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_reason is not None, reason=f"needs a CUDA GPU: {_reason}")]


def test_quick_suite_records_every_benchmark(tmp_path):
    from lowprof.microbench.runner import record_gpu

    path, facts = record_gpu(tmp_path / "run", list(BENCHMARKS), quick=True)
    failed = {n: e.get("error") for n, e in facts["benchmarks"].items() if e["status"] != "ok"}
    assert not failed
    df = lowprof.load(path)["bench_results"]
    assert set(df.benchmark) == set(BENCHMARKS)
    lat = df[(df.benchmark == "instr") & (df.metric == "latency FFMA")].value.iloc[0]
    assert 2 <= lat <= 12  # a dependent FFMA takes a few cycles on every NVIDIA GPU since Volta
    ways = df[(df.benchmark == "smem") & (df.metric == "cycles per access")]
    assert ways.value.iloc[-1] > ways.value.iloc[1]  # stride 32 (32-way) costs more than stride 1

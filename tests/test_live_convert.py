"""The CuPy/CUPTI agent's segments converted into ``launches``: records CUPTI could not complete, and API
records delivered in another segment than their kernel (CONSTRUCTED records in the agent's file format)."""

from __future__ import annotations

import json

import pytest

from lowprof.clock import RunClock
from lowprof.tracers.live_convert import convert_cupti, convert_dir

ORIGIN = 5_000_000_000          # run origin, CLOCK_MONOTONIC ns
OFFSETS = (7_000_000, 7_000_250)  # CUPTI - MONOTONIC at each segment's start (250 ns of drift between them)


def _api(corr, start, name="cudaLaunchKernel"):
    return {"k": "api", "name": name, "corr": corr, "start": start, "end": start + 4_000, "pid": 11, "tid": 12}


def _kernel(corr, start, dur=20_000):
    return {"k": "kernel", "name": f"k{corr}", "device": 0, "stream": 7, "corr": corr, "start": start,
            "end": start + dur if start else 0, "grid": [1, 1, 1], "block": [32, 1, 1], "regs": 8, "smem": 0}


@pytest.fixture
def kdir(tmp_path):
    """Two segments of a forced-flush run. Segment 0: API calls 1-4, kernels 1-2 complete, kernel 3 still
    running at the flush (start = end = 0: lost), kernel 4 not yet delivered. Segment 1: kernel 4 (its API
    record was in segment 0), then call and kernel 5, and an API record CUPTI could not time."""
    c0, c1 = OFFSETS
    seg0 = [_api(1, c0 + 6_000_000_000), _kernel(1, c0 + 6_000_010_000), _api(2, c0 + 6_000_100_000),
            _kernel(2, c0 + 6_000_110_000), _api(3, c0 + 6_000_200_000), _kernel(3, 0), _api(4, c0 + 6_000_300_000)]
    seg1 = [_kernel(4, c1 + 6_000_310_000), _api(5, c1 + 8_000_000_000), _kernel(5, c1 + 8_000_012_000),
            {"k": "api", "name": "cudaStreamSynchronize", "corr": 6, "start": 0, "end": 0, "pid": 11, "tid": 12}]
    log = []
    for n, (rows, off) in enumerate(zip((seg0, seg1), OFFSETS)):
        name = f"cupti-11-{n:04d}.jsonl"
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
        log.append({"event": "segment", "tracer": "cupti", "segment": n, "file": name, "pid": 11, "why": "timer",
                    "start_monotonic_ns": ORIGIN + n * 2_000_000_000, "end_monotonic_ns": ORIGIN + (n + 1) * 2_000_000_000 + 4e9,
                    "cupti_minus_monotonic_ns": off, "records": len(rows), "export_s": 0.0})
    (tmp_path / "segments.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    return tmp_path


def test_incomplete_records_are_dropped_and_api_records_joined_across_segments(kdir):
    conv = convert_dir(kdir, RunClock(ORIGIN, ORIGIN + 10**18))
    la = conv.launches.set_index("correlation")
    assert sorted(la.index) == [1, 2, 4, 5]  # kernel 3 never had a time
    assert [s["incomplete_gpu_records_dropped"] for s in conv.segments] == [1, 0]
    # kernel 4 came in segment 1, its call in segment 0: each is shifted by its own segment's offset
    assert la.loc[4, "cpu_start_ns"] == 6_000_300_000 - ORIGIN and la.loc[4, "gpu_start_ns"] == 6_000_310_000 - ORIGIN
    assert la.loc[4, "launch_api"] == "cudaLaunchKernel"
    assert (la.gpu_start_ns > la.cpu_start_ns).all() and la.cpu_start_ns.notna().all()
    assert [s["launch_calls_without_gpu_record"] for s in conv.segments] == [1, 0]  # call 3, whose kernel was lost


def test_one_segment_alone_cannot_join_what_came_in_another(kdir):
    alone = convert_cupti(kdir / "cupti-11-0001.jsonl", cupti_minus_monotonic_ns=OFFSETS[1], origin_monotonic_ns=ORIGIN)
    assert alone.set_index("correlation").cpu_start_ns.isna()[4]  # why convert_dir joins over all segments

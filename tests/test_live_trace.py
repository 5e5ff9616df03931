"""`lowprof run --trace kernels` and `lowprof.trace()`: real workloads in real subprocesses, real kills."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

import lowprof
from tests.conftest import lowprof_cmd, requires

pytestmark = [pytest.mark.slow, requires("torch")]

# One OpenMP thread: on small CPU ops an active torch.profiler otherwise stalls ~16 ms per parallel op.
ENV = {"OMP_NUM_THREADS": "1"}
ALEXNET = "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"

# A workload that stamps CLOCK_MONOTONIC around each annotated pass, then runs until killed.
STAMPING_APP = textwrap.dedent("""
    import sys, time
    import torch
    out = open(sys.argv[1], "w")
    x = torch.randn(128, 128)
    i = 0
    while True:
        t0 = time.monotonic_ns()
        with torch.profiler.record_function(f"pass#{i}"):
            for _ in range(20):
                x = torch.tanh(x @ x)
        t1 = time.monotonic_ns()
        out.write(f"pass#{i} {t0} {t1}\\n"); out.flush()
        i += 1
        time.sleep(0.02)
""")


def _record_stamping_app(tmp_path, segment_s: str):
    """Start `lowprof run --trace kernels` on STAMPING_APP; returns (run dir, stamps file, recorder process)."""
    out, stamps, app = tmp_path / "r", tmp_path / "stamps.txt", tmp_path / "app.py"
    app.write_text(STAMPING_APP)
    rec = subprocess.Popen(lowprof_cmd("run", "--trace", "kernels", "--trace-segment", segment_s, "--out", out,
                                       "--", sys.executable, app, stamps),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ | ENV)
    return out, stamps, rec


def test_sigkill_keeps_the_exported_segments_on_the_run_clock(tmp_path):
    out, stamps, rec = _record_stamping_app(tmp_path, segment_s="0.3")
    log = out / "kineto" / "segments.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
        if sum(e["event"] == "segment" for e in lines) >= 2:
            break
        time.sleep(0.1)
    else:
        rec.kill()
        pytest.fail("no two segments exported within 60 s")

    os.kill(lines[0]["pid"], signal.SIGKILL)
    assert rec.wait(timeout=60) == 128 + signal.SIGKILL
    run = lowprof.load(out)
    tr = run.manifest["trace"]
    assert run.manifest["workload"]["signal"] == "SIGKILL"
    assert "SIGKILL" in tr["lost"] and tr["segments"] >= 2
    origin = run.manifest["clock"]["origin_monotonic_ns"]
    printed = {n: (int(a) - origin, int(b) - origin)
               for n, a, b in (ln.split() for ln in stamps.read_text().splitlines())}
    steps = run["steps"][run["steps"].name.isin(printed)]  # the kill may land before the last stamp
    assert len(steps) >= 1
    # Each traced pass lies within the workload's own CLOCK_MONOTONIC stamps around it (50 µs slack:
    # Kineto converts its TSC readings to wall time with a fitted rate).
    for s in steps.itertuples():
        t0, t1 = printed[s.name]
        assert t0 - 50_000 <= s.start_ns <= s.end_ns <= t1 + 50_000, (s, t0, t1)


def test_trace_context_manager_records_the_region(tmp_path):
    import torch

    with lowprof.trace(out=tmp_path / "t") as t:
        before = time.monotonic_ns()
        with torch.profiler.record_function("pass#0"):
            torch.nn.functional.gelu(torch.randn(64, 64) @ torch.randn(64, 64))
        after = time.monotonic_ns()
    run = t.run
    assert run.complete and run.manifest["kind"] == "trace"
    origin = run.manifest["clock"]["origin_monotonic_ns"]
    step = run["steps"].set_index("name").loc["pass#0"]
    assert before - origin - 50_000 <= step.start_ns <= step.end_ns <= after - origin + 50_000
    assert {"aten::mm", "aten::gelu"} <= set(run["ops"].query("step == 'pass#0'").name)


def test_gpu_trace_goes_onto_the_run_clock(tmp_path, traces):
    """The extension's conversion, fed a real A100 trace as if the agent had exported it."""
    from lowprof.clock import RunClock
    from lowprof.rundir import RunWriter
    from lowprof.tracers.live import write_trace_tables

    src = traces / "kineto" / ALEXNET
    kdir = tmp_path / "kineto"
    kdir.mkdir()
    shutil.copy(src, kdir / "segment-1-0000.pt.trace.json.gz")
    raw = json.load(gzip.open(src))["traceEvents"]
    first_us = min(e["ts"] for e in raw if e.get("ph") == "X")
    # Pretend the run started 1 s before the trace's first event, with REALTIME - MONOTONIC = offset.
    offset = 1_695_000_000_000_000_000
    origin = first_us * 1000 - offset - 1_000_000_000
    (kdir / "segments.jsonl").write_text(json.dumps({
        "event": "segment", "segment": 0, "file": "segment-1-0000.pt.trace.json.gz", "pid": 1,
        "realtime_minus_monotonic_ns": offset, "realtime_minus_monotonic_end_ns": offset, "export_s": 0.0}) + "\n")
    run_dir = RunWriter(tmp_path / "r", kind="run", clock=RunClock(origin, origin + offset))
    entry = write_trace_tables(run_dir, kdir, 2.0)
    run_dir.finish()
    run = lowprof.load(tmp_path / "r")
    la = run["launches"]
    gpu = [e for e in raw if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    assert len(la) == len(gpu) == entry["launches"] and "launches_empty_reason" not in entry
    expect = pd.Series({e["args"]["correlation"]: e["ts"] * 1000 - offset - origin for e in gpu})
    got = la.set_index("correlation").gpu_start_ns
    assert (got.sort_index() == expect.sort_index()).all()
    first_op_us = min(e["ts"] for e in raw if e.get("cat") == "cpu_op")
    assert run["ops"].start_ns.min() == first_op_us * 1000 - offset - origin
    rt = {e["args"]["correlation"]: e["ts"] * 1000 - offset - origin for e in raw
          if e.get("cat") == "cuda_runtime" and "correlation" in e.get("args", {})}
    k = la.dropna(subset=["cpu_start_ns"])
    assert all(rt[c] == s for c, s in zip(k.correlation, k.cpu_start_ns))
    assert (k.gpu_start_ns >= k.cpu_start_ns).all()  # a kernel never starts before its launch call


def test_sigterm_exports_the_open_segment_and_the_workload_still_dies_of_it(tmp_path):
    out, stamps, rec = _record_stamping_app(tmp_path, segment_s="0")
    deadline = time.monotonic() + 60
    while not (stamps.exists() and len(stamps.read_text().splitlines()) >= 3):
        assert time.monotonic() < deadline, "workload did not start within 60 s"
        time.sleep(0.05)
    start = json.loads((out / "kineto" / "segments.jsonl").read_text().splitlines()[0])
    os.kill(start["pid"], signal.SIGTERM)
    assert rec.wait(timeout=60) == 128 + signal.SIGTERM
    run = lowprof.load(out)
    assert run.manifest["workload"]["signal"] == "SIGTERM"
    segs = [json.loads(x) for x in (out / "kineto" / "segments.jsonl").read_text().splitlines()]
    assert [s["why"] for s in segs if s["event"] == "segment"] == ["signal SIGTERM"]
    printed = [ln.split()[0] for ln in stamps.read_text().splitlines()]
    assert set(printed) <= set(run["steps"].name)  # every finished pass was exported at SIGTERM


def test_live_conversion_keeps_the_importers_durations(tmp_path, traces):
    """Shifting onto the run clock changes no duration: t_l, API and kernel times equal the importer's."""
    from lowprof.tracers.kineto import load_launches
    from lowprof.tracers.live_convert import convert_trace

    src = traces / "kineto" / ALEXNET
    ref, _ = load_launches(src)
    got, tables, _ = convert_trace(src, realtime_minus_monotonic_ns=123_456_789, origin_monotonic_ns=987_654_321)
    assert (got.gpu_start_ns - ref.gpu_start_ns == -(123_456_789 + 987_654_321)).all()
    for a, b in (("gpu_start_ns", "cpu_start_ns"), ("cpu_end_ns", "cpu_start_ns"), ("gpu_end_ns", "gpu_start_ns")):
        assert ((got[a] - got[b]).fillna(-1) == (ref[a] - ref[b]).fillna(-1)).all()
    assert len(tables["ops"]) > 0 and (tables["ops"].end_ns >= tables["ops"].start_ns).all()


def _rolled_segments(tmp_path, traces, edit):
    """The real A100 AlexNet trace written as three rolling Kineto segments of one run, ``edit(events, k)``
    altering segment k as the k-th re-registration of CUPTI's timestamp callback would; converted by the
    extension as ``lowprof run`` does. Returns (raw events, manifest trace entry, loaded run, stderr)."""
    import copy
    from types import SimpleNamespace

    from lowprof.clock import RunClock
    from lowprof.rundir import RunWriter
    from lowprof.tracers.live import LiveKernelTrace

    raw = json.load(gzip.open(traces / "kineto" / ALEXNET))
    xs = [e for e in raw["traceEvents"] if e.get("ph") == "X"]
    first, last = min(e["ts"] for e in xs), max(e["ts"] + e.get("dur", 0) for e in xs)  # µs, integers here
    offset = 1_695_000_000_000_000_000  # REALTIME - MONOTONIC
    origin = first * 1000 - offset - 1_000_000_000
    kdir = tmp_path / "kineto"
    kdir.mkdir()
    log = []
    for k in range(3):
        doc = copy.deepcopy(raw)
        edit(doc["traceEvents"], k)
        name = f"segment-1-{k:04d}.pt.trace.json"
        (kdir / name).write_text(json.dumps(doc))
        log.append({"event": "segment", "segment": k, "file": name, "pid": 1, "export_s": 0.0,
                    "start_monotonic_ns": first * 1000 - offset - 100_000_000,
                    "end_monotonic_ns": last * 1000 - offset + 100_000_000,
                    "realtime_minus_monotonic_ns": offset, "realtime_minus_monotonic_end_ns": offset})
    (kdir / "segments.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    run_dir = RunWriter(tmp_path / "r", kind="run", clock=RunClock(origin, origin + offset))
    import io
    from contextlib import redirect_stderr

    buf = io.StringIO()
    with redirect_stderr(buf):
        LiveKernelTrace(kdir, 2.0).finished(SimpleNamespace(writer=run_dir), SimpleNamespace(signal=None))
    run_dir.finish()
    run = lowprof.load(tmp_path / "r")
    return raw["traceEvents"], run.manifest["trace"], run, buf.getvalue()


def _kernels_by_start(events):
    return sorted((e for e in events if e.get("cat") == "kernel"), key=lambda e: e["ts"])


def test_corrupt_head_kernel_records_of_rolling_segments_are_dropped_and_counted(tmp_path, traces):
    """pytorch/pytorch#192021: every new profiler session re-registers CUPTI's timestamp callback, and after
    the k-th re-registration the first k kernel records of a session come back ~1e14 ns off."""
    def corrupt(events, k):
        for e in _kernels_by_start(events)[:k]:
            e["ts"] -= 10 ** 11  # µs: 1e14 ns before its own cudaLaunchKernel

    raw, tr, run, said = _rolled_segments(tmp_path, traces, corrupt)
    gpu = [e for e in raw if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    la = run["launches"]
    assert len(la) == 3 * len(gpu) - (0 + 1 + 2) == tr["launches"]
    c1, c2 = (e["args"]["correlation"] for e in _kernels_by_start(raw)[:2])
    counts = la.correlation.value_counts()
    assert counts[c1] == 1 and counts[c2] == 2 and (counts.drop([c1, c2]) == 3).all()
    assert tr["corrupt_gpu_records_dropped"] == 3
    assert [s["corrupt_gpu_records_dropped"] for s in tr["per_segment"]] == [0, 1, 2]
    assert (la.gpu_start_ns >= la.cpu_start_ns).all()
    assert "3 GPU records" in said and "192021" in said and said.count("\n") == 1


def test_kernel_records_lost_at_the_head_of_rolling_segments_are_counted(tmp_path, traces):
    """The same loss where Kineto itself drops the records (outside its window): the launch calls stay."""
    def lose(events, k):
        gone = {id(e) for e in _kernels_by_start(events)[:k]}
        events[:] = [e for e in events if id(e) not in gone]

    raw, tr, run, said = _rolled_segments(tmp_path, traces, lose)
    gpu_corr = {e["args"]["correlation"] for e in raw if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")}
    base = sum(1 for e in raw if e.get("cat") == "cuda_runtime" and "LaunchKernel" in e["name"]
               and e["args"]["correlation"] not in gpu_corr)  # launch calls without a GPU record in the original
    assert [s["launch_calls_without_gpu_record"] for s in tr["per_segment"]] == [base, base + 1, base + 2]
    assert tr["launch_calls_without_gpu_record"] == 3 * base + 3
    assert "launch calls" in said and "192021" in said

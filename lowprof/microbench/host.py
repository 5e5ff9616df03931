"""``lowprof bench host``: the CPU cost of dispatching a framework op, measured with pyperf's calibrated
runner in worker processes (:mod:`lowprof.microbench.host_worker`), recorded as ``bench_results`` rows
(benchmark ``host``, unit ns per call) with pyperf's JSON kept beside them. Runs on any machine; the CuPy
launch call is timed only where a GPU is usable (the reason is recorded otherwise)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lowprof.errors import LowprofError
from lowprof.microbench.results import Result, result_rows
from lowprof.rundir.specs.bench import BENCH_RESULTS
from lowprof.rundir import RunWriter

__all__ = ["record_host", "suite_results", "pyperf_args"]

NAMES = ("python call", "torch add", "torch add_ in place", "cupy launch")


def pyperf_args(mode: str = "default", processes: int | None = None, values: int | None = None,
                loops: int | None = None) -> list[str]:
    """pyperf options for a mode, then overrides. Each worker process imports torch (seconds), so the cost
    is about processes x benchmarks: ``fast`` 3 processes x 2 values (pyperf's floor of 3 processes, for 3
    hash seeds; pyperf's own ``--fast`` is 10 x 2, slower than our default), ``default`` 6 x 3,
    ``rigorous`` pyperf's ``--rigorous`` (40 x 3)."""
    if mode not in ("fast", "default", "rigorous"):
        raise LowprofError(f"pyperf mode {mode!r}: use fast, default or rigorous")
    base = {"fast": [], "default": [], "rigorous": ["--rigorous"]}[mode]
    counts = {"fast": {"-p": 3, "-n": 2}, "default": {"-p": 6, "-n": 3}, "rigorous": {}}[mode]
    for flag, v in (("-p", processes), ("-n", values), ("-l", loops)):
        if v is not None:
            if v < 1:
                raise LowprofError(f"{flag} must be >= 1, got {v}")
            counts[flag] = v
    return base + [x for flag, v in counts.items() for x in (flag, str(v))]


def suite_results(suite) -> list[Result]:
    """One :class:`Result` per pyperf benchmark: median ns per call, p5/p95 over all values."""
    out = []
    for bench in suite.get_benchmarks():
        v = np.asarray(bench.get_values(), dtype=float) * 1e9
        p5, med, p95 = np.percentile(v, [5, 50, 95])
        out.append(Result("host", f"dispatch {bench.get_name()}", float(med), "ns", float(p5), float(p95), int(v.size),
                          {"pyperf_mean_ns": float(v.mean()), "pyperf_stdev_ns": float(v.std(ddof=1)) if v.size > 1 else 0.0,
                           "loops": bench.get_loops(), "runs": bench.get_nrun()}))
    return out


def record_host(out: str | os.PathLike, *, pyperf: list[str], only: list[str] | None = None,
                force: bool = False) -> tuple[Path, dict]:
    """Run the pyperf worker with ``pyperf`` options and write the run directory at ``out``."""
    import pyperf as _pyperf

    bad = [n for n in (only or []) if n not in NAMES]
    if bad:
        raise LowprofError(f"--only: unknown {', '.join(map(repr, bad))}; choose from {', '.join(NAMES)}")
    from lowprof.inventory import recording_facts
    from lowprof.microbench.host_worker import cupy_reason

    reason = cupy_reason()
    picked = [n for n in (only or NAMES) if n != "cupy launch" or reason is None]
    if not picked:
        raise LowprofError(f"--only 'cupy launch': it cannot be timed here: {reason}")
    writer = RunWriter(out, kind="bench", force=force)
    m = writer.manifest
    m.update(recording_facts())
    tmp = Path(tempfile.mkdtemp(prefix="lowprof-pyperf-"))
    cmd = [sys.executable, "-m", "lowprof.microbench.host_worker", "--quiet", "-o", str(tmp / "host.json"), *pyperf]
    # the benchmarks to run, decided once here: no worker process has to look for a GPU again
    cmd += ["--only", ",".join(picked)]
    facts = {"suite": "host", "pyperf_command": cmd[1:], "pyperf_version": _pyperf.__version__,
             "cupy_launch": "timed" if reason is None else f"skipped: {reason}"}
    m["microbench"] = facts
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LowprofError(f"pyperf worker exited {proc.returncode}: {tail[0]}")
        shutil.copy(tmp / "host.json", writer.path / "host_pyperf.json")
        suite = _pyperf.BenchmarkSuite.load(str(writer.path / "host_pyperf.json"))
        results = suite_results(suite)
        writer.table(BENCH_RESULTS).extend(result_rows(results, gpu_name="(host)"))
        facts["pyperf_metadata"] = {k: str(v) for k, v in suite.get_metadata().items()} if hasattr(suite, "get_metadata") \
            else {k: str(v) for k, v in suite.get_benchmarks()[0].get_metadata().items()}
        facts["elapsed_s"] = round(time.monotonic() - t0, 2)
    except BaseException:
        writer.finish(status="failed")
        raise
    else:
        writer.finish()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return writer.path, facts

"""``lowprof bench host``: pyperf workers time the CPU cost of dispatching a tiny torch op; the run
directory holds one ``bench_results`` row per benchmark and pyperf's own JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import lowprof
from lowprof.errors import LowprofError
from lowprof.microbench.host import pyperf_args, record_host
from tests.conftest import requires

pytestmark = [pytest.mark.hardware, requires("torch")]


@pytest.fixture(scope="module")
def host_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("host") / "run"
    p = subprocess.run([sys.executable, "-m", "lowprof", "bench", "host", "--only", "python call,torch add",
                        "-p", "1", "-n", "3", "-l", "2000", "--out", str(out), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return out, json.loads(p.stdout)


def test_host_run_records_one_row_per_benchmark(host_run):
    out, printed = host_run
    run = lowprof.load(out)
    df = run["bench_results"]
    assert list(df.metric) == ["dispatch python call", "dispatch torch add"]
    assert (df.benchmark == "host").all() and (df.unit == "ns").all()
    assert (df.samples == 3).all()  # 1 process x 3 values
    assert ((df.p5 <= df.value) & (df.value <= df.p95) & (df.value > 0)).all()
    assert [r["metric"] for r in printed["rows"]] == list(df.metric)
    assert run.manifest["kind"] == "bench" and run.manifest["microbench"]["suite"] == "host"


def test_host_run_keeps_pyperfs_json(host_run):
    import pyperf

    out, _ = host_run
    suite = pyperf.BenchmarkSuite.load(str(out / "host_pyperf.json"))
    names = sorted(b.get_name() for b in suite.get_benchmarks())
    assert names == ["python call", "torch add"]
    df = lowprof.load(out)["bench_results"]
    torch_values = [v * 1e9 for v in suite.get_benchmark("torch add").get_values()]
    assert df.value.iloc[1] == pytest.approx(sorted(torch_values)[1])  # median of 3 values, in ns


def test_report_section_lists_the_host_figures(host_run):
    from lowprof.microbench.report import section_microbench

    out, _ = host_run
    sec = section_microbench(lowprof.load(out))
    assert sec["suite"] == "host"
    assert re.fullmatch(r"[\d.]+ ns \(p5-p95 [\d.]+-[\d.]+\)", sec["host dispatch torch add"])
    assert set(k for k in sec if k.startswith("host ")) == {"host dispatch python call", "host dispatch torch add"}


def test_cupy_launch_is_skipped_with_the_reason_without_a_gpu(host_run):
    from lowprof.microbench.gpu import gpu_unavailable_reason

    out, _ = host_run
    reason = gpu_unavailable_reason()
    recorded = lowprof.load(out).manifest["microbench"]["cupy_launch"]
    assert recorded == ("timed" if reason is None else f"skipped: {reason}")


def test_pyperf_options_and_bad_input():
    assert pyperf_args("fast") == ["-p", "3", "-n", "2"]
    assert pyperf_args("default") == ["-p", "6", "-n", "3"]
    assert pyperf_args("default", processes=2, loops=100) == ["-p", "2", "-n", "3", "-l", "100"]
    assert pyperf_args("rigorous", values=5) == ["--rigorous", "-n", "5"]
    with pytest.raises(LowprofError, match="'turbo'"):
        pyperf_args("turbo")
    with pytest.raises(LowprofError, match="-n must be >= 1, got 0"):
        pyperf_args("fast", values=0)


def test_unknown_benchmark_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(LowprofError, match="'torch mul'"):
        record_host(tmp_path / "r", pyperf=["-p", "1"], only=["torch mul"])
    assert not (tmp_path / "r").exists()


def _work(out) -> tuple[int, int]:
    """(worker runs, values) of the recorded benchmark, read from pyperf's own JSON."""
    import pyperf

    bench = pyperf.BenchmarkSuite.load(str(out / "host_pyperf.json")).get_benchmarks()[0]
    return bench.get_nrun(), len(bench.get_values())


@pytest.mark.slow
def test_fast_mode_runs_fewer_workers_and_values_than_the_default(tmp_path):
    """Each worker process is seconds (it imports torch), so fewer runs is faster; the wall times side by
    side are in bench/host_modes.py. pyperf's own --fast (10 processes) used to make fast the slower one.
    The loops are fixed (-l), as the counts compared do not depend on them: no pyperf calibration run."""
    work = {}
    for mode in ("fast", "default"):
        p = subprocess.run([sys.executable, "-m", "lowprof", "bench", "host", "--only", "python call", "--mode", mode,
                            "-l", "2000", "--quiet", "--out", str(tmp_path / mode)], capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr
        work[mode] = _work(tmp_path / mode)
    (fast_runs, fast_values), (default_runs, default_values) = work["fast"], work["default"]
    assert fast_runs < default_runs and fast_values < default_values, work
    assert fast_runs >= 3  # three hash seeds at least


def test_only_a_launch_that_cannot_run_here_is_one_error(tmp_path):
    from lowprof.microbench.host_worker import cupy_reason

    if cupy_reason() is None:
        pytest.skip("a GPU is usable here: the CuPy launch can be timed")
    p = subprocess.run([sys.executable, "-m", "lowprof", "bench", "host", "--only", "cupy launch",
                        "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "cannot be timed here" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not (tmp_path / "r").exists()

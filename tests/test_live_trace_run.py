"""`lowprof run --trace kernels` on whole workloads in real subprocesses: what is recorded, and what is said when
nothing can be (no torch, no cupti-python, a scanner that cannot load, the workload's own profiler). Split from
tests/test_live_trace.py (the kills, lowprof.trace() and the conversion) so that pytest-xdist can run
the two halves on two workers."""

from __future__ import annotations

import json
import os
import sys

import pytest

import lowprof
from tests.conftest import requires

pytestmark = [pytest.mark.slow, requires("torch")]

# One OpenMP thread: on small CPU ops an active torch.profiler otherwise stalls ~16 ms per parallel op.
ENV = {"OMP_NUM_THREADS": "1"}


def test_prefill_on_cpu_records_ops_and_says_why_launches_are_empty(tmp_path, cli):
    out = tmp_path / "r"
    p = cli("run", "--trace", "kernels", "--out", out, "--", sys.executable, "-m", "lowprof.workloads.prefill",
            "--layers", "1", "--passes", "3", "--warmup", "1", env=ENV)
    assert p.returncode == 0, p.stderr
    assert "prefill: pass#2" in p.stdout
    run = lowprof.load(out)
    tr = run.manifest["trace"]
    assert len(run["launches"]) == 0 and tr["launches"] == 0
    reason = tr["launches_empty_reason"]
    assert "\n" not in reason and "CUDA" in reason
    ops = run["ops"]
    assert {"aten::linear", "aten::scaled_dot_product_attention", "aten::embedding"} <= set(ops.name)
    steps = run["steps"]
    assert list(steps.name) == ["warmup#0", "pass#0", "pass#1", "pass#2"]
    assert set(ops.step.dropna()) == set(steps.name)  # every model op sits inside a pass
    end = run.manifest["end_t_ns"]
    assert (ops.start_ns > 0).all() and (ops.end_ns <= end).all() and (ops.end_ns >= ops.start_ns).all()
    assert (steps.start_ns.diff().dropna() > 0).all()
    assert any(p.name.endswith(".pt.trace.json") for p in (out / "kineto").iterdir())  # raw trace kept


def test_program_without_torch_is_left_alone_and_the_reason_recorded(tmp_path, cli):
    out = tmp_path / "r"
    p = cli("run", "--trace", "kernels", "--out", out, "--", sys.executable, "-c",
            "import sys, json; print('torch' in sys.modules)")
    assert p.returncode == 0 and p.stdout.strip() == "False"  # the hook imports nothing eagerly
    run = lowprof.load(out)
    assert len(run["launches"]) == 0 and len(run["ops"]) == 0
    assert run.manifest["trace"]["launches_empty_reason"] == "the workload never imported torch or cupy, so no tracer started"


def test_cupy_program_without_cupti_python_says_so(tmp_path, cli):
    pytest.importorskip("cupy")
    try:
        import cupti  # noqa: F401

        pytest.skip("cupti-python is installed; the CUPTI path needs a GPU (see the GPU-only test)")
    except ImportError:
        pass
    out = tmp_path / "r"
    p = cli("run", "--trace", "kernels", "--out", out, "--", sys.executable, "-c", "import cupy")
    assert p.returncode == 0, p.stderr
    reason = lowprof.load(out).manifest["trace"]["launches_empty_reason"]
    assert reason.startswith("cupy imported but NVIDIA's cupti-python is not installed")


@pytest.mark.gpu
def test_cupy_kernels_are_recorded_through_cupti(tmp_path, cli):
    cupy = pytest.importorskip("cupy")
    pytest.importorskip("cupti", reason="needs NVIDIA's cupti-python (pip install cupti-python)")
    if not cupy.is_available():
        pytest.skip("needs a CUDA GPU: cupy.is_available() is False")
    out = tmp_path / "r"
    p = cli("run", "--trace", "kernels", "--out", out, "--", sys.executable, "-c",
            "import cupy; x = cupy.arange(1 << 20, dtype=cupy.float32)\n"
            "for _ in range(10): x = cupy.sin(x)\ncupy.cuda.runtime.deviceSynchronize()")
    assert p.returncode == 0, p.stderr
    la = lowprof.load(out)["launches"]
    k = la[la.kind == "kernel"]
    assert len(k) >= 10 and (k.gpu_start_ns >= k.cpu_start_ns).all()
    assert (k.gpu_end_ns <= lowprof.load(out).manifest["end_t_ns"]).all()


# A workload with its own torch.profiler session, which exits 3: recorded once for the two tests below (each
# used to record the same workload).
OWN_PROFILER = ("import sys, torch\nwith torch.profiler.profile() as p:\n    torch.randn(8) + 1\n"
                "print(sorted({e.name for e in p.events()} & {'aten::randn', 'aten::add'}))\nsys.exit(3)")


@pytest.fixture(scope="module")
def own_profiler_run(tmp_path_factory):
    """(`lowprof run -q --trace kernels --trace-segment 0` of OWN_PROFILER, its run directory)."""
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("own-profiler") / "r"
    p = run_cli("run", "-q", "--trace", "kernels", "--trace-segment", "0", "--out", out, "--", sys.executable, "-c",
                OWN_PROFILER, env=ENV, timeout=300)
    return p, out


def test_workload_with_its_own_profiler_keeps_working_and_the_loss_is_recorded(own_profiler_run):
    p, out = own_profiler_run
    assert p.returncode == 3, p.stderr  # its own exit: exporting our replaced session used to segfault the workload
    assert p.stdout.strip() == "['aten::add', 'aten::randn']"
    errors = lowprof.load(out).manifest["trace"]["errors"]
    assert any("own torch.profiler session replaced" in e for e in errors)


def test_a_workloads_own_profiler_is_said_by_run_and_report(own_profiler_run, cli):
    """(From tests/test_trace_loss_notice.py.) The loss is said in one warning line at the end of `run`, even
    under -q, and among `report`'s notices; the workload's exit code is kept."""
    p, out = own_profiler_run
    assert p.returncode == 3, p.stderr
    recorded = json.loads((out / "manifest.json").read_text())["trace"]["errors"]
    lost = [e for e in recorded if "own torch.profiler session replaced" in e]
    assert lost, recorded
    assert f"lowprof: warning: --trace: {lost[0]}" in p.stderr, p.stderr
    shown = json.loads(cli("report", out, "--json").stdout)["notices"]
    assert f"--trace: {lost[0]}" in shown


def test_a_scanner_that_cannot_load_is_one_clear_error(tmp_path, cli):
    """The GPU machine's Python has no cffi: the compiled scanner's import of _cffi_backend fails. That must be
    one line naming the cause and a non-zero exit, not empty tables said to hold "no GPU activity"."""
    shadow = tmp_path / "no-cffi"
    shadow.mkdir()
    (shadow / "_cffi_backend.py").write_text(
        "raise ModuleNotFoundError(\"No module named '_cffi_backend'\", name='_cffi_backend')\n")
    out = tmp_path / "r"
    env = ENV | {"PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    p = cli("run", "--trace", "kernels", "--trace-segment", "0", "--out", out, "--", sys.executable, "-c",
            "import torch; print(float((torch.ones(4) * 2).sum()))", env=env)
    assert p.stdout.strip() == "8.0"  # the workload ran untouched
    assert p.returncode == 1, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("lowprof:")  # not the workload's own stderr
             and not ln.startswith(("lowprof: recording", "lowprof: workload ended"))]
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "cffi" in lines[0] and "scanner" in lines[0]
    tr = lowprof.load(out).manifest["trace"]
    assert "cffi" in tr["launches_empty_reason"] and "no GPU activity" not in tr["launches_empty_reason"]
    assert any(f.name.endswith(".pt.trace.json") for f in (out / "kineto").iterdir())  # what was recorded stays

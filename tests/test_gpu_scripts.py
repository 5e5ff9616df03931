"""The GPU scripts without a GPU: one interpreter rule and import path, one results-folder name, and the
session's control flow (DRY_RUN=1): carried wheels installed offline, every stage saying "no GPU", the
results layout, the deadline (a stage cut at it, the rest skipped) and what comes back in $OUT."""

from __future__ import annotations

import os
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
CLEAN = {k: v for k, v in os.environ.items() if k not in ("PY", "PYTHON", "GPU_NAME", "OUT", "BUDGET", "DRY_RUN")}


def _bash(script: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO, env=CLEAN | env, timeout=120)


@pytest.mark.parametrize("name,slug", [
    ("NVIDIA H200", "h200"), ("NVIDIA H100 80GB HBM3", "h100-80gb-hbm3"), ("NVIDIA H100 PCIe", "h100-pcie"),
    ("NVIDIA GH200 480GB", "gh200-480gb"), ("NVIDIA A100-SXM4-80GB", "a100-sxm4-80gb"),
    ("Tesla V100-SXM2-16GB", "tesla-v100-sxm2-16gb"), ("NVIDIA RTX A2000 12GB", "rtx-a2000-12gb"),
])
def test_one_results_folder_name_per_gpu(name, slug):
    p = subprocess.run(["bash", "-c", 'source scripts/gpu_env.sh; gpu_slug "$1"; echo; GPU_NAME="$1" RESULTS_ROOT=r results_dir',
                        "x", name], capture_output=True, text=True, cwd=REPO, env=CLEAN)
    assert p.stdout.split() == [slug, f"r/{slug}"]


def test_every_gpu_script_uses_the_shared_rules():
    for s in ("gpu_bench.sh", "gpu_sweep.sh", "gpu_power.sh", "gpu_session.sh"):
        text = (SCRIPTS / s).read_text()
        assert "source scripts/gpu_env.sh" in text and "PY=${PYTHON:-.venv/bin/python}" not in text, s
        assert "results/$slug" not in text and "NVIDIA_" not in text, s


def test_without_a_venv_python3_runs_and_imports_lowprof_from_anywhere(tmp_path):
    """The GPU machine: no .venv, the repo not installed, a workload file outside the repo (gpu_power.sh's)."""
    work = tmp_path / "workload.py"
    work.write_text("import lowprof; print(lowprof.__file__)\n")
    p = _bash(f'source scripts/gpu_env.sh; echo "$PY"; cd {tmp_path} && "$PY" {work}', VENV_PY="/nonexistent")
    py, where = p.stdout.split()
    assert p.returncode == 0, p.stderr
    assert py == "python3" and Path(where).resolve() == REPO / "lowprof" / "__init__.py"


def test_without_a_gpu_the_torch_scripts_say_so_in_one_line():
    p = _bash("bash scripts/gpu_power.sh", GPU_NAME="NVIDIA H200", RESULTS_ROOT="/nonexistent/should-not-be-made")
    assert p.returncode == 1 and not Path("/nonexistent/should-not-be-made").exists()
    assert p.stderr.strip().splitlines()[-1].startswith("gpu_power: torch") and "Traceback" not in p.stderr


def _wheel(d: Path) -> None:
    """A real (tiny) wheel, as pip download leaves them in .whl/."""
    d.mkdir()
    with zipfile.ZipFile(d / "lowprof_carried-1.0-py3-none-any.whl", "w") as z:
        z.writestr("lowprof_carried.py", "__version__ = '1.0'\n")
        z.writestr("lowprof_carried-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: lowprof-carried\nVersion: 1.0\n")
        z.writestr("lowprof_carried-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("lowprof_carried-1.0.dist-info/RECORD", "")


def _session(tmp_path, wheels: bool = True, **env) -> tuple[subprocess.CompletedProcess, float]:
    if wheels:
        _wheel(tmp_path / "whl")
    t0 = time.monotonic()
    p = subprocess.run(["bash", "scripts/gpu_session.sh"], capture_output=True, text=True, cwd=REPO, timeout=300,
                       env=CLEAN | {"DRY_RUN": "1", "GPU_NAME": "NVIDIA H200", "OUT": str(tmp_path / "out"),
                                    "RESULTS_ROOT": str(tmp_path / "results"), "WHEELS": str(tmp_path / "whl"),
                                    "SITE": str(tmp_path / "site"), "VENV_PY": "/nonexistent",
                                    "CHECK_MODULES": "lowprof_carried"} | env)
    return p, time.monotonic() - t0


STAGES = ("checks", "bench", "sweep", "power", "traces", "host")


def test_dry_run_session_makes_the_whole_layout_and_returns_eight_files(tmp_path):
    p, _ = _session(tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    out, res = tmp_path / "out", tmp_path / "results" / "h200"
    assert sorted(f.name for f in out.iterdir()) == sorted(["log.txt", "SESSION.md"] + [f"{s}.tgz" for s in STAGES])
    setup = (res / "checks" / "setup.txt").read_text()
    assert "python: python3" in setup and "lowprof_carried-1.0-py3-none-any.whl" in setup
    assert "lowprof_carried          ok 1.0" in setup  # installed offline from the carried wheel
    for s in STAGES:
        assert "no GPU (dry run)" in (res / s / "DRY_RUN.txt").read_text()
        with tarfile.open(out / f"{s}.tgz") as t:
            assert f"h200/{s}/DRY_RUN.txt" in t.getnames()
    table = (out / "SESSION.md").read_text()
    assert table == (res / "SESSION.md").read_text() and "# lowprof GPU session: NVIDIA H200" in table
    assert all(f"| {s} | no GPU (dry run): nothing measured |" in table for s in STAGES)


@pytest.mark.slow
def test_dry_run_session_cuts_a_stage_at_the_deadline_and_keeps_what_it_had(tmp_path):
    # The budget only waits (the dry stage sleeps DRY_STAGE_S): long enough for the untimed setup and a checks
    # stage of MIN_STAGE_S. No carried wheels here (their offline install, 2 s idle and up to 10 s on a loaded
    # VM, is the layout test's): the setup is the import check alone, 1 s idle (up to 3 s leaves checks its 2 s).
    budget = 6
    p, wall = _session(tmp_path, wheels=False, BUDGET=str(budget), DRY_STAGE_S="1000", MIN_STAGE_S="2",
                       RESERVE_S="1")
    out, res = tmp_path / "out", tmp_path / "results" / "h200"
    table = (out / "SESSION.md").read_text()
    assert "| checks | timed out after" in table, p.stdout
    assert all(f"| {s} | skipped: no time left |" in table for s in STAGES[1:])
    assert wall < budget + 15  # the deadline held (the grace before SIGKILL is not needed by sleep)
    with tarfile.open(out / "checks.tgz") as t:  # what the cut stage had written came back
        assert {"h200/checks/setup.txt", "h200/checks/DRY_RUN.txt"} <= set(t.getnames())
    assert not (out / "bench.tgz").exists() and "SKIPPED (no time): bench" in (out / "log.txt").read_text()


def _fake_python(tmp_path: Path, pyperf: bool) -> tuple[Path, Path]:
    """An interpreter stand-in that logs each command it is asked to run and imports pyperf or not."""
    log = tmp_path / "py-calls.txt"
    py = tmp_path / "python"
    py.write_text("#!/bin/bash\n"
                  f'if [ "$1" = -c ]; then case "$2" in *pyperf*) exit {0 if pyperf else 1};; esac; exit 0; fi\n'
                  f'echo "$*" >> {log}\n')
    py.chmod(0o755)
    return py, log


@pytest.mark.parametrize("pyperf", [False, True], ids=["no-pyperf", "pyperf"])
def test_gpu_bench_host_suite_is_short_and_skipped_without_pyperf(tmp_path, pyperf):
    """gpu_bench.sh ran `bench host --mode fast` (pyperf's 11 worker processes, each importing torch: minutes)
    and failed where pyperf is not installed (the GPU machines). Now 3 processes x 3 values, or one line."""
    py, log = _fake_python(tmp_path, pyperf)
    p = _bash("bash scripts/gpu_bench.sh", PY=str(py), GPU="0", HOST="1", BENCH_OUT=str(tmp_path / "b"))
    assert p.returncode == 0, p.stdout + p.stderr
    run_txt = (tmp_path / "b" / "RUN.txt").read_text()
    calls = log.read_text().splitlines() if log.exists() else []
    if not pyperf:
        assert "host suite skipped: pyperf is not importable" in run_txt and calls == []
        return
    (host,) = [c for c in calls if "lowprof bench host" in c]
    args = host.split()
    assert args[args.index("-p") + 1] == "3" and args[args.index("-n") + 1] == "3", host
    assert "--mode" not in args and "--fast" not in args, host

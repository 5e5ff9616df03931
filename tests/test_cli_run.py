"""`lowprof run`, `report`, `export`, `info` as a user runs them: real subprocesses, real signals."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import lowprof
from tests.conftest import lowprof_cmd

BURN = "import time\nt=time.process_time()\nwhile time.process_time()-t<{s}: pass\n"


def test_cpu_burning_workload_cpu_time_is_seen(tmp_path, cli):
    out = tmp_path / "burn"
    p = cli("run", "--out", out, "--interval", "0.02", "--", sys.executable, "-c", BURN.format(s=1.0))
    assert p.returncode == 0, p.stderr
    run = lowprof.load(out)
    s = run["system"]
    cpu = s.proc_cpu_user_s + s.proc_cpu_system_s
    assert len(s) >= 20  # ~1 s at 50 Hz, leave room for a loaded machine
    assert 0.7 <= cpu.max() <= 1.5  # the workload burned 1.0 s of CPU
    assert (s.t_ns.diff().dropna() > 0).all()  # one monotonic clock
    w = run.manifest["workload"]
    assert w["exit_code"] == 0 and w["signal"] is None
    assert 0.9 <= w["user_s"] + w["system_s"] <= 1.6  # rusage from wait4
    assert run.manifest["command"][0] == sys.executable
    assert run.manifest["probes"]["system"]["status"] == "ok"
    cores = run["system_cores"]
    assert set(cores.core) == set(range(os.cpu_count()))


def test_exit_code_passes_through(tmp_path, cli):
    p = cli("run", "--out", tmp_path / "r", "--", sys.executable, "-c", "import sys; sys.exit(3)")
    assert p.returncode == 3
    assert lowprof.load(tmp_path / "r").manifest["workload"]["exit_code"] == 3


def test_command_not_found_is_127_with_one_line(tmp_path, cli):
    p = cli("run", "--out", tmp_path / "r", "--", "no-such-command-xyz")
    assert p.returncode == 127
    assert p.stderr.strip().splitlines() == ["lowprof: no-such-command-xyz: command not found"]
    assert not (tmp_path / "r").exists()


def test_non_empty_out_refused_without_force(tmp_path, cli):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x").write_text("keep me")
    p = cli("run", "--out", tmp_path / "r", "--", "true")
    assert p.returncode != 0
    assert "not empty" in p.stderr and "Traceback" not in p.stderr
    assert (tmp_path / "r" / "x").read_text() == "keep me"
    p = cli("run", "--force", "--out", tmp_path / "r", "--", "true")  # not a run directory: --force refuses too
    assert p.returncode != 0 and "not a lowprof run directory" in p.stderr and "Traceback" not in p.stderr
    assert (tmp_path / "r" / "x").read_text() == "keep me"
    assert cli("run", "--out", tmp_path / "run", "--", "true").returncode == 0
    assert cli("run", "--force", "--out", tmp_path / "run", "--", "true").returncode == 0  # an earlier run: replaced


def _start_run(tmp_path, code: str) -> tuple[subprocess.Popen, object]:
    out = tmp_path / "r"
    proc = subprocess.Popen(lowprof_cmd("run", "--out", out, "--", sys.executable, "-c", code),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (tmp_path / "ready").exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc, out


def test_sigint_reaches_workload_and_its_exit_code_passes(tmp_path):
    code = (f"import signal, sys, time\n"
            f"signal.signal(signal.SIGINT, lambda *a: sys.exit(42))\n"
            f"open({str(tmp_path / 'ready')!r}, 'w').close()\n"
            f"time.sleep(60)\n")
    proc, out = _start_run(tmp_path, code)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert proc.returncode == 42
    run = lowprof.load(out)
    assert run.complete and run.manifest["workload"]["exit_code"] == 42


def test_workload_killed_by_signal_reports_128_plus_n(tmp_path):
    code = f"import time\nopen({str(tmp_path / 'ready')!r}, 'w').close()\ntime.sleep(60)\n"
    proc, out = _start_run(tmp_path, code)
    proc.send_signal(signal.SIGTERM)  # forwarded; the workload has no handler and dies of it
    proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    assert lowprof.load(out).manifest["workload"]["signal"] == "SIGTERM"


@pytest.mark.slow
def test_sigkilled_lowprof_still_loads_and_reports_incomplete(tmp_path, cli):
    code = f"import time\nopen({str(tmp_path / 'ready')!r}, 'w').close()\ntime.sleep(2.5)\n"
    proc, out = _start_run(tmp_path, code)
    time.sleep(1.5)  # past the first 1-s flush
    orphans = []  # lowprof's children: the workload
    for task in Path(f"/proc/{proc.pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            orphans += [int(c) for c in (task / "children").read_text().split()]
    proc.kill()
    proc.wait(timeout=10)
    run = lowprof.load(out)
    assert run.state == "incomplete"
    assert len(run["system"]) >= 5  # at least the first flush survived
    rep = cli("report", out)
    assert rep.returncode == 0, rep.stderr
    assert "INCOMPLETE" in rep.stdout
    js = json.loads(cli("report", out, "--json").stdout)
    assert js["state"] == "incomplete" and js["duration_is_lower_bound"] is True
    for pid in orphans:  # the workload outlived lowprof: end it
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_report_and_export_round_trip(tmp_path, cli):
    out = tmp_path / "r"
    assert cli("run", "--out", out, "--", sys.executable, "-c", BURN.format(s=0.3)).returncode == 0
    rep = cli("report", out)
    assert rep.returncode == 0 and "complete" in rep.stdout and "system" in rep.stdout
    summary = json.loads(cli("report", out, "--json").stdout)
    assert summary["state"] == "complete" and summary["workload"]["exit_code"] == 0
    assert summary["cpu_memory"]["workload_cpu_s"] >= 0.25
    csv_dir = tmp_path / "csv"
    p = cli("export", out, "--csv", csv_dir)
    assert p.returncode == 0, p.stderr
    run = lowprof.load(out)
    back = pd.read_csv(csv_dir / "system.csv")
    assert "t_s" in back.columns and "t_ns" not in back.columns
    assert back.t_s.tolist() == pytest.approx((run["system"].t_ns / 1e9).tolist())
    for col in ("mem_used_bytes", "proc_rss_bytes"):
        assert back[col].tolist() == run["system"][col].tolist()
    man = pd.read_csv(csv_dir / "manifest.csv").set_index("key").value
    assert man["kind"] == "run" and man["schema"] == "1"
    assert man["host.hostname"] == run.manifest["host"]["hostname"]


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "missing"),
    (lambda d: (d / "manifest.json").write_text("{oops"), "corrupt JSON"),
])
def test_report_on_bad_run_dir_is_one_line(tmp_path, cli, setup, message):
    setup(tmp_path)
    p = cli("report", tmp_path)
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in p.stderr


def test_info_works_without_nvml(cli):
    p = cli("info", "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["host"]["cpu_logical"] == os.cpu_count()
    assert any(c["level"] == 1 for c in info["host"]["caches"])
    try:
        import pynvml

        pynvml.nvmlInit()
        pytest.skip("NVML present: this test is about machines without it")
    except Exception:
        pass
    assert info["gpus"]["available"] is False and "NVML" in info["gpus"]["reason"]
    human = cli("info")
    assert human.returncode == 0 and "GPUs: none seen" in human.stdout


def test_help_lists_verbs_with_examples(cli):
    p = cli("--help")
    assert p.returncode == 0
    for verb in ("run", "attach", "report", "export", "info"):
        assert verb in p.stdout
    assert "examples:" in p.stdout and "lowprof run -- " in p.stdout
    assert "lowprof attach" in cli("attach", "--help").stdout


def test_distributed_rank_is_recorded_and_grouped(tmp_path, cli):
    """A run launched as rank 3 of a torchrun/Slurm job keeps its rank; load_many groups by it."""
    out = tmp_path / "job" / "worker-a"
    p = cli("run", "--out", out, "--", "true", env={"RANK": "3", "WORLD_SIZE": "4", "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stderr
    run = lowprof.load(out)
    assert run.manifest["env"]["RANK"] == "3" and run.manifest["env"]["WORLD_SIZE"] == "4"
    from lowprof.rundir.many import rank_of

    assert rank_of(run) == 3

"""The recorder's basic figures against independent references: peak RSS against /usr/bin/time -v, the
run's duration against the workload's own clock, host CPU against /proc/stat read by the workload."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import lowprof
from lowprof.analysis.summary import summarize

MiB = 1 << 20
TIME = "/usr/bin/time"


def _time_v_maxrss(argv: list[str]) -> int:
    """Peak RSS (B) of ``argv`` as GNU time -v reports it."""
    p = subprocess.run([TIME, "-v", *argv], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) * 1024


def _rss(path) -> int:
    return summarize(lowprof.load(path))["cpu_memory"]["workload_rss_peak_bytes"]


needs_time = pytest.mark.skipif(not os.access(TIME, os.X_OK), reason="GNU time (/usr/bin/time) not installed")


@needs_time
def test_peak_rss_of_sleep_is_not_lowprofs_own(tmp_path, cli):
    argv = [shutil.which("sleep"), "0.3"]
    p = cli("run", "-q", "--out", tmp_path / "r", "--", *argv)
    assert p.returncode == 0, p.stderr
    ref = _time_v_maxrss(argv)
    got = _rss(tmp_path / "r")
    assert got < 10 * MiB, f"lowprof says {got / MiB:.1f} MiB, /usr/bin/time -v {ref / MiB:.1f} MiB"
    assert abs(got - ref) <= max(0.05 * ref, 2 * MiB)


@needs_time
def test_peak_rss_of_300_mib_python_workload_matches_time(tmp_path, cli):
    argv = [sys.executable, "-c", "import time; b = b'x' * (300 << 20); time.sleep(0.2)"]
    p = cli("run", "-q", "--out", tmp_path / "r", "--", *argv)
    assert p.returncode == 0, p.stderr
    ref = _time_v_maxrss(argv)
    got = _rss(tmp_path / "r")
    assert abs(got - ref) <= 0.05 * ref, f"lowprof {got / MiB:.1f} MiB vs /usr/bin/time -v {ref / MiB:.1f} MiB"
    assert lowprof.load(tmp_path / "r").manifest["workload"]["maxrss_bytes"] >= 300 * MiB


def test_workload_started_through_helper_keeps_its_pid_and_exit(tmp_path, cli):
    """The recorded pid is the workload's own (what `ps` shows running CMD), and its exit code passes."""
    code = "import os, sys; open(sys.argv[1], 'w').write(str(os.getpid())); sys.exit(5)"
    p = cli("run", "-q", "--out", tmp_path / "r", "--", sys.executable, "-c", code, tmp_path / "pid")
    assert p.returncode == 5
    m = lowprof.load(tmp_path / "r").manifest
    assert m["workload"]["pid"] == int((tmp_path / "pid").read_text())
    assert m["workload"]["exit_code"] == 5


@pytest.mark.parametrize("interval", ["30", "100"])
def test_short_workload_ends_the_run_at_once_whatever_the_interval(tmp_path, cli, interval):
    """The workload times itself; the run's duration may exceed that by its start-up, not by an interval."""
    code = ("import sys, time; t = time.monotonic(); time.sleep(0.5); "
            "open(sys.argv[1], 'w').write(str(time.monotonic() - t))")
    t0 = time.monotonic()
    p = cli("run", "-q", "--interval", interval, "--out", tmp_path / "r", "--", sys.executable, "-c", code,
            tmp_path / "own")
    wall = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    own = float((tmp_path / "own").read_text())
    run = lowprof.load(tmp_path / "r")
    d = run.manifest["duration_s"]
    assert own <= d < own + 1.5, (own, d)  # python start-up, never another interval
    assert wall < float(interval)  # lowprof did not wait out an interval (start-up on a busy VM: a few s)
    s = run["system"]
    assert len(s) >= 2  # a first sample at start and a final one at exit
    assert (s.t_ns.iloc[-1] - s.t_ns.iloc[0]) / 1e9 >= own


@pytest.mark.parametrize("flag, value", [("--interval", "inf"), ("--interval", "nan"), ("--interval", "1e-7"),
                                         ("--interval", "-1"), ("--interval", "abc"), ("--interval", "1e9")])
def test_bad_interval_is_one_line_exit_2(tmp_path, cli, flag, value):
    p = cli("run", flag, value, "--out", tmp_path / "r", "--", "true", timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "interval" in lines[0] and "Traceback" not in p.stderr, p.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-3", "1e12"])
def test_bad_attach_duration_is_one_line_exit_2(tmp_path, cli, value):
    p = cli("attach", str(os.getpid()), "--duration", value, "--no-stacks", "--out", tmp_path / "r", timeout=20)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "duration" in lines[0] and "Traceback" not in p.stderr, p.stderr

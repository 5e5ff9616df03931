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


@pytest.mark.slow
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


def test_first_sample_is_taken_before_the_workload_runs_its_first_line(tmp_path, cli):
    """The workload reads CLOCK_MONOTONIC as its first statement; the run clock is CLOCK_MONOTONIC from the
    manifest's origin, so the first sample must come before it (it lagged by up to ~30 ms on a busy VM when
    the probes were started, and the first sample taken, on a new thread after the spawn)."""
    code = "import sys, time; t = time.monotonic_ns(); open(sys.argv[1], 'w').write(str(t))"
    p = cli("run", "-q", "--interval", "1", "--out", tmp_path / "r", "--", sys.executable, "-c", code, tmp_path / "t")
    assert p.returncode == 0, p.stderr
    run = lowprof.load(tmp_path / "r")
    first_line_ns = int((tmp_path / "t").read_text()) - run.manifest["clock"]["origin_monotonic_ns"]
    assert run["system"].t_ns.iloc[0] < first_line_ns <= run["system"].t_ns.iloc[-1]


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


# Two threads hashing (hashlib releases the GIL on large buffers) keep two cores busy; the workload reads
# /proc/stat's cpu line itself at its start and end, the reference lowprof's figure must match.
SPIN2 = """
import hashlib, sys, threading, time
def jiffies():
    v = [int(x) for x in open('/proc/stat').readline().split()[1:9]]
    return sum(v) - v[3] - v[4], sum(v)
b0, t0 = jiffies(); c0 = time.process_time(); w0 = time.monotonic()
buf = bytes(1 << 20)
def spin():
    while time.monotonic() - w0 < {s}:
        hashlib.sha256(buf).digest()
th = [threading.Thread(target=spin) for _ in range(2)]
[t.start() for t in th]; [t.join() for t in th]
b1, t1 = jiffies()
open(sys.argv[1], 'w').write(f"{{100 * (b1 - b0) / (t1 - t0)}} {{(time.process_time() - c0) / (time.monotonic() - w0)}}")
"""


@pytest.mark.slow
@pytest.mark.parametrize("interval", ["0.001", "0.005", "0.05", "1"])
def test_host_cpu_percent_is_the_runs_whatever_the_interval(tmp_path, cli, interval):
    p = cli("run", "-q", "--probes", "system", "--interval", interval, "--out", tmp_path / "r", "--",
            sys.executable, "-c", SPIN2.format(s=1.5), tmp_path / "ref")
    assert p.returncode == 0, p.stderr
    ref_host, ref_cores = map(float, (tmp_path / "ref").read_text().split())
    run = lowprof.load(tmp_path / "r")
    cm = summarize(run)["cpu_memory"]
    assert abs(cm["host_cpu_percent_mean"] - ref_host) <= 3.0, (cm["host_cpu_percent_mean"], ref_host)
    # the workload's own CPU over its life (rusage) against its own clock, start-up included
    assert cm["workload_cpu_cores_mean"] <= ref_cores * 1.05 + 0.05
    assert cm["workload_cpu_cores_mean"] >= ref_cores * 0.7


@pytest.mark.slow
def test_report_shows_the_samplers_missed_ticks(tmp_path, cli):
    p = cli("run", "-q", "--probes", "system", "--interval", "0.001", "--out", tmp_path / "r", "--",
            "sleep", "0.3")
    assert p.returncode == 0, p.stderr
    m = lowprof.load(tmp_path / "r").manifest["sampler"]
    rep = cli("report", tmp_path / "r", "--json")
    shown = __import__("json").loads(rep.stdout)["sampling"]
    assert shown["missed_ticks"] == m["missed_ticks"] and shown["ticks"] == m["ticks"]
    assert "missed_ticks" in cli("report", tmp_path / "r").stdout


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` (s), read by the test itself from /proc/PID/stat."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_attach_cpu_figures_describe_the_recorded_window(tmp_path, cli):
    """A target that burned CPU before the attach: workload_cpu_s counts only what it burned while
    recorded, and workload_cpu_cores_mean is that over the same window."""
    burn = ("import sys, time\nt = time.process_time()\nflag = False\n"
            "while time.process_time() - t < 30:\n"
            "    if not flag and time.process_time() - t > 1.0:\n"
            "        open(sys.argv[1], 'w').close(); flag = True\n")
    target = subprocess.Popen([sys.executable, "-c", burn, tmp_path / "warm"])
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "warm").exists():
            assert time.monotonic() < deadline and target.poll() is None
            time.sleep(0.05)
        before = _proc_cpu_s(target.pid)
        p = cli("attach", str(target.pid), "--duration", "1.5", "--no-stacks", "--probes", "system",
                "--interval", "0.02", "-q", "--out", tmp_path / "r")
        after = _proc_cpu_s(target.pid)
    finally:
        target.kill()
        target.wait()
    assert p.returncode == 0, p.stderr
    assert before >= 1.0
    run = lowprof.load(tmp_path / "r")
    cm = summarize(run)["cpu_memory"]
    s = run["system"]
    span = (s.t_ns.iloc[-1] - s.t_ns.iloc[0]) / 1e9
    assert 0 < cm["workload_cpu_s"] <= after - before + 0.05, (cm["workload_cpu_s"], before, after)
    assert cm["workload_cpu_cores_mean"] * span == pytest.approx(cm["workload_cpu_s"], rel=0.02)


def test_profile_into_an_existing_run_is_refused_or_replaced_with_force(tmp_path):
    from lowprof.errors import LowprofError

    out = tmp_path / "p"
    with lowprof.profile(out=out, interval_s=0.02) as first:
        lowprof.mark("first-region")
    old = first.run.manifest
    with pytest.raises(LowprofError, match="exists and is not empty"):
        with lowprof.profile(out=out, interval_s=0.02):
            lowprof.mark("second-region")
    kept = lowprof.load(out)
    assert kept.manifest["started_utc"] == old["started_utc"]
    assert "second-region" not in set(kept["marks"].name) if "marks" in kept.tables else True
    with lowprof.profile(out=out, interval_s=0.02, force=True) as again:
        lowprof.mark("third-region")
    new = again.run
    assert new.manifest["started_utc"] != old["started_utc"]
    assert new.manifest["recorder"]["pid"] != old["recorder"]["pid"]
    names = set(new["marks"].name)
    assert "third-region" in names and "first-region" not in names


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 2 MiB tmpfs (needs root and mount), to fill up for real."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_full_disk_is_said_once_keeps_what_was_flushed_and_the_workloads_exit(small_tmpfs, cli):
    filler = small_tmpfs / "filler"
    with open(filler, "wb") as f:  # leave ~150 KiB: the run's first flushes fit, later ones do not
        f.write(b"\0" * ((2 << 20) - (150 << 10)))
    out = small_tmpfs / "r"
    p = cli("run", "--probes", "system", "--interval", "0.001", "--out", out, "--",
            sys.executable, "-c", "import time, sys; time.sleep(4); sys.exit(3)", timeout=60)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 3, p.stderr
    assert p.stderr.lower().count("disk full") == 1, p.stderr
    line = next(ln for ln in p.stderr.splitlines() if "disk full" in ln.lower())
    assert line.startswith("lowprof: error: disk full") and "[" not in line, line  # styled, not markup text
    filler.unlink()  # room again: what was flushed loads and reports
    run = lowprof.load(out)
    assert len(run["system"]) > 0
    rep = cli("report", out)
    assert rep.returncode == 0 and "Traceback" not in rep.stderr, rep.stderr

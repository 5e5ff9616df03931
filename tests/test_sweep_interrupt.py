"""Ctrl-C during `lowprof sweep`, sent for real (SIGINT to the sweep's process group, as a terminal does)
once the first point has finished, as seen by polling the sweep folder: the finished points stay listed,
the point cut short keeps its run directory marked INCOMPLETE, stderr says what ran, exit status 130;
a second Ctrl-C stops at once, killing a workload that ignores SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lowprof
from lowprof.rundir.many import expand, read_sweep
from tests.conftest import lowprof_cmd

pytestmark = pytest.mark.slow

# Point n=1 ends at once; the others write their pid to MARKER-<n> and sleep (IGNORE=1: ignoring SIGINT).
WORKLOAD = ("import os, signal, sys, time\n"
            "n, marker = sys.argv[1], sys.argv[2]\n"
            "if os.environ.get('IGNORE') == '1': signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "if n != '1':\n"
            "    open(marker + '-' + n, 'w').write(str(os.getpid()))\n"
            "    time.sleep(120)\n")


def _poll(what, timeout_s: float = 120.0, every_s: float = 0.05):
    """Wait until ``what()`` is true (a hang guard, not a measurement)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        got = what()
        if got:
            return got
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what.__doc__ or what}")


def _finished_points(sweep: Path) -> int:
    """points listed in sweep.json"""
    try:
        return len(json.loads((sweep / "sweep.json").read_text())["runs"])
    except (OSError, ValueError, KeyError):
        return 0


def _start(tmp_path: Path, ignore: bool) -> tuple[subprocess.Popen, Path, Path, Path]:
    sweep, marker, errf = tmp_path / "s", tmp_path / "started", tmp_path / "stderr.txt"
    env = os.environ | {"IGNORE": "1" if ignore else "0", "COLUMNS": "200"}
    p = subprocess.Popen(lowprof_cmd("sweep", "-p", "n=1,2,3", "--out", sweep, "--probes", "system", "--",
                                     sys.executable, "-c", WORKLOAD, "{n}", str(marker)),
                         stdout=subprocess.PIPE, stderr=open(errf, "w"), text=True, env=env,
                         start_new_session=True)  # its own group: the test is the terminal
    _poll(lambda: _finished_points(sweep) == 1)  # the first point is done
    _poll(lambda: Path(f"{marker}-2").is_file() and Path(f"{marker}-2").read_text())  # n=2's workload runs
    return p, sweep, marker, errf


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def _check_sweep_json(sweep: Path) -> dict:
    doc = read_sweep(sweep)  # valid against the sweep schema
    assert doc["runs"] == [{"params": {"n": "1"}, "dir": "n=1", "exit_code": 0}]
    assert doc["status"] == "interrupted"
    assert doc["interrupted"]["params"] == {"n": "2"} and doc["interrupted"]["dir"] == "n=2"
    assert doc["interrupted"]["state"] == "incomplete"
    assert doc["not_run"] == [{"params": {"n": "3"}, "dir": "n=3"}]
    assert not (sweep / "n=3").exists()
    assert [m.label for m in expand(sweep)] == ["s/n=1"]  # readers see the finished point only
    assert lowprof.load(sweep / "n=1").complete
    cut = lowprof.load(sweep / "n=2")
    assert cut.state == "incomplete" and cut.manifest["status"] == "interrupted"
    return doc


def test_ctrl_c_keeps_the_finished_points_and_marks_the_cut_one(tmp_path):
    p, sweep, marker, errf = _start(tmp_path, ignore=False)
    os.killpg(p.pid, signal.SIGINT)
    out, _ = p.communicate(timeout=120)
    err = errf.read_text()
    assert p.returncode == 130, err
    doc = _check_sweep_json(sweep)
    assert doc["interrupted"]["exit_code"] == 130
    run = lowprof.load(sweep / "n=2")
    assert run.manifest["workload"]["signal"] == "SIGINT"  # the workload got the Ctrl-C, once
    assert "second" not in run.manifest["interrupted"]
    assert "Ctrl-C again stops at once" in err
    assert "ran n=1 (exit 0)" in err and "cut short: n=2" in err and "marked INCOMPLETE" in err
    assert "not run: n=3" in err and "Traceback" not in err
    assert "n=1" in out  # the table of the finished points
    assert not _alive(int(Path(f"{marker}-2").read_text()))
    rep = subprocess.run(lowprof_cmd("report", sweep / "n=2"), capture_output=True, text=True,
                         env=os.environ | {"COLUMNS": "200"})
    assert rep.returncode == 0 and "INCOMPLETE (interrupted: lowprof sweep: Ctrl-C" in rep.stdout


def test_a_second_ctrl_c_stops_at_once_and_kills_the_workload(tmp_path):
    p, sweep, marker, errf = _start(tmp_path, ignore=True)
    os.killpg(p.pid, signal.SIGINT)
    _poll(lambda: "Ctrl-C again stops at once" in errf.read_text())  # the sweep took the first one
    assert p.poll() is None  # still waiting: the workload ignores SIGINT
    os.killpg(p.pid, signal.SIGINT)
    p.communicate(timeout=60)
    err = errf.read_text()
    assert p.returncode == 130, err
    _check_sweep_json(sweep)
    assert "second Ctrl-C: point n=2 killed" in err and "not run: n=3" in err and "Traceback" not in err
    assert "second Ctrl-C" in lowprof.load(sweep / "n=2").manifest["interrupted"]
    workload = int(Path(f"{marker}-2").read_text())
    _poll(lambda: not _alive(workload), timeout_s=10)


def test_sigterm_to_the_sweep_alone_is_forwarded_and_stops_after_the_point(tmp_path):
    """`kill PID` of the sweep only (not its group): the point's workload gets SIGTERM, exit 128 + 15."""
    p, sweep, marker, errf = _start(tmp_path, ignore=False)
    os.kill(p.pid, signal.SIGTERM)
    p.communicate(timeout=120)
    err = errf.read_text()
    assert p.returncode == 128 + signal.SIGTERM, err
    _check_sweep_json(sweep)
    assert lowprof.load(sweep / "n=2").manifest["workload"]["signal"] == "SIGTERM"
    assert "sweep interrupted by SIGTERM: ran n=1 (exit 0)" in err and "not run: n=3" in err
    assert not _alive(int(Path(f"{marker}-2").read_text()))

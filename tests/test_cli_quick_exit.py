"""``lowprof import`` run as the program ends the process as soon as it is done (no interpreter teardown): its
exit status, its output and the atexit functions are those of a normal exit, and a non-daemon thread still
running gets the normal exit (it is waited for)."""

from __future__ import annotations

import subprocess
import sys

import pyarrow.parquet as pq

from tests.conftest import TRACES

TRACE = TRACES / "kineto" / "critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz"

_PROGRAM = r"""
import atexit, sys, threading, time
atexit.register(lambda: sys.stdout.write("atexit ran\n"))
if "--thread" in sys.argv:
    sys.argv.remove("--thread")
    threading.Thread(target=lambda: (time.sleep(0.5), sys.stdout.write("thread done\n"))).start()
from lowprof.cli import main
sys.exit(main())
"""


def _program(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _PROGRAM, *argv], capture_output=True, text=True, timeout=120)


def test_import_as_program_exits_with_its_output_and_atexit(tmp_path):
    p = _program("import", str(TRACE), "--out", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "atexit ran\n"
    assert p.stderr.startswith("lowprof: ") and "launches: " in p.stderr
    launches = pq.read_table(tmp_path / "r" / "tables" / "launches.parquet")
    assert launches.num_rows > 0


def test_import_error_as_program_is_one_line_and_status_1(tmp_path):
    p = _program("import", str(tmp_path / "missing.json"), "--out", str(tmp_path / "r"))
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "no such trace file" in p.stderr
    assert p.stdout == "atexit ran\n"


def test_a_running_thread_gets_the_normal_exit(tmp_path):
    p = _program("import", str(tmp_path / "missing.json"), "--out", str(tmp_path / "r"), "--thread")
    assert p.returncode == 1
    assert p.stdout == "thread done\natexit ran\n"

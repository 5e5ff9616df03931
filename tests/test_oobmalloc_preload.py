"""oobmalloc as the whole process's malloc (LD_PRELOAD): Python runs part of this test suite and a
threaded numpy/pandas program under it, and `lowprof run --allocator oob` records its stats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lowprof
from tests.conftest import REPO, run_cli

oob = pytest.importorskip("lowprof.native.oobmalloc")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD is Linux-only here")

THREADED = """
import threading, numpy as np, pandas as pd
def work(k):
    d = {i: str(i) * (i % 40) for i in range(20000)}
    df = pd.DataFrame(np.random.rand(2000, 20)).groupby(lambda i: i % 7).sum()
    b = bytearray()
    for i in range(3000):
        b += bytes(97)  # realloc growth
    out.append((len(d), df.shape, len(b)))
out = []
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
assert out == [(20000, (7, 20), 291000)] * 4, out
print("done")
"""


def _preloaded(stats_dir: Path) -> dict[str, str]:
    return os.environ | {"LD_PRELOAD": str(oob.preload_path()), "OOBMALLOC_STATS": str(stats_dir)}


def _main_stats(stats_dir: Path, pid: int) -> dict:
    rows = {r["pid"]: r for r in oob.read_stats_dir(stats_dir)}
    assert pid in rows, f"the preloaded library wrote no stats for pid {pid}: {sorted(rows)}"
    return rows[pid]


def test_python_runs_part_of_the_test_suite_under_preload(tmp_path):
    tests = ["tests/test_rundir.py", "tests/test_tlb_curve.py", "tests/test_oobmalloc.py::test_stats_track_usable_bytes_and_fragmentation"]
    p = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=REPO,
                         env=_preloaded(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = p.communicate(timeout=180)
    assert p.returncode == 0, out[-4000:]
    assert " passed" in out and "failed" not in out
    s = _main_stats(tmp_path, p.pid)
    assert s["allocs"] > 50_000 and s["frees"] > 10_000 and s["errors"] == 0, s
    assert s["large_allocs"] > 0 and s["bytes_meta"] > 0


def test_threaded_numpy_pandas_program_under_preload(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", THREADED], env=_preloaded(tmp_path), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0 and "done" in out, err[-3000:]
    s = _main_stats(tmp_path, p.pid)
    # The main thread and the workers got heaps (a worker that starts after another ended reuses its
    # heap; numpy's BLAS may add threads of its own).
    assert s["heaps"] >= 2, s
    assert s["allocs"] > 20_000 and s["errors"] == 0


def test_double_free_under_preload_dies_with_message(tmp_path):
    code = ("import ctypes; libc = ctypes.CDLL(None); libc.malloc.restype = ctypes.c_void_p\n"
            "p = libc.malloc(200); libc.free(ctypes.c_void_p(p)); libc.free(ctypes.c_void_p(p))\nprint('survived')")
    p = subprocess.run([sys.executable, "-c", code], env=_preloaded(tmp_path), capture_output=True, text=True, timeout=60)
    assert p.returncode == -6, (p.returncode, p.stderr[-2000:])
    assert "oobmalloc: double free" in p.stderr and "survived" not in p.stdout


def test_lowprof_run_allocator_oob_records_stats(tmp_path):
    out = tmp_path / "run"
    code = "x = [bytes(600 + i % 3000) for i in range(100000)]; del x[::2]; print(len(x))"
    p = run_cli("run", "--allocator", "oob", "--out", out, "--probes", "system", "--", sys.executable, "-c", code)
    assert p.returncode == 0, p.stderr
    run = lowprof.load(out)
    table = run.tables["allocator"]
    main = table[table.is_workload]
    assert len(main) == 1 and int(main.allocs.iloc[0]) > 50_000
    assert int(main.in_use_bytes.iloc[0]) <= int(main.active_bytes.iloc[0]) <= int(main.peak_active_bytes.iloc[0])
    assert 0.0 <= float(main.fragmentation.iloc[0]) < 1.0
    entry = run.manifest["allocator"]
    assert entry["status"] == "ok" and entry["workload"]["allocs"] == int(main.allocs.iloc[0])
    assert run.table_unit("allocator", "in_use_bytes") == "B"
    rep = run_cli("report", out, "--json")
    assert rep.returncode == 0, rep.stderr
    section = json.loads(rep.stdout)["allocator"]
    assert section["status"] == "ok" and section["allocations"].startswith(str(int(main.allocs.iloc[0])))


def test_lowprof_run_allocator_oob_killed_workload_says_so(tmp_path):
    out = tmp_path / "run"
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    p = run_cli("run", "--allocator", "oob", "--out", out, "--probes", "system", "--", sys.executable, "-c", code)
    assert p.returncode != 0
    run = lowprof.load(out)
    assert "signal" in run.manifest["allocator"]["status"]
    assert len(run.tables["allocator"]) == 0

"""`lowprof launches --csv` writes integers as integers: grid, block, registers, shared memory and
bytes equal the trace's own integers (the Kineto JSON args), parsed back with the csv module."""

from __future__ import annotations

import csv
import gzip
import io
import json

from lowprof.cli import main as cli

TRACE = "kineto/critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"


def test_launches_csv_integers_as_in_the_trace(traces, tmp_path, capsys):
    src = traces / TRACE
    assert cli(["import", str(src), "--out", str(tmp_path / "rd")]) == 0
    capsys.readouterr()
    assert cli(["launches", str(tmp_path / "rd"), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    by_corr = {}
    for e in json.load(gzip.open(src))["traceEvents"]:
        if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and "correlation" in e.get("args", {}):
            by_corr[e["args"]["correlation"]] = e["args"]
    checked = 0
    for r in rows:
        a = by_corr[int(r["correlation"])]
        want = {}
        if "grid" in a:
            want |= {f"grid_{d}": a["grid"][i] for i, d in enumerate("xyz")}
            want |= {f"block_{d}": a["block"][i] for i, d in enumerate("xyz")}
            want |= {"registers_per_thread": a["registers per thread"], "shared_memory_bytes": a["shared memory"]}
        if "bytes" in a:
            want["bytes"] = a["bytes"]
        for col, v in want.items():
            assert r[col] == str(v), (col, r[col], v)  # "864", not "864.0"
            checked += 1
        for col in ("cpu_start_ns", "gpu_start_ns", "api_ns", "queue_ns", "t_l_ns"):
            assert r[col] == str(int(r[col])), (col, r[col])
    assert checked >= 8 * 79  # 79 kernels x 8 launch dimensions, plus the copies' bytes

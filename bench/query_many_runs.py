"""`lowprof query` (DuckDB over the run-directory layer) vs `load_many` + pandas, over many runs.

Builds N copies of one real imported run (rank 0 of HTA's sampled NCCL job: 1204 GPU activities) in a
temporary folder, then times, in this process, alternating sides, the fastest of ``--repeats``:
  query   catalog(GLOB) + query("SELECT run, count(*), sum(gpu_end_ns - gpu_start_ns) FROM launches GROUP BY run")
  pandas  load_many(GLOB)["launches"].groupby("run") with the same figures
and checks the two results are equal. It prints times and the ratio; it asserts nothing.

    python bench/query_many_runs.py [--runs 50,200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRACE = REPO / "tests" / "data" / "traces" / "kineto" / "timeline_analysis__sampled_rank-0.json.gz"
SQL = "SELECT run, count(*) AS n, sum(gpu_end_ns - gpu_start_ns) AS gpu_ns FROM launches GROUP BY run ORDER BY run"


def _query(glob: str):
    from lowprof.rundir.query import catalog, query

    return query(catalog(glob), SQL).to_pandas()


def _pandas(glob: str):
    import lowprof

    la = lowprof.load_many(glob)["launches"]
    g = la.assign(gpu_ns=la["gpu_end_ns"] - la["gpu_start_ns"]).groupby("run", observed=True)
    return (g.agg(n=("gpu_ns", "size"), gpu_ns=("gpu_ns", "sum")).reset_index()
            .assign(run=lambda d: d["run"].astype(str)).sort_values("run").reset_index(drop=True))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="50,200", help="comma-separated numbers of runs")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one"
        subprocess.run([sys.executable, "-m", "lowprof", "import", str(TRACE), "--out", str(one), "--quiet"], check=True)
        for n in (int(v) for v in args.runs.split(",")):
            where = Path(tmp) / f"n{n}"
            for i in range(n):
                shutil.copytree(one, where / f"run{i:04d}")
            glob = str(where / "run*")
            best = {"query": float("inf"), "pandas": float("inf")}
            results = {}
            for _ in range(args.repeats):
                for side, fn in (("query", _query), ("pandas", _pandas)):
                    t0 = time.perf_counter()
                    results[side] = fn(glob)
                    best[side] = min(best[side], time.perf_counter() - t0)
            q, p = results["query"], results["pandas"]
            same = (q["run"].tolist() == p["run"].tolist() and q["n"].tolist() == p["n"].tolist()
                    and q["gpu_ns"].astype("int64").tolist() == p["gpu_ns"].astype("int64").tolist())
            print(f"{n:5d} runs ({n * 1204} rows): query {best['query'] * 1e3:8.1f} ms, load_many+pandas "
                  f"{best['pandas'] * 1e3:8.1f} ms, pandas/query {best['pandas'] / best['query']:.2f}x, "
                  f"results equal: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

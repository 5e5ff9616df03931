"""oobmalloc against glibc malloc on mimalloc-bench-like workloads, in one run.

bench/alloc_bench.c is compiled here with the system C compiler and each workload runs as its own
process twice per repeat, once with glibc's malloc and once with ``LD_PRELOAD=liboobmalloc`` (the
order alternates between repeats). Throughput is allocator calls per second of wall time (best of
the repeats, the least disturbed by other load); peak RSS is the process's VmHWM (median).
Ratios are oob / glibc: speed > 1 means oobmalloc is faster, memory > 1 means it used more.

    python bench/alloc_bench.py [--repeats 3] [--threads 2] [--scale 4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lowprof.native.oobmalloc import preload_path

WORKLOADS = {
    "larson": "threads replace random 16-1024 B objects in slot arrays that rotate between threads",
    "small": "build and free a million 16-64 B objects per thread, three times",
    "mixed": "log-uniform 16 B-128 KiB objects replacing a 20000-slot live set",
    "realloc": "grow 200 buffers to 64 KiB and one to 16 MiB by realloc, appending data",
    "xthread": "one thread mallocs 4096-object batches, another frees them (all frees remote)",
}
SOURCE = Path(__file__).with_name("alloc_bench.c")


def build(out_dir: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("alloc_bench: no C compiler (cc/gcc) on PATH")
    exe = out_dir / "alloc_bench"
    subprocess.run([cc, "-O2", "-pthread", "-o", str(exe), str(SOURCE)], check=True)
    return exe


def run_once(exe: Path, workload: str, threads: int, scale: int, preload: str | None) -> dict:
    """One process: its JSON line (ops, seconds, check, peak_rss_bytes)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if preload:
        env["LD_PRELOAD"] = preload
    p = subprocess.run([str(exe), workload, str(threads), str(scale)], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"alloc_bench: {workload} with {'oobmalloc' if preload else 'glibc'} failed "
                 f"(exit {p.returncode}): {p.stderr.strip()[-500:]}")
    return json.loads(p.stdout)


def compare(exe: Path, threads: int, scale: int, repeats: int) -> list[dict]:
    lib = str(preload_path())
    rows = []
    for name in WORKLOADS:
        runs = {"glibc": [], "oob": []}
        for r in range(repeats):
            order = ("glibc", "oob") if r % 2 == 0 else ("oob", "glibc")
            for who in order:
                runs[who].append(run_once(exe, name, threads, scale, lib if who == "oob" else None))
        if runs["glibc"][0]["check"] != runs["oob"][0]["check"]:
            sys.exit(f"alloc_bench: {name}: checksums differ between allocators (a correctness bug)")
        best = {k: max(x["ops"] / x["seconds"] for x in v) for k, v in runs.items()}
        rss = {k: statistics.median(x["peak_rss_bytes"] for x in v) for k, v in runs.items()}
        rows.append({"workload": name, "ops": runs["oob"][0]["ops"],
                     "glibc_ops_per_s": best["glibc"], "oob_ops_per_s": best["oob"],
                     "speed_ratio": best["oob"] / best["glibc"],
                     "glibc_peak_rss_bytes": rss["glibc"], "oob_peak_rss_bytes": rss["oob"],
                     "rss_ratio": rss["oob"] / rss["glibc"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="runs per allocator and workload (default 3)")
    ap.add_argument("--threads", type=int, default=2, help="worker threads where the workload is threaded")
    ap.add_argument("--scale", type=int, default=4, help="work multiplier (default 4: about 10 s in all)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = compare(build(Path(tmp)), args.threads, args.scale, args.repeats)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    t = Table(title=f"oobmalloc / glibc ({args.threads} threads, scale {args.scale}, best/median of {args.repeats})")
    for col in ("workload", "glibc Mops/s", "oob Mops/s", "speed ratio", "glibc peak RSS MiB",
                "oob peak RSS MiB", "RSS ratio"):
        t.add_column(col, justify="left" if col == "workload" else "right")
    for r in rows:
        t.add_row(r["workload"], f"{r['glibc_ops_per_s'] / 1e6:.2f}", f"{r['oob_ops_per_s'] / 1e6:.2f}",
                  f"{r['speed_ratio']:.2f}", f"{r['glibc_peak_rss_bytes'] / 2**20:.1f}",
                  f"{r['oob_peak_rss_bytes'] / 2**20:.1f}", f"{r['rss_ratio']:.2f}")
    geo = statistics.geometric_mean
    t.add_row("geomean", "", "", f"{geo([r['speed_ratio'] for r in rows]):.2f}", "", "",
              f"{geo([r['rss_ratio'] for r in rows]):.2f}")
    Console().print(t)
    for name, what in WORKLOADS.items():
        print(f"  {name}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

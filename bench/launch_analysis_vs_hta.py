"""lowprof import + launch analysis vs HTA load + get_cuda_kernel_launch_stats, on the same trace.

Each side runs in its own subprocess (so each peak RSS is its own), timing from process start of the
work (imports included, as a user pays them) to the result. Prints seconds, peak RSS and the ratio.
Traces: the largest shared Kineto trace, and with ``--replicate N`` a synthetic trace made of N
copies of it shifted in time (correlation ids made unique), for multi-hundred-thousand-event runs.

    python bench/launch_analysis_vs_hta.py [--replicate 3] [--trace PATH]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRACES = REPO.parent / "shared" / "traces" / "kineto"

LOWPROF = """
import resource, sys, time
t0 = time.perf_counter()
from lowprof.tracers.importer import import_trace
from lowprof.analysis.launches import launch_summary
import lowprof
run = lowprof.load(import_trace(sys.argv[1], sys.argv[2], force=True))
s = launch_summary(run)
dt = time.perf_counter() - t0
print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, s["linked_to_launch_call"])
"""
HTA = """
import logging, resource, shutil, sys, time, warnings
warnings.filterwarnings("ignore"); logging.disable(logging.CRITICAL)
t0 = time.perf_counter()
from hta.trace_analysis import TraceAnalysis
ta = TraceAnalysis(trace_dir=sys.argv[1])
r = ta.get_cuda_kernel_launch_stats(ranks=ta.t.get_ranks()[:1], visualize=False)
dt = time.perf_counter() - t0
print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, sum(len(v) for v in r.values()))
"""


def _replicate(src: Path, n: int, dst: Path) -> int:
    doc = json.loads(gzip.open(src).read())
    ev = doc["traceEvents"]
    ts = [e["ts"] for e in ev if isinstance(e.get("ts"), (int, float))]
    span = max(ts) - min(ts) + 1000
    big = 10 ** 9
    out = []
    for i in range(n):
        for e in ev:
            e2 = dict(e)
            if isinstance(e2.get("ts"), (int, float)):
                e2["ts"] = e2["ts"] + i * span
            if isinstance(e2.get("args"), dict) and "correlation" in e2["args"]:
                e2["args"] = dict(e2["args"], correlation=e2["args"]["correlation"] + i * big)
            if e2.get("ph") in ("s", "f") and "id" in e2:
                e2["id"] = e2["id"] + i * big
            out.append(e2)
    doc["traceEvents"] = out
    with gzip.open(dst, "wt") as f:
        json.dump(doc, f)
    return len(out)


def _run(code: str, *args: str) -> tuple[float, int, int]:
    p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO)
    if p.returncode:
        raise SystemExit(p.stderr[-2000:])
    dt, rss, n = p.stdout.split()[-3:]
    return float(dt), int(rss), int(n)


def bench(trace: Path, label: str, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        hta_dir = Path(tmp) / "hta"
        hta_dir.mkdir()
        (hta_dir / trace.name).symlink_to(trace.resolve())
        lp = min((_run(LOWPROF, str(trace), str(Path(tmp) / "run")) for _ in range(repeats)), key=lambda r: r[0])
        ht = min((_run(HTA, str(hta_dir)) for _ in range(repeats)), key=lambda r: r[0])
    mib = 1 << 20
    print(f"{label}: {trace.stat().st_size / mib:.1f} MiB gz")
    print(f"  lowprof import+analysis : {lp[0]:6.2f} s  peak RSS {lp[1] / mib:6.0f} MiB  ({lp[2]} launches linked)")
    print(f"  HTA load+launch stats   : {ht[0]:6.2f} s  peak RSS {ht[1] / mib:6.0f} MiB  ({ht[2]} launches)")
    print(f"  speed-up {ht[0] / lp[0]:.1f}x, memory ratio lowprof/HTA {lp[1] / ht[1]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", type=Path, help="trace to use (default: the largest shared Kineto trace)")
    ap.add_argument("--replicate", type=int, default=0, metavar="N", help="also bench N copies of it in one trace")
    ap.add_argument("--repeats", type=int, default=1, help="runs per side; the fastest counts (default 1)")
    a = ap.parse_args()
    trace = a.trace or max(TRACES.glob("*.json.gz"), key=lambda p: p.stat().st_size)
    bench(trace, trace.name, a.repeats)
    if a.replicate > 1:
        with tempfile.TemporaryDirectory() as tmp:
            big = Path(tmp) / f"x{a.replicate}_{trace.name}"
            n = _replicate(trace, a.replicate, big)
            bench(big, f"{a.replicate} copies ({n} events)", a.repeats)


if __name__ == "__main__":
    main()

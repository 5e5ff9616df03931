"""lowprof import + launch analysis vs HTA load + get_cuda_kernel_launch_stats, on the same trace.

Each side runs in its own fresh subprocess (so each peak RSS is its own) and reports two times:
  whole process  wall time of the subprocess, interpreter start and imports included (what a user
                 waits for at the shell); a third side, ``lowprof import TRACE --out DIR --force`` (the
                 CLI, its report line included), is timed whole process only;
  in-process     load + analysis only, timed after the tool's modules are imported:
                 lowprof = import_trace (parse, link, write the run directory) + lowprof.load +
                 launch_summary (TKLQT per pass, idle split, queue depth, top kernels);
                 HTA     = TraceAnalysis(trace_dir) (parse the rank's trace) + get_cuda_kernel_launch_stats.
Peak RSS is the subprocess's VmHWM (not ru_maxrss: Linux keeps the forking parent's RSS in it across
exec); "work RSS" is that peak minus the peak right after the imports.
Each configuration runs ``--repeats`` times per side, alternating sides (lowprof, CLI, HTA); the fastest
run and the median are printed, and the speed-ups of both (HTA's time over lowprof's). Each lowprof run
writes a new run directory (a first import: no earlier one to delete).
Traces: the largest shared Kineto trace; with ``--replicate N,M`` also synthetic traces of N and M
copies of it (ts shifted by the trace span per copy; correlation, flow and External ids and
ProfilerStep numbers made unique per copy). ``--hta-max-events`` skips HTA above that size (it
holds every event as Python objects); the script prints ratios, it asserts nothing.

    python bench/launch_analysis_vs_hta.py [--replicate 2,15] [--repeats 3] [--trace PATH]

``--replicate 2`` of the default trace is issue 16's 210,334-event, 53 MB (uncompressed) Kineto trace.

Both sides start from byte-compiled modules, as installed packages do (pip compiles HTA's at install): the
bench compiles this tree's lowprof first (``__pycache__``, git-ignored). Without that, where
PYTHONDONTWRITEBYTECODE is set (this project's VMs) lowprof's ~60 modules are compiled from source in every
run (~40 ms of each lowprof whole-process figure) and HTA's never are.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
TRACES = REPO / "tests" / "data" / "traces" / "kineto"

LOWPROF = """
import resource, sys, time
def rss():  # VmHWM: peak RSS of this process image (ru_maxrss would keep the forking parent's RSS)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
t0 = time.perf_counter()
import lowprof
from lowprof.tracers.importer import import_trace
from lowprof.tracers import kineto_scan
from lowprof.analysis.launches import launch_summary
t1 = time.perf_counter(); r1 = rss()
run = lowprof.load(import_trace(sys.argv[1], sys.argv[2], force=True))
s = launch_summary(run)
t2 = time.perf_counter()
print("RESULT", t1 - t0, t2 - t1, r1, rss(), s["linked_to_launch_call"], run.manifest["trace"]["parser"]["reader"])
"""
HTA = """
import logging, resource, sys, time, warnings
warnings.filterwarnings("ignore"); logging.disable(logging.CRITICAL)
def rss():  # VmHWM: peak RSS of this process image (ru_maxrss would keep the forking parent's RSS)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
t0 = time.perf_counter()
from hta.trace_analysis import TraceAnalysis
t1 = time.perf_counter(); r1 = rss()
ta = TraceAnalysis(trace_dir=sys.argv[1])
r = ta.get_cuda_kernel_launch_stats(ranks=ta.t.get_ranks()[:1], visualize=False)
t2 = time.perf_counter()
print("RESULT", t1 - t0, t2 - t1, r1, rss(), sum(len(v) for v in r.values()), "hta")
"""


def _decimal(v):
    if isinstance(v, Decimal):
        return orjson.Fragment(str(v).encode())
    raise TypeError(type(v))


def replicate(src: Path, n: int, dst: Path) -> int:
    """Write ``n`` time-shifted copies of ``src``'s events into ``dst`` (gzip, one event per line).

    Timestamps are shifted as decimals and written with the digits they had (ns floats stay exact).
    """
    doc = json.loads(gzip.decompress(src.read_bytes()), parse_float=Decimal)
    ev = doc.pop("traceEvents")
    ts = [e["ts"] for e in ev if isinstance(e.get("ts"), (int, Decimal))]
    span = max(ts) - min(ts) + 1000
    big = 10 ** 9
    step = re.compile(r"^(ProfilerStep#)(\d+)$")
    with gzip.open(dst, "wb", compresslevel=1) as f:
        f.write(b'{\n  "traceEvents": [\n  ')
        first = True
        for i in range(n):
            out = []
            for e in ev:
                e2 = dict(e)
                if isinstance(e2.get("ts"), (int, Decimal)):
                    e2["ts"] = e2["ts"] + i * span
                a = e2.get("args")
                if isinstance(a, dict):
                    a = dict(a)
                    for k in ("correlation", "External id"):
                        if isinstance(a.get(k), int):
                            a[k] += i * big
                    e2["args"] = a
                if e2.get("ph") in ("s", "f", "t") and isinstance(e2.get("id"), int):
                    e2["id"] += i * big
                if isinstance(e2.get("name"), str) and (m := step.match(e2["name"])):
                    e2["name"] = f"{m.group(1)}{int(m.group(2)) + i * 1000}"
                out.append(orjson.dumps(e2, default=_decimal))
            f.write((b"" if first else b",\n  ") + b",\n  ".join(out))
            first = False
        f.write(b"\n  ]")
        for k, v in doc.items():
            f.write(b",\n  " + orjson.dumps(k) + b": " + orjson.dumps(v, default=_decimal))
        f.write(b"\n}\n")
    return n * len(ev)


def _run(code: str, *args: str, timeout: float) -> dict | None:
    t = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    wall = time.perf_counter() - t
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")), None)
    if p.returncode or line is None:
        raise SystemExit(p.stderr[-2000:])
    _, t_imp, t_work, rss_imp, rss_peak, n, reader = line.split()
    return {"wall": wall, "imports": float(t_imp), "work": float(t_work), "rss_imports": int(rss_imp),
            "rss": int(rss_peak), "n": int(n), "reader": reader}


def _run_cli(trace: Path, out: Path, timeout: float) -> dict | None:
    """``lowprof import TRACE --out OUT --force`` as a user runs it (the console script), whole process."""
    exe = Path(sys.executable).with_name("lowprof")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from lowprof.cli import main; sys.exit(main())"]
    env = dict(os.environ, PYTHONPATH=str(REPO))  # this tree's lowprof, as the other side's `-c` gets from cwd
    t = time.perf_counter()
    try:
        p = subprocess.run([*cmd, "import", str(trace), "--out", str(out), "--force"], capture_output=True,
                           text=True, cwd=REPO, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None
    wall = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(p.stderr[-2000:])
    return {"wall": wall}


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def bench(trace: Path, label: str, repeats: int, with_hta: bool, timeout: float) -> None:
    lp, cli, ht = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        hta_dir = Path(tmp) / "hta"
        hta_dir.mkdir()
        (hta_dir / trace.name).symlink_to(trace.resolve())
        for i in range(repeats):  # a new run directory each time: an import, not the deletion of the last one
            lp.append(_run(LOWPROF, str(trace), str(Path(tmp) / f"run{i}"), timeout=timeout))
            cli.append(_run_cli(trace, Path(tmp) / f"cli{i}", timeout=timeout))
            if with_hta:
                ht.append(_run(HTA, str(hta_dir), timeout=timeout))
    mib = 1 << 20
    print(f"\n{label}: {trace.stat().st_size / mib:.1f} MiB gz, {repeats} runs per side (best | median)")
    best, med = {}, {}
    for name, runs in (("lowprof import+analysis", lp), ("HTA load+launch stats", ht)):
        runs = [r for r in runs if r]
        if not runs:
            if name.startswith("HTA"):
                print(f"  {name:24}: not run" + (f" (timed out after {timeout:.0f} s)" if with_hta else
                                                  " (above --hta-max-events)"))
            continue
        w = min(runs, key=lambda r: r["wall"])
        k = min(runs, key=lambda r: r["work"])
        best[name[:3]] = (w, k)
        med[name[:3]] = (_median([r["wall"] for r in runs]), _median([r["work"] for r in runs]))
        print(f"  {name:24}: whole process {w['wall']:6.2f} s | {med[name[:3]][0]:6.2f} s (imports {w['imports']:.2f} s), "
              f"peak RSS {w['rss'] / mib:5.0f} MiB | in-process {k['work']:6.2f} s | {med[name[:3]][1]:6.2f} s, work RSS "
              f"{(k['rss'] - k['rss_imports']) / mib:5.0f} MiB | {k['n']} launches ({k['reader']})")
    cli = [r for r in cli if r]
    if cli:
        med["cli"] = _median([r["wall"] for r in cli])
        best["cli"] = min(r["wall"] for r in cli)
        print(f"  {'lowprof import (CLI)':24}: whole process {best['cli']:6.2f} s | {med['cli']:6.2f} s")
    if "HTA" in best and "low" in best:
        (lw, lk), (hw, hk) = best["low"], best["HTA"]
        print(f"  speed-up over HTA, best | median: whole process {hw['wall'] / lw['wall']:.1f}x | "
              f"{med['HTA'][0] / med['low'][0]:.1f}x, in-process {hk['work'] / lk['work']:.1f}x | "
              f"{med['HTA'][1] / med['low'][1]:.1f}x; peak RSS lowprof/HTA {lw['rss'] / hw['rss']:.2f}, work RSS "
              f"{(lk['rss'] - lk['rss_imports']) / max(1, hk['rss'] - hk['rss_imports']):.2f}")
        if "cli" in best:
            print(f"  speed-up over HTA, best | median: `lowprof import` whole process {hw['wall'] / best['cli']:.1f}x | "
                  f"{med['HTA'][0] / med['cli']:.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", type=Path, help="trace to use (default: the largest shared Kineto trace)")
    ap.add_argument("--replicate", default="", metavar="N,M", help="also bench traces of N (and M...) copies of it")
    ap.add_argument("--repeats", type=int, default=3, help="runs per side; the fastest counts (default 3)")
    ap.add_argument("--hta-max-events", type=int, default=400_000, help="skip HTA above this many events")
    ap.add_argument("--timeout", type=float, default=300, help="seconds before a run is given up")
    ap.add_argument("--no-base", action="store_true", help="bench only the --replicate copies, not the trace itself")
    a = ap.parse_args()
    import compileall

    compileall.compile_dir(REPO / "lowprof", quiet=1)  # as pip does at install (see the docstring)
    trace = a.trace or max(TRACES.glob("*.json.gz"), key=lambda p: p.stat().st_size)
    n0 = len(orjson.loads(gzip.decompress(trace.read_bytes()))["traceEvents"])
    if not a.no_base:
        bench(trace, f"{trace.name} ({n0:,} events)", a.repeats, True, a.timeout)
    for n in [int(x) for x in a.replicate.split(",") if x]:
        with tempfile.TemporaryDirectory() as tmp:
            big = Path(tmp) / f"x{n}_{trace.name}"
            events = replicate(trace, n, big)
            bench(big, f"{n} copies ({events:,} events)", a.repeats, events <= a.hta_max_events, a.timeout)


if __name__ == "__main__":
    main()

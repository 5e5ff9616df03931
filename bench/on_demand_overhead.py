"""What arming costs, and what one on-demand window costs, on a torch CPU loop of small ops.

    .venv/bin/python bench/on_demand_overhead.py [--rounds 5] [--seconds 3] [--window 1] [--control]

1. Armed but idle: the same loop (``x = torch.tanh(x + 1) * 0.5`` on a 64-element tensor, a few µs per op)
   runs for ``--seconds`` in a process started unarmed and, at the same time, in one started armed exactly as
   ``lowprof run --trace kernels --on-demand`` starts it (lowprof's ``_boot`` first on PYTHONPATH,
   ``LOWPROF_ON_DEMAND_DIR`` and ``LOWPROF_KINETO_DIR`` set), ``--rounds`` times. Printed: the median and
   quartiles of the per-round ratio armed/unarmed, of wall-clock and of CPU-time throughput (goal: >= 0.99).
2. One window: an armed process runs the loop; ``--window`` s into it this script asks its agent for a
   ``--window`` s trace through the same client ``lowprof attach --trace kernels`` uses. From the loop's own
   timestamps (every 100 iterations, CLOCK_MONOTONIC) and the window bounds the agent logged: throughput
   inside the window / outside it, the longest pause of the loop at the window's start and at its end (the
   profiler start; stop + export of the trace on the main thread), and the request's wall time
   (claim -> done, what attach waits for besides its own start-up).

Ratios only, measured side by side in one run: the machine (2 shared cores) is too noisy for absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lowprof.tracers._boot._lowprof_ondemand_agent import ENV_KINETO_DIR, ENV_SOCK_DIR, ensure_private_dir, runtime_dir, socket_path  # noqa: E402
from lowprof.tracers.live import BOOT_DIR  # noqa: E402

LOOP = textwrap.dedent("""
    import json, sys, time
    import torch
    seconds, out = float(sys.argv[1]), sys.argv[2]
    x = torch.zeros(64)
    stamps = []
    for _ in range(2000):  # warm up
        x = torch.tanh(x + 1) * 0.5
    print("ready", flush=True)
    if len(sys.argv) > 3:  # wait for the go of the window bench
        sys.stdin.readline()
    t0, c0 = time.monotonic_ns(), time.thread_time_ns()
    end = t0 + int(seconds * 1e9)
    n = 0
    while True:
        for _ in range(100):
            x = torch.tanh(x + 1) * 0.5
        n += 100
        t = time.monotonic_ns()
        stamps.append(t)
        if t >= end:
            break
    open(out, "w").write(json.dumps({"t0": t0, "stamps": stamps, "iterations": n,
                                     "cpu_ns": time.thread_time_ns() - c0}))
""")


def _env(armed: bool, kdir: Path) -> dict:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    if armed:
        env |= {"PYTHONPATH": str(BOOT_DIR), ENV_SOCK_DIR: runtime_dir(), ENV_KINETO_DIR: str(kdir)}
    return env


def _start(tmp: Path, armed: bool, seconds: float, tag: str, wait_go: bool = False) -> tuple[subprocess.Popen, Path]:
    out = tmp / f"{tag}.json"
    argv = [sys.executable, str(tmp / "loop.py"), str(seconds), str(out)] + (["go"] if wait_go else [])
    p = subprocess.Popen(argv, env=_env(armed, tmp / f"kineto-{tag}"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p, out


def _rates(out: Path) -> tuple[float, float]:
    """(iterations per wall second, per CPU second of the loop's thread)."""
    d = json.loads(out.read_text())
    return d["iterations"] / ((d["stamps"][-1] - d["t0"]) / 1e9), d["iterations"] / (d["cpu_ns"] / 1e9)


def idle_overhead(tmp: Path, rounds: int, seconds: float, control: bool = False) -> None:
    """Each round runs one unarmed and one armed process at the same time (one core each, started by the same
    `go`), so both see the same co-tenants; the figure is the median of the per-round ratios."""
    ratios = {0: [], 1: []}
    for r in range(rounds):
        procs = {armed: _start(tmp, armed and not control, seconds, f"idle-{r}-{int(armed)}", wait_go=True)
                 for armed in (False, True)}
        for p, _ in procs.values():
            p.stdin.write("go\n")
            p.stdin.flush()
        for p, _ in procs.values():
            p.wait()
        u, a = _rates(procs[False][1]), _rates(procs[True][1])
        for k in (0, 1):
            ratios[k].append(a[k] / u[k])
    print(f"control, unarmed vs unarmed (the noise): {rounds} rounds of {seconds:g} s side by side:" if control else
          f"armed but idle: {rounds} rounds of {seconds:g} s, an unarmed and an armed process side by side in each:")
    for k, unit in ((0, "iterations per wall second"), (1, "iterations per CPU second of the loop's thread")):
        q = statistics.quantiles(ratios[k], n=4) if len(ratios[k]) > 1 else [ratios[k][0]] * 3
        print(f"  ratio {'unarmed/unarmed' if control else 'armed/unarmed'}, {unit}: median {statistics.median(ratios[k]):.4f} "
              f"(quartiles {q[0]:.4f} - {q[2]:.4f}; goal >= 0.99)")


def one_window(tmp: Path, window_s: float) -> None:
    from lowprof.tracers.on_demand import AgentClient, connect  # noqa: F401

    total = 3 * window_s + 1
    p, out = _start(tmp, True, total, "window", wait_go=True)
    path = socket_path(runtime_dir(), p.pid)
    while not os.path.exists(path):
        time.sleep(0.01)
    p.stdin.write("go\n")
    p.stdin.flush()
    time.sleep(window_s)
    t_req = time.monotonic_ns()
    client = connect(p.pid)
    client.claim()
    client.start(window_s)
    done = None
    while done is None:
        try:
            msg = client.read(0.5)
        except TimeoutError:
            client.ping()
            continue
        if msg is None or msg.get("event") == "done":
            done = msg
    t_done = time.monotonic_ns()
    client.close()
    p.wait()
    seg = next(e for e in done["entries"] if e["event"] == "segment")
    a, b = seg["start_monotonic_ns"], seg["end_monotonic_ns"]
    d = json.loads(out.read_text())
    st = [d["t0"], *d["stamps"]]
    gaps = list(zip(st, st[1:]))

    def rate(lo, hi):
        its = sum(100 for x, y in gaps if lo <= x and y <= hi)
        span = sum(y - x for x, y in gaps if lo <= x and y <= hi)
        return its / (span / 1e9) if span else float("nan")

    c = seg.get("stop_done_monotonic_ns", b)
    inside = rate(a, b)
    outside = (sum(100 for x, y in gaps if y <= a or x >= c)
               / (sum(y - x for x, y in gaps if y <= a or x >= c) / 1e9))
    typical = statistics.median(y - x for x, y in gaps)
    at_start = max(y - x for x, y in gaps if x <= a + typical and y >= a - typical * 10)
    at_end = max(y - x for x, y in gaps if x <= b + typical * 10 and y >= b)
    ops = sum(1 for e in json.loads((tmp / "kineto-window" / seg["file"]).read_text())["traceEvents"]
              if e.get("cat") == "cpu_op")
    print(f"one {window_s:g} s window (traced {(b - a) / 1e9:.3f} s, then stop + export of "
          f"{ops:,} ops on the main thread {(c - b) / 1e9:.3f} s; export_s {seg['export_s']:.3f} s):")
    print(f"  throughput inside / outside the window: {inside:,.0f} / {outside:,.0f} it/s = {inside / outside:.3f}")
    print(f"  longest pause of the loop: at the start {at_start / 1e6:.1f} ms, at the end {at_end / 1e6:.1f} ms "
          f"(typical 100 iterations: {typical / 1e6:.2f} ms)")
    print(f"  request wall time, claim -> done: {(t_done - t_req) / 1e9:.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--window", type=float, default=1.0)
    ap.add_argument("--control", action="store_true", help="also run unarmed vs unarmed pairs: the noise floor")
    args = ap.parse_args()
    ensure_private_dir(runtime_dir())
    with tempfile.TemporaryDirectory(prefix="lowprof-bench-") as d:
        tmp = Path(d)
        (tmp / "loop.py").write_text(LOOP)
        idle_overhead(tmp, args.rounds, args.seconds)
        if args.control:
            idle_overhead(tmp, args.rounds, args.seconds, control=True)
        one_window(tmp, args.window)


if __name__ == "__main__":
    main()

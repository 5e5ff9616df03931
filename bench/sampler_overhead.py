"""Sampler overhead: CPU cost of `lowprof attach` sampling a process, as a fraction of one core.

Two measures, both printed:
  thread   the sampler thread's own CPU time (time.thread_time) / wall time, from the manifest;
  process  the slope of the whole lowprof process's CPU time between a short and a long recording
           (rusage of the child), which removes start-up and shutdown costs (imports, Parquet writes).
Goal (issue 2): under 1 % of one core at 20 Hz.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def record(interval_s: float, duration_s: float, target_pid: int, out: Path) -> tuple[float, dict]:
    """Run one attach; return (CPU s of the lowprof process, manifest['sampler'])."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "lowprof", "attach", str(target_pid), "--duration", str(duration_s),
                    "--interval", str(interval_s), "--no-stacks", "--quiet", "--out", str(out)], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, json.loads((out / "manifest.json").read_text())["sampler"]


def main() -> None:
    short, long = 2.0, 8.0
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        print(f"{'rate':>7} {'thread CPU/wall':>16} {'process slope':>14} {'ticks':>6} {'missed':>6}")
        with tempfile.TemporaryDirectory() as tmp:
            for hz in (20, 100):
                cpu_s, _ = record(1 / hz, short, target.pid, Path(tmp) / f"s{hz}")
                cpu_l, sampler = record(1 / hz, long, target.pid, Path(tmp) / f"l{hz}")
                thread_frac = sampler["cpu_s"] / long
                slope = (cpu_l - cpu_s) / (long - short)
                print(f"{hz:>5}Hz {thread_frac:>15.2%} {slope:>13.2%} {sampler['ticks']:>6} {sampler['missed_ticks']:>6}")
    finally:
        target.kill()
    print("fraction of one core; goal: < 1% at 20 Hz")


if __name__ == "__main__":
    main()

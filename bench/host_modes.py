"""`lowprof bench host --mode fast` against the default mode, run side by side (alternating, so both see the
same load of the machine). Prints each run's wall time, worker processes and values per benchmark (from
pyperf's own JSON), then the median wall-time ratio fast / default. Usage: python bench/host_modes.py [PAIRS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _one(out: Path, mode: str) -> tuple[float, int, int]:
    import pyperf

    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "lowprof", "bench", "host", "--mode", mode, "--quiet", "--out", str(out)],
                   check=True)
    wall = time.monotonic() - t0
    bench = pyperf.BenchmarkSuite.load(str(out / "host_pyperf.json")).get_benchmarks()[0]
    return wall, bench.get_nrun(), len(bench.get_values())


def main(pairs: int = 2) -> int:
    walls: dict[str, list[float]] = {"fast": [], "default": []}
    print(f"{'pair':>4} {'mode':>8} {'wall s':>7} {'runs':>5} {'values':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(pairs):
            for mode in ("fast", "default") if i % 2 == 0 else ("default", "fast"):
                wall, runs, values = _one(Path(tmp) / f"{mode}{i}", mode)
                walls[mode].append(wall)
                print(f"{i:>4} {mode:>8} {wall:>7.1f} {runs:>5} {values:>6}")
    f, d = statistics.median(walls["fast"]), statistics.median(walls["default"])
    print(f"median wall: fast {f:.1f} s, default {d:.1f} s, fast/default {f / d:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*map(int, sys.argv[1:])))

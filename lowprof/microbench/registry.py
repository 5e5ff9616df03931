"""The GPU benchmarks of ``lowprof bench gpu``, in the order the default suite runs them.

Each module under :mod:`lowprof.microbench.benchmarks` defines ``NAME``, ``HELP``, ``EXPECTED_S``
(expected seconds on an H100 for the default sizes) and ``run(gpu, quick=False) -> list[Result]``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lowprof.errors import LowprofError

__all__ = ["BENCHMARKS", "benchmark", "parse_suite"]

BENCHMARKS: dict[str, str] = {
    "launch": "lowprof.microbench.benchmarks.launch",
    "instr": "lowprof.microbench.benchmarks.instr",
    "regs": "lowprof.microbench.benchmarks.regs",
    "sched": "lowprof.microbench.benchmarks.sched",
    "smem": "lowprof.microbench.benchmarks.smem",
    "memory": "lowprof.microbench.benchmarks.memory",
    "h2d": "lowprof.microbench.benchmarks.h2d",
}


def benchmark(name: str) -> ModuleType:
    """The module of benchmark ``name``."""
    if name not in BENCHMARKS:
        raise LowprofError(f"no benchmark {name!r}; have {','.join(BENCHMARKS)}")
    return importlib.import_module(BENCHMARKS[name])


def parse_suite(text: str | None) -> list[str]:
    """``'launch,memory'`` -> ['launch', 'memory'] (suite order kept as given); None or 'all' -> every one."""
    if text is None or text.strip() in ("", "all"):
        return list(BENCHMARKS)
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in BENCHMARKS]
    if bad:
        raise LowprofError(f"--suite: no benchmark {', '.join(map(repr, bad))}; see --list")
    return list(dict.fromkeys(names))

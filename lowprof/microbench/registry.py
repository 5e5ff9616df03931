"""The GPU benchmarks of ``lowprof bench gpu``, in the order the default suite runs them.

Each module under :mod:`lowprof.microbench.benchmarks` defines ``NAME``, ``HELP``, ``EXPECTED_S``
(expected seconds on an H100 for the default sizes) and ``measure(gpu, quick=False) -> list[Result]``; it is
light to import (numpy, pandas and the GPU's modules are imported inside its functions), so listing the
suite costs nothing. A new benchmark is its module and one line in ``_MODULES``.
"""

from __future__ import annotations

from types import ModuleType

from lowprof.errors import LowprofError
from lowprof.microbench.benchmarks import h2d, instr, launch, memory, regs, sched, smem

__all__ = ["BENCHMARKS", "benchmark", "parse_suite"]

_MODULES: tuple[ModuleType, ...] = (launch, instr, regs, sched, smem, memory, h2d)

BENCHMARKS: dict[str, ModuleType] = {m.NAME: m for m in _MODULES}


def benchmark(name: str) -> ModuleType:
    """The module of benchmark ``name``."""
    if name not in BENCHMARKS:
        raise LowprofError(f"no benchmark {name!r}; have {','.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def parse_suite(text: str | None) -> list[str]:
    """``'launch,memory'`` -> ['launch', 'memory'] (suite order kept as given); None or 'all' -> every one."""
    if text is None or text.strip() in ("", "all"):
        return list(BENCHMARKS)
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in BENCHMARKS]
    if bad:
        raise LowprofError(f"--suite: no benchmark {', '.join(map(repr, bad))}; see --list")
    return list(dict.fromkeys(names))

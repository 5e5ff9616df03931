"""GPU SM, register-file, memory and launch microbenchmarks (``lowprof bench gpu``) and host-side dispatch
cost (``lowprof bench host``). CUDA sources live in ``kernels/``; published reference figures with their
sources in ``references.json``; one module per benchmark under ``benchmarks/``."""

from lowprof.microbench.registry import BENCHMARKS, benchmark, parse_suite
from lowprof.microbench.results import Result
from lowprof.rundir.specs.bench import BENCH_RESULTS

__all__ = ["BENCHMARKS", "benchmark", "parse_suite", "BENCH_RESULTS", "Result"]

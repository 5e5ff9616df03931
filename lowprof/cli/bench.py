"""``lowprof bench SUITE``: active experiments (GPU microbenchmarks, TLB reach, host dispatch cost)."""

from __future__ import annotations

import argparse
import importlib

HELP = "run a benchmark suite (gpu, host, tlb, ...) and record it into a run directory"
EXAMPLES = """lowprof bench gpu --suite launch,memory --out runs/h100-bench
lowprof bench tlb --out runs/tlb"""

# Suites: name -> "module:object"; the object has HELP, add_arguments(parser) and main(args) -> int.
SUITES: dict[str, str] = {
    "tlb": "lowprof.cli.bench_tlb:suite",
    "gpu": "lowprof.microbench.cli:gpu_suite", "host": "lowprof.microbench.cli:host_suite",
}


def _suite(ref: str):
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="suite", metavar="SUITE", title="suites")
    for name, ref in SUITES.items():
        suite = _suite(ref)
        sp = sub.add_parser(name, help=suite.HELP, description=suite.HELP)
        suite.add_arguments(sp)
        sp.set_defaults(_suite_main=suite.main)


def main(args) -> int:
    if not getattr(args, "_suite_main", None):
        from lowprof.cli._ui import err

        err.print(f"lowprof bench: choose a suite: {', '.join(SUITES) or '(none installed)'}")
        return 2
    from lowprof.cli._common import check_out_dir

    check_out_dir(getattr(args, "out", None), getattr(args, "force", False))  # before minutes of benchmarking
    return int(args._suite_main(args) or 0)

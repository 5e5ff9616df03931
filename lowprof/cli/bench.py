"""``lowprof bench SUITE``: active experiments (GPU microbenchmarks, TLB reach, host dispatch cost)."""

from __future__ import annotations

import argparse

from lowprof.cli import bench_gpu, bench_host, bench_tlb

HELP = "run a benchmark suite (gpu, host, tlb, ...) and record it into a run directory"
EXAMPLES = """lowprof bench gpu --suite launch,memory --out runs/h100-bench
lowprof bench tlb --out runs/tlb"""

# Suites: name -> module; each has HELP, add_arguments(parser) and main(args) -> int, and is light at import.
SUITES: dict = {"tlb": bench_tlb, "gpu": bench_gpu, "host": bench_host}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="suite", metavar="SUITE", title="suites")
    for name, suite in SUITES.items():
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

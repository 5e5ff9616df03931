"""``lowprof bench host``: host-side dispatch cost per call, with pyperf (the experiment lives in
:mod:`lowprof.microbench.host`)."""

from __future__ import annotations

import argparse

from lowprof.cli._common import add_output_flags

HELP = "host-side dispatch cost (pyperf): a tiny torch op on CPU, a CuPy launch call where a GPU exists"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_output_flags(p)
    p.add_argument("--mode", choices=("fast", "default", "rigorous"), default="default",
                   help="pyperf effort: fast (3 processes x 2 values), default (6 x 3), rigorous (pyperf's --rigorous)")
    p.add_argument("--processes", "-p", type=int, default=None, metavar="N", help="pyperf worker processes (overrides --mode)")
    p.add_argument("--values", "-n", type=int, default=None, metavar="N", help="values per process (overrides --mode)")
    p.add_argument("--loops", "-l", type=int, default=None, metavar="N", help="calls per value (default: pyperf calibrates)")
    p.add_argument("--only", default=None, metavar="LIST",
                   help="comma-separated subset: 'python call', 'torch add', 'torch add_ in place', 'cupy launch'")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.epilog = ("examples:\n  lowprof bench host --out runs/host-dispatch\n  lowprof bench host --mode rigorous --json\n"
                "  lowprof bench host --only 'torch add' -p 2 -n 3")
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def main(args) -> int:
    import lowprof
    from lowprof.cli._ui import err, out, print_json
    from lowprof.microbench.host import pyperf_args, record_host
    from lowprof.record import default_out_dir

    opts = pyperf_args(args.mode, args.processes, args.values, args.loops)
    only = [s.strip() for s in args.only.split(",")] if args.only else None
    if not (args.quiet or args.json):
        err.print("[dim]lowprof:[/] running pyperf workers (one torch import per worker process: ~1-2 min by default, --mode fast is quicker)", markup=True)
    path, facts = record_host(args.out or default_out_dir("bench-host"), pyperf=opts, only=only, force=args.force)
    df = lowprof.load(path)["bench_results"]
    if args.json:
        clean = df.astype(object).where(df.notna(), None)
        print_json({"run": str(path), "microbench": facts, "rows": clean.to_dict(orient="records")})
    elif not args.quiet:
        from lowprof.cli.bench_show import results_table

        out.print(results_table(df, "host-side dispatch cost per call (pyperf)"))
        out.print(f"cupy launch: {facts['cupy_launch']}")
        out.print(f"recorded {path} in {facts['elapsed_s']:.1f} s")
    return 0

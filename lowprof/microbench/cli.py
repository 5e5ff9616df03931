"""``lowprof bench gpu`` and ``lowprof bench host``: the suite objects lowprof/cli/bench.py SUITES names."""

from __future__ import annotations

import argparse
import json

from lowprof.cli._common import add_output_flags
from lowprof.microbench.registry import BENCHMARKS, benchmark, parse_suite

__all__ = ["gpu_suite", "host_suite", "results_table"]


def _short_params(params_json: str) -> str:
    p = json.loads(params_json or "{}")
    keep = ("footprint_bytes", "array_bytes", "size_bytes", "ilp", "warps", "maxrregcount", "stride_words",
            "variant", "warps_on_subcore", "pages")
    return " ".join(f"{k}={p[k]}" for k in keep if k in p)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def results_table(df, title: str):
    """Rich table of ``bench_results`` rows: measured beside the published reference."""
    from lowprof.cli._ui import table

    rows = []
    for r in df.itertuples():
        spread = "" if _missing(r.p5) else f"{r.p5:.4g}-{r.p95:.4g}"
        ref = "" if _missing(r.reference_value) else f"{r.reference_value:.4g} {r.reference_unit}"
        src = "" if _missing(r.reference_source) else r.reference_source[:48]
        differs = getattr(r, "reference_differs", None)
        differs = "" if _missing(differs) else differs[:48]
        flag = "THROTTLED" if r.throttled is True else ""
        rows.append([r.benchmark, r.metric, _short_params(r.params_json), f"{r.value:.4g} {r.unit}", spread, ref, src,
                     differs, flag])
    cols = ["bench", "metric", "params", "measured (median)", "p5-p95", "reference", "source", "method differs", "clocks"]
    keep = [k for k in range(len(cols)) if k < 4 or any(r[k] for r in rows)]  # drop columns empty in every row
    return table(title, [cols[k] for k in keep], [[r[k] for k in keep] for r in rows],
                 right={i for i, k in enumerate(keep) if k in (3, 4, 5)})


# ---------------------------------------------------------------- gpu
GPU_HELP = "GPU microbenchmarks: launch, instruction latency/throughput, registers, sub-cores, shared memory, memory, H2D"


def _gpu_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", default=None, metavar="LIST",
                   help=f"comma-separated benchmarks (default: all): {','.join(BENCHMARKS)}")
    add_output_flags(p)
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke test, not figures to quote)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and their expected seconds on an H100; run nothing")
    p.add_argument("--offline", action="store_true",
                   help="no GPU needed: compile every kernel (sm_90, sm_80), show registers/spills, the "
                        "maxrregcount sweep, operand-bank parity variants and each timing loop's SASS opcodes")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.epilog = ("examples:\n  lowprof bench gpu --out runs/h100-bench\n  lowprof bench gpu --suite launch,memory --json\n"
                "  lowprof bench gpu --list\n  lowprof bench gpu --offline   # on a machine without a GPU")
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def _gpu_main(args) -> int:
    from lowprof.cli._ui import err, out, print_json, table

    names = parse_suite(args.suite)
    if args.list:
        rows = [[n, f"{benchmark(n).EXPECTED_S:.0f} s", benchmark(n).HELP] for n in names]
        total = sum(benchmark(n).EXPECTED_S for n in names)
        if args.json:
            print_json({n: {"expected_s_h100": benchmark(n).EXPECTED_S, "help": benchmark(n).HELP} for n in names})
        else:
            out.print(table(f"GPU benchmarks (expected {total:.0f} s on an H100 in all)", ["name", "expected", "what"], rows))
        return 0
    if args.offline:
        from lowprof.microbench.offline import offline_report

        rep = offline_report()
        if args.json:
            print_json(rep)
        elif not args.quiet:
            _print_offline(rep)
        return 0
    import lowprof
    from lowprof.microbench.runner import record_gpu
    from lowprof.record import default_out_dir

    out_dir = args.out or default_out_dir("bench-gpu")
    say = (lambda n: None) if args.quiet or args.json else (lambda n: err.print(f"[dim]lowprof:[/] running {n}", markup=True))
    path, facts = record_gpu(out_dir, names, quick=args.quick, force=args.force, progress=say)
    df = lowprof.load(path)["bench_results"]
    if args.json:
        clean = df.astype(object).where(df.notna(), None)
        print_json({"run": str(path), "microbench": facts, "rows": clean.to_dict(orient="records")})
    elif not args.quiet:
        out.print(results_table(df, f"{facts['gpu_name']}: measured beside published references"))
        for n, e in facts["benchmarks"].items():
            clk = e.get("clocks") or {}
            hz = clk.get("sm_clock_hz_median")
            out.print(f"{n}: {e['status']} in {e['elapsed_s']:.1f} s (expected {e['expected_s_h100']:.0f} s on H100)"
                      + (f", SM clock {hz / 1e6:.0f} MHz" if hz else "")
                      + (f", THROTTLED ({', '.join(clk['reasons'])})" if clk.get("throttled") else "")
                      + (f": {e['error']}" if e.get("error") else ""))
        out.print(f"recorded {path}")
    return 1 if any(e["status"] != "ok" for e in facts["benchmarks"].values()) else 0


def _print_offline(rep: dict) -> None:
    from lowprof.cli._ui import out, table

    for arch, ks in rep["kernels"].items():
        rows = [[k, v["source"], v["registers"], v["spill_store_bytes"], v["shared_bytes"],
                 ", ".join(f"{o} x{n}" for o, n in v["hot_loop"].items())] for k, v in sorted(ks.items())]
        out.print(table(f"{arch}: every kernel compiled with {rep['nvcc']}", ["kernel", "source", "regs", "spill B",
                                                                              "smem B", "hot loop (SASS)"], rows,
                        right={2, 3, 4}))
    out.print(table("reg_pressure (96 live floats/thread) vs -maxrregcount, sm_90",
                    ["maxrregcount", "registers", "spill stores B", "spill loads B", "local B", "warps/SM (256-thread blocks)"],
                    [[r["maxrregcount"], r["registers"], r["spill_store_bytes"], r["spill_load_bytes"], r["local_bytes"],
                      r["warps_per_sm"]] for r in rep["register_pressure"]], right=set(range(6))))
    if isinstance(rep["bank_variants"], list):
        out.print(table("operand_banks variants, sm_90: hot-loop FFMA source-register parity (ptxas's allocation)",
                        ["variant", "FFMA", "same bank", "of which 1 register", "mixed", ".reuse operands", "same-bank share"],
                        [[r["variant"], r["ffma"], r["same_bank"], r["same_register"], r["mixed"], r["reuse_operands"],
                          f"{r['same_bank_fraction']:.1%}"] for r in rep["bank_variants"]], right=set(range(7))))


class gpu_suite:  # noqa: N801 - the object lowprof/cli/bench.py SUITES names
    HELP = GPU_HELP
    add_arguments = staticmethod(_gpu_args)
    main = staticmethod(_gpu_main)


# ---------------------------------------------------------------- host
HOST_HELP = "host-side dispatch cost (pyperf): a tiny torch op on CPU, a CuPy launch call where a GPU exists"


def _host_args(p: argparse.ArgumentParser) -> None:
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


def _host_main(args) -> int:
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
        out.print(results_table(df, "host-side dispatch cost per call (pyperf)"))
        out.print(f"cupy launch: {facts['cupy_launch']}")
        out.print(f"recorded {path} in {facts['elapsed_s']:.1f} s")
    return 0


class host_suite:  # noqa: N801
    HELP = HOST_HELP
    add_arguments = staticmethod(_host_args)
    main = staticmethod(_host_main)

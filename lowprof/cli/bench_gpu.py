"""``lowprof bench gpu``: GPU microbenchmarks (the experiments live in :mod:`lowprof.microbench`)."""

from __future__ import annotations

import argparse

from lowprof.cli._common import add_output_flags
from lowprof.microbench.registry import BENCHMARKS

HELP = "GPU microbenchmarks: launch, instruction latency/throughput, registers, sub-cores, shared memory, memory, H2D"


def add_arguments(p: argparse.ArgumentParser) -> None:
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


def main(args) -> int:
    from lowprof.cli._ui import err, out, print_json, table
    from lowprof.microbench.registry import benchmark, parse_suite

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
        from lowprof.cli.bench_show import results_table

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

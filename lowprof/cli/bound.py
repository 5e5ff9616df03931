"""``lowprof bound DIR|SWEEP``: CPU-bound or GPU-bound per pass; over a sweep, the transition batch."""

from __future__ import annotations

import argparse

from lowprof.analysis import bound as B
from lowprof.cli._ui import fmt_s, out, print_json, table
from lowprof.rundir import load

HELP = "CPU-bound vs GPU-bound verdict per pass, or the transition batch over a sweep folder"
EXAMPLES = """lowprof bound runs/resnet
lowprof bound sweeps/prefill
lowprof bound sweeps/prefill --json | jq .knee
lowprof run --stacks --trace kernels --out runs/p -- python -m lowprof.workloads.prefill && lowprof bound runs/p"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="run directory with a launches table, or a sweep folder (with sweep.json)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (ns)")
    p.add_argument("--stacks", choices=["cpu", "all"], default="cpu",
                   help="with py-spy stacks in the run (`lowprof run --stacks`): top Python frames in the "
                        "CPU-bound passes (cpu, default) or in every pass (all)")
    p.add_argument("--top", type=int, default=5, help="frames shown per pass (default 5)")


def _ns(v) -> str:
    return "-" if v is None or v != v else fmt_s(v / 1e9)


RULE = (f"GPU-bound: idle share < {B.IDLE_SHARE_MAX_GPU_BOUND:.0%} and (queue share >= {B.QUEUE_SHARE_MIN_GPU_BOUND:.0%} "
        f"or mean queue depth >= {B.QUEUE_DEPTH_MIN_GPU_BOUND:g}); CPU-bound: idle share >= "
        f"{B.IDLE_SHARE_MAX_GPU_BOUND:.0%} and queue share < {B.QUEUE_SHARE_MIN_GPU_BOUND:.0%}; else mixed")


def main(args) -> int:
    if B.is_sweep(args.dir):
        res = B.analyse_sweep(args.dir)
        if args.json:
            print_json(res)
            return 0
        p = res["param"]
        out.print(table(f"Sweep {args.dir}: TKLQT and pass time vs {p} (medians over non-warm-up passes)",
                        [p, "passes", "TKLQT", "API", "queue", "pass time", "idle", "verdict", "note"],
                        [[f"{r[p]:g}" if r[p] == r[p] else "-", r.get("passes"), _ns(r.get("tklqt_ns")),
                          _ns(r.get("tklqt_api_ns")), _ns(r.get("tklqt_queue_ns")), _ns(r.get("pass_ns")),
                          f"{r['idle_share'] * 100:.0f}%" if r.get("idle_share") == r.get("idle_share") and r.get("idle_share") is not None else "-",
                          r.get("verdict") or "-", r.get("note") or ""] for r in res["curve"]], right={1, 2, 3, 4, 5, 6}))
        k = res["knee"]
        tb = k.get("transition_batch")
        out.print(f"transition {p}: [bold]{tb:g}[/] (model {k['model']}, confidence {k['confidence']:.2f})" if tb
                  else f"transition {p}: none ({k.get('note', k['model'])}; confidence {k['confidence']:.2f})")
        out.print(f"first {p} whose passes are GPU-bound: {res['first_gpu_bound_batch']}")
        out.print(f"[dim]{RULE}[/]")
        return 0
    run = load(args.dir)
    v = B.verdicts(run)
    stacks = B.pass_stacks(run, v, verdict="CPU-bound" if args.stacks == "cpu" else None, top=args.top)
    if args.json:
        print_json({"rule": RULE, "passes": v.to_dict(orient="records")}
                   | ({"stacks": stacks.to_dict(orient="records")} if stacks is not None else {}))
        return 0
    out.print(table(f"{args.dir}: verdict per pass", ["step", "verdict", "idle share", "queue share", "depth",
                                                      "TKLQT", "API", "queue", "latency"],
                    [[r.step + (" (warm-up)" if r.warmup else ""), r.verdict, f"{r.idle_share * 100:.0f}%",
                      f"{r.queue_share * 100:.0f}%", f"{r.mean_queue_depth:.1f}", _ns(r.tklqt_ns), _ns(r.tklqt_api_ns),
                      _ns(r.tklqt_queue_ns), _ns(r.latency_ns)] for r in v.itertuples()], right={2, 3, 4, 5, 6, 7, 8}))
    out.print(f"[dim]{RULE}[/]")
    if stacks is not None:
        which = "CPU-bound passes" if args.stacks == "cpu" else "every pass"
        if stacks.empty:
            out.print(f"py-spy stacks: no samples inside {which}")
        else:
            out.print(table(f"Python leaf frames by py-spy samples in {which} (samples = overlap x rate)",
                            ["step", "#", "leaf frame", "samples", "share", "thread"],
                            [[r.step, r.rank, r.leaf, f"{r.samples:.0f}", f"{r.share * 100:.0f}%", r.thread]
                             for r in stacks.itertuples()], right={1, 3, 4}))
    return 0

"""``lowprof bound DIR|SWEEP`` or ``lowprof bound --curve FILE.csv``: CPU-bound or GPU-bound per pass;
over a sweep or a curve, the transition batch (last batch still CPU-bound)."""

from __future__ import annotations

import argparse
import math

from lowprof.errors import LowprofError
from lowprof.cli._ui import fmt_s, out, print_json, table

HELP = "CPU-bound vs GPU-bound verdict per pass, or the transition batch over a sweep folder or a curve"
EXAMPLES = """lowprof bound runs/resnet
lowprof bound sweeps/prefill
lowprof bound sweeps/prefill --json | jq .knee
lowprof bound runs/job42            (a job of ranks, from `lowprof import FOLDER`: the verdict per pass on each rank)
lowprof bound --curve pcie.csv     (pcie.csv: "batch,tklqt_ms" then "1,10.2" "2,10.1" ... e.g. read off a paper's figure)
lowprof bound --curve gh200.csv --time-column tklqt_ms --json
lowprof run --stacks --trace kernels --out runs/p -- python -m lowprof.workloads.prefill && lowprof bound runs/p"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", help="run directory with a launches table, a sweep folder (with sweep.json), "
                                          "or a job folder of rank runs (lowprof import FOLDER)")
    p.add_argument("--curve", metavar="FILE.csv",
                   help="a TKLQT-vs-batch curve instead of a run: CSV with a 'batch' column and one time column "
                        "(any unit); prints the transition batch")
    p.add_argument("--time-column", metavar="NAME", help="with --curve: the time column when there are several")
    p.add_argument("--json", action="store_true", help="print the result as JSON (ns)")
    p.add_argument("--stacks", choices=["cpu", "all"], default="cpu",
                   help="with py-spy stacks in the run (`lowprof run --stacks`): top Python frames in the "
                        "CPU-bound passes (cpu, default) or in every pass (all)")
    p.add_argument("--top", type=int, default=5, help="frames shown per pass (default 5)")


def _share(v) -> str:
    return "-" if v is None or v != v else f"{v * 100:.0f}%"


def _ns(v) -> str:
    return "-" if v is None or v != v else fmt_s(v / 1e9)


def _rule() -> str:
    """The verdict's rule in words, with analysis.bound's thresholds."""
    from lowprof.analysis import bound as B

    return (f"GPU-bound: idle share < {B.IDLE_SHARE_MAX_GPU_BOUND:.0%} and (queue share >= {B.QUEUE_SHARE_MIN_GPU_BOUND:.0%} "
            f"or mean queue depth >= {B.QUEUE_DEPTH_MIN_GPU_BOUND:g}); CPU-bound: idle share >= "
            f"{B.IDLE_SHARE_MAX_GPU_BOUND:.0%} and queue share < {B.QUEUE_SHARE_MIN_GPU_BOUND:.0%}; else mixed")


def _strict(obj):
    """NaN / inf (a skipped run's missing figures) as null, so --json is strict JSON."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _knee_lines(k: dict, p: str) -> list[str]:
    from rich.markup import escape

    tb = k.get("transition_batch")
    if tb is None:
        return [f"transition {escape(p)}: none ({escape(k.get('note', k['model']))}; confidence {k['confidence']:.2f})"]
    lo, hi = k["knee_interval_90"]
    p = escape(p)
    return [f"transition {p}: [bold]{tb:g}[/] = last {p} still CPU-bound (confidence {k['confidence']:.2f}; "
            f"knee at {p} {k['knee_batch']:.3g}, 90 % {lo:.3g}-{hi:.3g}; slope after {k['slope_after']:.2f} on log2 axes)"]


def _curve(args) -> int:
    from rich.markup import escape

    from lowprof.analysis import bound as B

    if args.dir:
        raise LowprofError("give a run directory or --curve FILE.csv, not both")
    df, tcol = B.read_curve(args.curve, args.time_column)
    k = B.transition(df["batch"].to_numpy(), df[tcol].to_numpy())
    if k["model"] == "insufficient":
        raise LowprofError(f"{args.curve}: {k['note']}")
    probs = k.get("probabilities", {})
    rows = [{"batch": int(b) if float(b).is_integer() else float(b), tcol: float(t),
             "p_last_cpu_bound": probs.get(f"{b:g}", 0.0)} for b, t in zip(df["batch"], df[tcol])]
    if args.json:
        print_json(_strict({"file": str(args.curve), "time_column": tcol, "curve": rows, "knee": k}))
        return 0
    out.print(table(f"{args.curve}: {tcol} vs batch", ["batch", tcol, "P(last CPU-bound)"],
                    [[f"{r['batch']:g}", f"{r[tcol]:g}", f"{r['p_last_cpu_bound']:.3f}"] for r in rows],
                    right={0, 1, 2}))
    for line in _knee_lines(k, "batch"):
        out.print(line, markup=True)
    out.print(f"[dim]{escape(B.RULE_TRANSITION)}[/]", markup=True)
    return 0


def _ranks(args, members) -> int:
    """The verdict per pass on every rank of a job, and per pass how many ranks share each verdict."""
    from rich.text import Text

    from lowprof.analysis import bound as B

    per = [(m, B.verdicts(m.run)) for m in members]
    if args.json:
        print_json(_strict({"rule": _rule(), "ranks": [{"rank": m.rank, "run": m.label, "passes": v.to_dict(orient="records")}
                                                    for m, v in per]}))
        return 0
    rows = [[str(m.rank) if m.rank is not None else m.label, r.step + (" (warm-up)" if r.warmup else ""), r.verdict,
             f"{r.idle_share * 100:.0f}%", f"{r.queue_share * 100:.0f}%", f"{r.mean_queue_depth:.1f}", _ns(r.tklqt_ns),
             _ns(r.tklqt_api_ns), _ns(r.tklqt_queue_ns), _ns(r.latency_ns)] for m, v in per for r in v.itertuples()]
    out.print(table(f"{args.dir}: verdict per pass on each of {len(per)} ranks",
                    ["rank", "step", "verdict", "idle share", "queue share", "depth", "TKLQT", "API", "queue",
                     "latency"], rows, right={0, 3, 4, 5, 6, 7, 8, 9}, names={1}))
    tally: dict[str, dict[str, int]] = {}
    for _, v in per:
        for r in v.itertuples():
            if not r.warmup:
                tally.setdefault(r.step, {}).setdefault(r.verdict, 0)
                tally[r.step][r.verdict] += 1
    for step, counts in tally.items():
        out.print(Text(f"{step}: " + ", ".join(f"{k} on {n} of {len(per)} ranks" for k, n in sorted(counts.items()))))
    out.print(f"[dim]{_rule()}[/]", markup=True)
    return 0


def main(args) -> int:
    from rich.markup import escape

    from lowprof.analysis import bound as B
    from lowprof.rundir import load

    if args.curve:
        return _curve(args)
    if not args.dir:
        raise LowprofError("give a run directory, a sweep folder, or --curve FILE.csv")
    if B.is_sweep(args.dir):
        res = B.analyse_sweep(args.dir)
        if args.json:
            print_json(_strict(res))
            return 0
        p = res["param"]
        out.print(table(f"Sweep {args.dir}: TKLQT and pass time vs {p} (medians over non-warm-up passes)",
                        [p, "passes", "TKLQT", "API", "queue", "pass time", "idle", "verdict", "note"],
                        [[f"{r[p]:g}" if r[p] == r[p] else "-", r.get("passes"), _ns(r.get("tklqt_ns")),
                          _ns(r.get("tklqt_api_ns")), _ns(r.get("tklqt_queue_ns")), _ns(r.get("pass_ns")),
                          f"{r['idle_share'] * 100:.0f}%" if r.get("idle_share") == r.get("idle_share") and r.get("idle_share") is not None else "-",
                          r.get("verdict") or "-", r.get("note") or ""] for r in res["curve"]], right={1, 2, 3, 4, 5, 6}))
        for line in _knee_lines(res["knee"], p):
            out.print(line, markup=True)
        out.print(f"first {p} whose passes are GPU-bound: {res['first_gpu_bound_batch']}")
        out.print(f"[dim]{_rule()}[/]", markup=True)
        out.print(f"[dim]{escape(B.RULE_TRANSITION)}[/]", markup=True)
        return 0
    from lowprof.rundir.many import job_members

    if (members := job_members(args.dir)) is not None:
        return _ranks(args, members)
    run = load(args.dir)
    v = B.verdicts(run)
    stacks = B.pass_stacks(run, v, verdict="CPU-bound" if args.stacks == "cpu" else None, top=args.top)
    if args.json:
        print_json(_strict({"rule": _rule(), "passes": v.to_dict(orient="records")}
                   | ({"stacks": stacks.to_dict(orient="records")} if stacks is not None else {})))
        return 0
    graphs = bool(len(v)) and int(v["graph_activities"].sum()) > 0
    columns = ["step", "verdict", "idle share", "queue share", "depth", "TKLQT", "API", "queue", "latency"]
    rows = [[r.step + (" (warm-up)" if r.warmup else ""), r.verdict, f"{r.idle_share * 100:.0f}%",
             f"{r.queue_share * 100:.0f}%", f"{r.mean_queue_depth:.1f}", _ns(r.tklqt_ns), _ns(r.tklqt_api_ns),
             _ns(r.tklqt_queue_ns), _ns(r.latency_ns)]
            + ([_share(r.graph_gpu_share)] if graphs else []) for r in v.itertuples()]
    out.print(table(f"{args.dir}: verdict per pass", columns + (["graph share"] if graphs else []), rows,
                    right=set(range(2, len(columns) + graphs))))
    out.print(f"[dim]{_rule()}[/]", markup=True)
    if graphs:
        calls, acts = int(v["graph_launches"].sum()), int(v["graph_activities"].sum())
        out.print(f"graph-launched: {calls} launch call{'s' * (calls != 1)}, {acts} activities; graph share = their "
                  "share of the pass's GPU time. A graph launch is one launch call in TKLQT and the queue depth, "
                  "so the verdict's evidence is the calls', not the nodes' (docs/launches.md)")
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

"""``lowprof launches DIR``: kernel launch and queuing time (TKLQT) per pass, idle split, top kernels."""

from __future__ import annotations

import argparse
import sys

from lowprof.cli._ui import fmt_s, out, print_json, table
from lowprof.errors import LowprofError

HELP = "kernel launch + queuing time (TKLQT) per pass, GPU idle split, top kernels"
EXAMPLES = """lowprof launches runs/resnet
lowprof launches runs/resnet --top 5
lowprof launches runs/job42                          # a job of ranks: compute/communication overlap per rank and pass
lowprof launches runs/resnet --json | jq '.steps[0].tklqt_ns'
lowprof launches runs/resnet --csv > launches.csv
lowprof launches runs/llm --launched-in-trace-only   # TraceLens's rule: drop activities launched before the trace
lowprof launches runs/resnet --hta-idle --json | jq .idle_by_stream_hta_us   # HTA's idle breakdown, HTA's rules"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="run directory with a launches table; or a job folder of rank runs "
                               "(lowprof import FOLDER): the compute/communication overlap per rank and pass")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the summary as JSON (ns)")
    fmt.add_argument("--csv", action="store_true", help="print one CSV row per GPU activity with api/queue/t_l (ns)")
    p.add_argument("--top", type=int, default=10, metavar="K", help="kernels to list by count and by time (default 10)")
    p.add_argument("--launched-in-trace-only", action="store_true",
                   help="count only GPU activities whose launch call is in the trace (TraceLens's rule; by default "
                        "activities launched before the profiler started count too)")
    p.add_argument("--hta-idle", action="store_true",
                   help="also show HTA's idle-time breakdown per stream under HTA's rules (µs, last-step cut)")


def _ints_as_ints(df):
    """Float columns holding only whole numbers (and blanks), e.g. grid sizes padded with NaN for copies,
    as nullable integers, so the CSV says 864, not 864.0."""
    import numpy as np

    for col in df.columns:
        s = df[col]
        if s.dtype.kind == "f":
            v = s.dropna().to_numpy()
            if len(v) and np.all(np.isfinite(v)) and np.all(v == np.round(v)) and np.all(np.abs(v) < 2 ** 53):
                df[col] = s.astype("Int64")
    return df


def _ns(v) -> str:
    return "-" if v is None or v != v else fmt_s(v / 1e9)


def _print_comm(c: dict) -> None:
    """The compute/communication overlap per pass, when the run has communication kernels."""
    if not c["per_step"]:
        return
    rows = [[r["step"], r["comm_kernels"], _ns(r["comm_ns"]), _ns(r["compute_ns"]), _ns(r["overlap_ns"]),
             "-" if r["overlap_pct"] is None else f"{r['overlap_pct']:.2f}%"] for r in c["per_step"]]
    out.print(table("Compute/communication overlap per pass (share of NCCL/RCCL kernel time during which a compute "
                    "kernel ran: HTA's get_comm_comp_overlap)",
                    ["step", "comm kernels", "comm time", "compute time", "overlapped", "overlap"], rows,
                    right={1, 2, 3, 4, 5}))
    if c["hta_overlap_pct"] is not None:
        out.print(f"HTA's figure for the whole trace (HTA's rules: µs, last ProfilerStep cut): {c['hta_overlap_pct']:.2f}%")


def _job(args, members) -> int:
    """A job folder (or folder of rank runs): compute/communication overlap per rank and pass."""
    from lowprof.analysis.comm import OVERLAP_RULE, comm_summary
    from lowprof.analysis.launches import launches_of

    if args.csv:
        raise LowprofError(f"{args.dir}: a job of {len(members)} ranks; give one rank's run directory for --csv")
    ranks = [{"rank": m.rank, "run": m.label, **comm_summary(m.run, launches_of(m.run))} for m in members]
    if args.json:
        print_json({"rule": OVERLAP_RULE, "ranks": [{k: v for k, v in r.items() if k != "rule"} for r in ranks]})
        return 0
    rows = [[str(r["rank"]) if r["rank"] is not None else r["run"], s["step"], s["comm_kernels"], _ns(s["comm_ns"]),
             _ns(s["compute_ns"]), _ns(s["overlap_ns"]), "-" if s["overlap_pct"] is None else f"{s['overlap_pct']:.2f}%"]
            for r in ranks for s in r["per_step"]]
    out.print(table(f"{args.dir}: compute/communication overlap per rank and pass (share of NCCL/RCCL kernel time "
                    "during which a compute kernel ran: HTA's get_comm_comp_overlap)",
                    ["rank", "step", "comm kernels", "comm time", "compute time", "overlapped", "overlap"], rows,
                    right={0, 2, 3, 4, 5, 6}, names={1}))
    out.print(table("HTA's figure per rank (whole trace, HTA's rules: µs, last ProfilerStep cut)", ["rank", "overlap"],
                    [[str(r["rank"]), "-" if r["hta_overlap_pct"] is None else f"{r['hta_overlap_pct']:.2f}%"]
                     for r in ranks], right={0, 1}))
    return 0


def main(args) -> int:
    from rich.text import Text

    from lowprof.analysis.launches import launch_summary, per_launch, launches_of
    from lowprof.rundir import load
    from lowprof.rundir.many import job_members

    if (members := job_members(args.dir)) is not None:
        return _job(args, members)
    run = load(args.dir)
    if args.csv:
        from lowprof.analysis.comm import kernel_class

        pl = per_launch(launches_of(run))
        _ints_as_ints(pl.assign(kernel_class=kernel_class(pl))).to_csv(sys.stdout, index=False)
        return 0
    s = launch_summary(run, top=args.top, launched_in_trace_only=args.launched_in_trace_only, hta_idle=args.hta_idle)
    if args.json:
        print_json(s)
        return 0
    apis = ", ".join(f"{k} {v}" for k, v in s["launch_apis"].items()) or "-"
    out.print(Text.assemble((str(args.dir), "bold"), ": ") + Text(f"{s['activities']} GPU activities ({s['kernels']} kernels), "
              f"{s['linked_to_launch_call']} linked to their launch call: {apis}"))
    out.print(f"median per launch: API {_ns(s['median_api_ns'])}, queue {_ns(s['median_queue_ns'])}, "
              f"t_l {_ns(s['median_t_l_ns'])}; negative queue times: {s['negative_queue_count']} "
              f"(kept, flagged), clock skew (t_l < 0): {s['clock_skew_count']}")
    if args.launched_in_trace_only:
        out.print(f"{s['dropped_not_launched_in_trace']} GPU activities left out: their launch call is not in the trace")
    g = s["graph"]
    if g["launch_calls"] or g["activities"]:
        share = "-" if g["share_of_gpu_time"] is None else f"{g['share_of_gpu_time'] * 100:.1f}%"
        out.print(f"graph launches: {g['launch_calls']} calls, {g['activities']} activities ({g['kernels']} kernels), "
                  f"{fmt_s(g['gpu_ns'] / 1e9)} GPU time = {share} of all; each call counted once in TKLQT and "
                  f"queue depth (its first node carries t_l)")
    tl = s["gpu_timeline"]
    out.print(f"GPU timeline (first activity start -> last end, all devices): busy {_ns(tl['busy_ns'])}, "
              f"idle {_ns(tl['idle_ns'])}, total {_ns(tl['total_ns'])}")
    cols = ["step", "kernels", "TKLQT", "API", "queue", "avg kernel", "latency", "GPU idle", "before/after",
            "host wait", "kernel wait", "other", "depth mean/max", "dispatch"]
    rows = [[st["step"], st["kernels"], _ns(st["tklqt_ns"]), _ns(st["tklqt_api_ns"]), _ns(st["tklqt_queue_ns"]),
             _ns(st["avg_kernel_ns"]), _ns(st["latency_ns"]),
             f"{_ns(st['gpu_idle_ns'])} ({st['idle_share'] * 100:.0f}%)" if st["idle_share"] == st["idle_share"] else "-",
             f"{_ns(st['idle_before_first_ns'])}/{_ns(st['idle_after_last_ns'])}", _ns(st["idle_host_wait_ns"]), _ns(st["idle_kernel_wait_ns"]), _ns(st["idle_other_ns"]),
             f"{st['mean_queue_depth']:.1f}/{st.get('max_queue_depth', '-')}", _ns(st["dispatch_median_ns"])]
            for st in s["steps"]]
    out.print(table("Per step/pass (TKLQT = Σ t_l over launch calls = API + queue; GPU idle = before/after + "
                    "host wait + kernel wait + other)", cols, rows, right=set(range(1, 14))))
    for key, title in (("top_by_time", f"Top {args.top} kernels by GPU time"), ("top_by_count", f"Top {args.top} kernels by count")):
        out.print(table(title, ["kernel", "count", "total", "mean", "mean t_l", "mean queue"],
                        [[r["name"], r["count"], _ns(r["total_ns"]), _ns(r["mean_ns"]), _ns(r["mean_t_l_ns"]),
                          _ns(r["mean_queue_ns"])] for r in s[key]], right={1, 2, 3, 4, 5}))
    _print_comm(s["communication"])
    if args.hta_idle:
        out.print(table("HTA idle-time breakdown (HTA's rules: µs, last ProfilerStep cut)", ["stream", "category", "idle"],
                        [[r["stream"], r["idle_category"], fmt_s(r["idle_time"] / 1e6)] for r in s["idle_by_stream_hta_us"]],
                        right={0, 2}))
    return 0

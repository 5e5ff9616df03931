"""``lowprof launches DIR``: kernel launch and queuing time (TKLQT) per pass, idle split, top kernels."""

from __future__ import annotations

import argparse
import sys

from lowprof.analysis.launches import launch_summary, per_launch, launches_of
from lowprof.cli._ui import fmt_s, out, print_json, table
from lowprof.rundir import load

HELP = "kernel launch + queuing time (TKLQT) per pass, GPU idle split, top kernels"
EXAMPLES = """lowprof launches runs/resnet
lowprof launches runs/resnet --top 5
lowprof launches runs/resnet --json | jq '.steps[0].tklqt_ns'
lowprof launches runs/resnet --csv > launches.csv"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="run directory with a launches table")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the summary as JSON (ns)")
    fmt.add_argument("--csv", action="store_true", help="print one CSV row per GPU activity with api/queue/t_l (ns)")
    p.add_argument("--top", type=int, default=10, metavar="K", help="kernels to list by count and by time (default 10)")


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


def main(args) -> int:
    run = load(args.dir)
    if args.csv:
        _ints_as_ints(per_launch(launches_of(run))).to_csv(sys.stdout, index=False)
        return 0
    s = launch_summary(run, top=args.top)
    if args.json:
        print_json(s)
        return 0
    apis = ", ".join(f"{k} {v}" for k, v in s["launch_apis"].items()) or "-"
    out.print(f"[bold]{args.dir}[/]: {s['activities']} GPU activities ({s['kernels']} kernels), "
              f"{s['linked_to_launch_call']} linked to their launch call: {apis}")
    out.print(f"median per launch: API {_ns(s['median_api_ns'])}, queue {_ns(s['median_queue_ns'])}, "
              f"t_l {_ns(s['median_t_l_ns'])}; negative queue times: {s['negative_queue_count']} "
              f"(kept, flagged), clock skew (t_l < 0): {s['clock_skew_count']}")
    cols = ["step", "kernels", "TKLQT", "API", "queue", "avg kernel", "latency", "GPU idle", "host wait",
            "kernel wait", "other", "depth mean/max", "dispatch"]
    rows = [[st["step"], st["kernels"], _ns(st["tklqt_ns"]), _ns(st["tklqt_api_ns"]), _ns(st["tklqt_queue_ns"]),
             _ns(st["avg_kernel_ns"]), _ns(st["latency_ns"]),
             f"{_ns(st['gpu_idle_ns'])} ({st['idle_share'] * 100:.0f}%)" if st["idle_share"] == st["idle_share"] else "-",
             _ns(st["idle_host_wait_ns"]), _ns(st["idle_kernel_wait_ns"]), _ns(st["idle_other_ns"]),
             f"{st['mean_queue_depth']:.1f}/{st.get('max_queue_depth', '-')}", _ns(st["dispatch_median_ns"])]
            for st in s["steps"]]
    out.print(table("Per step/pass (TKLQT = Σ t_l over kernels = API + queue)", cols, rows, right=set(range(1, 13))))
    for key, title in (("top_by_time", f"Top {args.top} kernels by GPU time"), ("top_by_count", f"Top {args.top} kernels by count")):
        out.print(table(title, ["kernel", "count", "total", "mean", "mean t_l", "mean queue"],
                        [[r["name"][:70], r["count"], _ns(r["total_ns"]), _ns(r["mean_ns"]), _ns(r["mean_t_l_ns"]),
                          _ns(r["mean_queue_ns"])] for r in s[key]], right={1, 2, 3, 4, 5}))
    return 0

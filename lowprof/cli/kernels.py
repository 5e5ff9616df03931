"""``lowprof kernels DIR``: per-name summaries of kernels, API calls (--api) and memory operations (--memcpy),
with the figures of ``nsys stats`` (cuda_gpu_kern_sum, cuda_api_sum, cuda_gpu_mem_time_sum)."""

from __future__ import annotations

import argparse

HELP = "per-kernel summary like `nsys stats`: time share, total, instances, mean, median, min, max, stddev (--api, --memcpy)"
EXAMPLES = """lowprof kernels runs/resnet
lowprof kernels runs/resnet --api            # every CUDA runtime/driver call, as nsys's cuda_api_sum
lowprof kernels runs/resnet --memcpy         # memcpy by kind and memset: bytes, GB/s
lowprof kernels runs/resnet --top 5
lowprof kernels runs/resnet --json | jq '.rows[0]'
lowprof kernels runs/resnet --memcpy --csv > memops.csv"""

_REPORTS = {  # report -> (title, count header, what the rows are)
    "kernels": ("GPU kernels (cuda_gpu_kern_sum)", "instances", "kernels"),
    "api": ("CUDA/HIP API calls (cuda_api_sum)", "calls", "API calls"),
    "memcpy": ("GPU memory operations (cuda_gpu_mem_time_sum, cuda_gpu_mem_size_sum)", "count", "memory operations"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="run directory (from `lowprof import` of an nsys export or a Kineto trace, or `lowprof run`)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--api", action="store_true", help="summarise every CUDA/HIP runtime and driver API call (CPU time)")
    which.add_argument("--memcpy", action="store_true", help="summarise memcpy (by kind) and memset: time, bytes, bandwidth")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the summary as JSON (ns, bytes, GB/s)")
    fmt.add_argument("--csv", action="store_true", help="print one CSV row per name (ns, bytes, GB/s)")
    p.add_argument("--top", type=int, metavar="K", help="only the K names with the most total time (default: all)")


def _csv(rows: list[dict], columns: list[str]) -> None:
    import csv
    import sys

    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else repr(r[c]) if isinstance(r[c], float) else r[c] for c in columns])


def main(args) -> int:
    from rich.text import Text

    from lowprof.analysis.kernel_summary import BYTE_COLUMNS, STAT_COLUMNS, api_summary, kernel_summary, memop_summary
    from lowprof.errors import UsageError
    from lowprof.cli._ui import fmt_s, note, out, print_json, table
    from lowprof.rundir import load

    if args.top is not None and args.top < 1:
        raise UsageError(f"--top must be a positive number of names, got {args.top}")
    report = "api" if args.api else "memcpy" if args.memcpy else "kernels"
    run = load(args.dir)
    rows = {"kernels": kernel_summary, "api": api_summary, "memcpy": memop_summary}[report](run)
    shown = rows[:args.top] if args.top else rows
    columns = list(STAT_COLUMNS) + (["name_raw"] if report == "api" else []) + (list(BYTE_COLUMNS) if report == "memcpy" else [])
    if args.csv:
        _csv(shown, columns)
        return 0
    total_ns = sum(r["total_ns"] for r in rows)
    count = sum(r["instances"] for r in rows)
    if args.json:
        print_json({"run": str(args.dir), "report": report, "unit": "ns", "names": len(rows), "instances": count,
                    "total_ns": total_ns, "rows": [{c: r.get(c) for c in columns} for r in shown]})
        return 0
    title, count_header, what = _REPORTS[report]
    if not rows:
        note(f"{args.dir}: no {what} in this run")
        return 0
    out.print(Text.assemble((str(args.dir), "bold"), ": ") + Text(
        f"{count:,} {what}, {len(rows):,} names, {fmt_s(total_ns / 1e9)} in all (the sum of their durations; "
        f"overlapping ones each count)" + (f"; the top {len(shown)} shown" if len(shown) < len(rows) else "")))

    def ns(v) -> str:
        return "-" if v is None else fmt_s(v / 1e9)

    head = ["time%", "total", count_header, "mean", "median", "min", "max", "stddev"]
    body = [[("-" if r["time_pct"] is None else f"{r['time_pct']:.1f}"), ns(r["total_ns"]), f"{r['instances']:,}",
             ns(r["mean_ns"]), ns(r["median_ns"]), ns(r["min_ns"]), ns(r["max_ns"]), ns(r["stddev_ns"])] for r in shown]
    if report == "memcpy":
        head += ["bytes", "GB/s"]
        for b, r in zip(body, shown):
            b += [f"{r['bytes']:,}" if r["bytes"] is not None else "-",
                  "-" if r["bandwidth_gbps"] is None else f"{r['bandwidth_gbps']:.3g}"]
    head.append("name")
    shared = {r["name"] for r in rows if sum(x["name"] == r["name"] for x in rows) > 1}
    for b, r in zip(body, shown):  # two names as written shown alike (cudaMemcpy, cudaMemcpy_v3020): both named
        name = "-" if r["name"] is None else r["name"]
        b.append(f"{name} (as written: {r['name_raw']})" if r["name"] in shared and r.get("name_raw") else name)
    out.print(table(title, head, body, right=set(range(len(head) - 1)), names={len(head) - 1}))
    return 0

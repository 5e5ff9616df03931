"""``lowprof ipw DIR --results FILE``: intelligence per watt (Saad-Falcon et al. 2025) of recorded runs."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from lowprof.analysis.ipw import ipw, read_results
from lowprof.cli._ui import fmt_s, out, print_json, table
from lowprof.errors import LowprofError
from lowprof.rundir import load

HELP = "intelligence per watt: accuracy / mean power over the queries, energy per query, latency"
EXAMPLES = """lowprof ipw runs/qwen-h100 --results runs/qwen-h100/results.jsonl
lowprof ipw runs/a runs/b --results a.jsonl --results b.jsonl --json
lowprof ipw runs/a --results a.jsonl --devices all"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directory with power tables")
    p.add_argument("--results", action="append", metavar="FILE",
                   help="JSONL, one line per query (id, correct|score, start/end times, tokens, model); "
                        "one per DIR in order (default: DIR/results.jsonl)")
    p.add_argument("--devices", metavar="LIST", help="power of: the GPUs (default), cpu packages if no GPU, 'all', or device names")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print as JSON")
    fmt.add_argument("--csv", action="store_true", help="print one CSV row per model x device")


def _device_name(run) -> str:
    devs = run.manifest.get("probes", {}).get("nvml", {}).get("devices") or []
    names = sorted({d.get("name") for d in devs if d.get("name")})
    if names:
        return ", ".join(names)
    host = run.manifest.get("host", {})
    return host.get("cpu_model") or "unknown"


def main(args) -> int:
    results = args.results or [f"{d}/results.jsonl" for d in args.dirs]
    if len(results) != len(args.dirs):
        raise LowprofError(f"give one --results per DIR ({len(args.dirs)} dirs, {len(results)} results files)")
    rows = []
    for d, rfile in zip(args.dirs, results):
        run = load(d)
        res = read_results(rfile, run.manifest.get("clock", {}).get("origin_realtime_ns", 0))
        for model, part in res.groupby(res.model.fillna("-"), sort=True):
            r = ipw(run, part.reset_index(drop=True), devices=args.devices)
            rows.append({"run": d, "model": model, "device": _device_name(run)} | r)
    if args.json:
        print_json(rows)
        return 0
    if args.csv:
        pd.DataFrame(rows).assign(devices=lambda f: f.devices.map(";".join)).to_csv(sys.stdout, index=False)
        return 0
    cols = ["model", "device", "queries", "accuracy", "mean W", "IPW (1/W)", "J/query", "IPJ (1/J)", "queries/J",
            "p50", "p90", "p99"]
    out.print(table("Intelligence per watt (accuracy / mean power over the queries' time)", cols,
                    [[r["model"], r["device"], r["queries"], f"{r['accuracy']:.3f}", f"{r['mean_power_w']:.1f}",
                      f"{r['ipw_per_w']:.5f}", f"{r['energy_per_query_j']:.3g}", f"{r['ipj_per_j']:.4g}",
                      f"{r['queries_per_j']:.4g}", fmt_s(r.get("latency_p50_s")), fmt_s(r.get("latency_p90_s")),
                      fmt_s(r.get("latency_p99_s"))] for r in rows], right=set(range(2, 12))))
    for r in rows:
        out.print(f"[dim]{r['run']}: power of {', '.join(r['devices'])} over {fmt_s(r['busy_s'])} of queries, "
                  f"{r['energy_j']:.1f} J" + (f", {r['tokens_per_j']:.3g} tokens/J" if "tokens_per_j" in r else "") + "[/]")
    return 0

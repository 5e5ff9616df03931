"""``lowprof ipw DIR --results FILE``: intelligence per watt and per joule of recorded runs, as the
Intelligence-per-Watt harness defines them (per-query energy from the energy counter)."""

from __future__ import annotations

import argparse
import sys

from lowprof.cli._ui import fmt_s, out, print_json, table
from lowprof.cli._common import add_devices_flag, add_signal_flags, signal_of
from lowprof.cli.power import strict
from lowprof.errors import LowprofError

HELP = "intelligence per watt / per joule: accuracy / mean per-query power and energy (counter), latency"
EXAMPLES = """lowprof ipw runs/qwen-h100 --results runs/qwen-h100/results.jsonl
lowprof ipw runs/a runs/b --results a.jsonl --results b.jsonl --json
lowprof ipw runs/a --results a.jsonl --devices all"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directory with power tables")
    p.add_argument("--results", action="append", metavar="FILE",
                   help="JSONL, one line per query (id, correct|score, start/end times, tokens, model); "
                        "one per DIR in order (default: DIR/results.jsonl)")
    add_devices_flag(p, "auto: the GPUs, else the CPU packages (whose energy per query)")
    add_signal_flags(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print as JSON")
    fmt.add_argument("--csv", action="store_true", help="print one CSV row per model x device")


def _device_name(run, devices: list[str]) -> str:
    """What the energy was measured on: the models of the selected GPUs, and the CPU model where a selected
    device is not a GPU (the same devices the figures sum, lowprof.analysis.devices)."""
    import re

    from lowprof.rundir.sections import Manifest

    found = [re.match(r"gpu(\d+)(:module)?$", d) for d in devices]
    gpus = {int(m.group(1)) for m in found if m}
    m = Manifest(run.manifest)
    devs = m.probes.entry("nvml").devices or []
    names = sorted({d.name for d in devs if d.name and d.index in gpus})
    if not all(found) or not names:
        names.append(m.host.cpu_model or "unknown")
    return ", ".join(names)


def main(args) -> int:
    from rich.markup import escape
    import pandas as pd

    from lowprof.analysis.ipw import ipw, read_results
    from lowprof.rundir import load

    results = args.results or [f"{d}/results.jsonl" for d in args.dirs]
    if len(results) != len(args.dirs):
        raise LowprofError(f"give one --results per DIR ({len(args.dirs)} dirs, {len(results)} results files)")
    rows = []
    for d, rfile in zip(args.dirs, results):
        run = load(d)
        res = read_results(rfile, run.section("clock").origin_realtime_ns or 0)
        for model, part in res.groupby(res.model.fillna("-"), sort=True):
            r = ipw(run, part.reset_index(drop=True), devices=args.devices, signal=signal_of(args))
            rows.append({"run": d, "model": model, "device": _device_name(run, r["devices"])} | r)
    if args.json:
        print_json(strict(rows))
        return 0
    if args.csv:
        pd.DataFrame(rows).assign(devices=lambda f: f.devices.map(";".join)).to_csv(sys.stdout, index=False)
        return 0
    cols = ["model", "device", "queries", "accuracy", "mean W/query", "IPW (1/W)", "J/query", "IPJ (1/J)",
            "queries/J", "energy from", "p50", "p90", "p99"]
    out.print(table("Intelligence per watt (accuracy / mean over queries of energy / duration) and per joule "
                    "(accuracy / mean energy per query)", cols,
                    [[r["model"], r["device"], r["queries"], f"{r['accuracy']:.3f}", f"{r['mean_power_w']:.1f}",
                      f"{r['ipw_per_w']:.5f}", f"{r['energy_per_query_j']:.3g}", f"{r['ipj_per_j']:.4g}",
                      f"{r['queries_per_j']:.4g}", r["energy_method"], fmt_s(r.get("latency_p50_s")),
                      fmt_s(r.get("latency_p90_s")), fmt_s(r.get("latency_p99_s"))] for r in rows],
                    right={2, 3, 4, 5, 6, 7, 8, 10, 11, 12}))
    for r in rows:
        notes = [f"{r['energy_j']:.1f} J drawn by {', '.join(r['devices'])} over {fmt_s(r['busy_s'])} of queries"]
        if "tokens_per_j" in r:
            notes.append(f"{r['tokens_per_j']:.3g} tokens/J")
        if "energy_disagreement_percent" in r:
            notes.append(f"integrated {r['energy_integrated_signal']} instead of the counter: {r['energy_per_query_integrated_j']:.3g} "
                         f"J/query ({r['energy_disagreement_percent']:+.2f}%), IPW {r['ipw_integrated_per_w']:.5f}, "
                         f"IPJ {r['ipj_integrated_per_j']:.4g}")
        if r["windows"] != "per query":
            notes.append(r["windows"])
        if r["concurrent_queries"]:
            notes.append("queries overlap: each counts the whole device energy of its window, as in the harness")
        if r["queries_without_duration"]:
            notes.append(f"{r['queries_without_duration']} queries of zero duration left out of the mean power and energy (counted in the accuracy)")
        out.print(f"[dim]{escape(r['run'])}: " + escape("; ".join(notes)) + "[/]", markup=True)
    return 0

"""``lowprof plot DIR... --out FIGDIR``: every figure the runs have data for, as PNG and PDF."""

from __future__ import annotations

import argparse
from pathlib import Path

from lowprof.cli._common import add_signal_flags, signal_of
from lowprof.cli._ui import note, out, print_json, table
from lowprof.errors import LowprofError

POWER_TABLES = ("gpu_power", "rapl", "hwmon_power")

HELP = "draw paper figures (PNG + PDF) from runs or sweep folders, one series per machine"
EXAMPLES = """lowprof plot sweeps/gh200 sweeps/h100 --out figs/
lowprof plot runs/tlb-a runs/tlb-b --out figs/
lowprof plot runs/a runs/b --out figs/ --force   (ratio figure even if the workloads differ)
lowprof plot runs/serve --out figs/ --average   (power timeline of the driver's 1 s average)"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directories or sweep folders (one per machine)")
    p.add_argument("--out", "-o", metavar="FIGDIR", required=True, help="folder for <figure>.png and <figure>.pdf")
    p.add_argument("--force", action="store_true", help="draw the comparison ratios even when the workloads differ")
    p.add_argument("--json", action="store_true", help="print the figures written and the numbers plotted as JSON")
    p.add_argument("--quiet", "-q", action="store_true")
    add_signal_flags(p)


def make_figures(dirs: list[str], out_dir: Path, force: bool = False, signal: str = "auto") -> list:
    """Draw what the data allows: sweep curves, TLB curves, power and system timelines, microbenchmarks
    against references, comparison ratios. ``signal``: the GPU power signal of the power timeline and the
    compared power metrics (auto, instant, average)."""
    from lowprof.rundir.many import expand
    from lowprof.analysis import plots
    from lowprof.analysis.compare import LETTERS
    from lowprof.metrics import compare
    from lowprof.errors import WorkloadMismatch

    figures = []
    sweeps, singles, jobs = {}, {}, {}
    for i, d in enumerate(dirs):
        p = Path(d)
        members = expand(p)
        label = f"{LETTERS[i % 26]}: {p.name}" + (f" ({members[0].host})" if members[0].host else "")
        if (p / "sweep.json").is_file():
            sweeps[label] = p
        else:
            if len(members) > 1:
                jobs[label] = p
            for m in members:
                singles[label if len(members) == 1 else f"{label} {m.label}"] = m.run
    if sweeps:
        figures.append(plots.plot_sweep(sweeps, out_dir))
    if jobs:
        figures.append(plots.plot_ranks(jobs, out_dir))
    tlb = {k: r for k, r in singles.items() if "tlb" in r.tables}
    if tlb:
        figures.append(plots.plot_tlb(tlb, out_dir))
    power = {k: r for k, r in singles.items() if any(t in r.tables and len(r[t]) for t in POWER_TABLES)}
    if power:
        figures.append(plots.plot_power(power, out_dir, signal=signal))
    bench = {k: r for k, r in singles.items() if "bench_results" in r.tables and len(r["bench_results"])}
    if bench:
        figures.append(plots.plot_microbench(bench, out_dir))
    system = {k: r for k, r in singles.items() if "system" in r.tables and len(r["system"])}
    if system:
        figures.append(plots.plot_system(system, out_dir))
    if len(dirs) >= 2:
        try:
            cmp = compare(dirs, force=force, signal=signal)
        except WorkloadMismatch as e:
            note(f"no ratio figure: {e}")
        else:
            if len(cmp.table):
                sides = {sd.letter: Path(str(sd.path)).name for sd in cmp.sides}
                figures.append(plots.plot_ratios(cmp.table, out_dir, sides=sides))
    if not figures:
        raise LowprofError(f"{dirs}: nothing to plot (no sweep, tlb or system data)")
    return figures


def main(args) -> int:
    out_dir = Path(args.out)
    if not args.out or (out_dir.exists() and not out_dir.is_dir()):
        raise LowprofError(f"--out {args.out!r}: " + ("exists and is not a folder (give a folder for the figures)"
                                                        if args.out else "empty (give a folder for the figures)"))
    figures = make_figures(args.dirs, out_dir, args.force, signal_of(args))
    if args.json:
        print_json([{"name": f.name, "files": [str(p) for p in f.paths], "marks": f.marks, "notes": f.notes,
                     "series": {k: v.to_dict(orient="list") for k, v in f.series.items()}} for f in figures])
        return 0
    if not args.quiet:
        rows = [[f.name, ", ".join(p.name for p in f.paths), len(f.series),
                 "; ".join([*(f"{k}: {v:g}" for k, v in f.marks.items()), *f.notes]) or "-"] for f in figures]
        out.print(table(f"figures in {args.out}", ["figure", "files", "series", "marked / notes"], rows))
    return 0

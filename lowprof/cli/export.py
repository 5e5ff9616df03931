"""``lowprof export DIR... --csv OUTDIR | --latex FILE | --perfetto FILE``: tables and metrics for papers, or a timeline."""

from __future__ import annotations

import argparse
from pathlib import Path

from lowprof.cli._common import add_signal_flags, signal_of
from lowprof.cli._ui import note
from lowprof.errors import LowprofError

HELP = "export runs: CSV tables + tidy metrics.csv, a LaTeX metrics table, or a Perfetto timeline"
EXAMPLES = """lowprof export runs/a --csv out/a
lowprof export runs/gh200 runs/h100 --csv out/ --latex out/metrics.tex
lowprof export runs/a --perfetto a.json   (open in ui.perfetto.dev)
lowprof export sweeps/gh200 sweeps/h100 --csv out/ --no-tables
lowprof export runs/a runs/b --csv out/ --average   (power metrics on the driver's 1 s average)"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directories, sweep folders or folders of rank runs")
    p.add_argument("--csv", metavar="OUTDIR",
                   help="write metrics.csv (long format) and, per run, <table>.csv and manifest.csv "
                        "(into OUTDIR for one run, OUTDIR/<run>/ for several)")
    p.add_argument("--no-tables", action="store_true", help="with --csv: write only metrics.csv")
    p.add_argument("--latex", metavar="FILE", help="write the metrics as a booktabs LaTeX table (one column per run)")
    p.add_argument("--perfetto", metavar="FILE", help="write one run's Chrome/Perfetto trace JSON (.gz compresses)")
    p.add_argument("--quiet", "-q", action="store_true")
    add_signal_flags(p)


def _check_targets(args) -> None:
    """Refuse, before any work, a place that cannot take what is asked: a folder for --latex/--perfetto's
    file, a file for --csv's folder, an empty name."""
    for flag, value, want in (("--csv", args.csv, "dir"), ("--latex", args.latex, "file"),
                              ("--perfetto", args.perfetto, "file")):
        if value is None:
            continue
        p = Path(value)
        if not value:
            raise LowprofError(f"{flag}: an empty name")
        if want == "dir" and p.exists() and not p.is_dir():
            raise LowprofError(f"{flag} {value}: exists and is not a folder (--csv takes the folder to write into)")
        if want == "file" and p.is_dir():
            raise LowprofError(f"{flag} {value}: is a folder; give the file to write, e.g. {p / ('metrics.tex' if flag == '--latex' else 'trace.json')}")


def main(args) -> int:
    from lowprof.analysis.export_csv import export_csv, latex_table
    from lowprof.metrics import tidy_metrics
    from lowprof.rundir.many import expand

    if not (args.csv or args.latex or args.perfetto):
        raise LowprofError("nothing to export: give --csv OUTDIR, --latex FILE or --perfetto FILE")
    _check_targets(args)
    members = [m for d in args.dirs for m in expand(d)]
    for m in members:  # said even with --quiet: what is exported lacks them
        for name, why in m.run.unreadable.items():
            note(f"{m.label}: table {name} unreadable ({why}); left out")
    if args.perfetto:
        if len(members) != 1:
            raise LowprofError(f"--perfetto takes one run directory; {args.dirs} hold {len(members)} runs")
        from lowprof.analysis.perfetto import write_chrome_trace

        counts = write_chrome_trace(members[0].run, Path(args.perfetto))
        note(f"wrote {args.perfetto}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), args.quiet)
    metrics = tidy_metrics(args.dirs, signal=signal_of(args)) if (args.csv or args.latex) else None
    if args.csv:
        out = Path(args.csv)
        written = []
        if not args.no_tables:
            for m in members:
                written += export_csv(m.run, out if len(members) == 1 else out / m.label)
        out.mkdir(parents=True, exist_ok=True)
        metrics.to_csv(out / "metrics.csv", index=False)
        written.append(out / "metrics.csv")
        note(f"wrote {len(written)} files to {out} ({len(metrics)} metric rows in metrics.csv)", args.quiet)
    if args.latex:
        Path(args.latex).parent.mkdir(parents=True, exist_ok=True)
        Path(args.latex).write_text(latex_table(metrics))
        note(f"wrote {args.latex} ({metrics['metric'].nunique()} metrics x {metrics['run'].nunique()} runs)", args.quiet)
    return 0

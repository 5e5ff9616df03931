"""``lowprof export DIR --csv OUTDIR``: tables as tidy CSV for papers and spreadsheets."""

from __future__ import annotations

import argparse
from pathlib import Path

from lowprof.analysis.export_csv import export_csv
from lowprof.cli._ui import note
from lowprof.rundir import load

HELP = "export a run's tables (CSV, one file per table, SI units in column names)"
EXAMPLES = """lowprof export runs/a --csv out/a
lowprof export runs/a --csv - (not supported: give a folder)"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="run directory")
    p.add_argument("--csv", metavar="OUTDIR", required=True, help="folder to write <table>.csv and manifest.csv into")
    p.add_argument("--quiet", "-q", action="store_true")


def main(args) -> int:
    run = load(args.dir)
    files = export_csv(run, Path(args.csv))
    note(f"wrote {len(files)} files to {args.csv}: {', '.join(f.name for f in files)}", args.quiet)
    return 0

"""``lowprof compare A B [C ...]``: metrics side by side with ratio and which is better."""

from __future__ import annotations

import argparse
import math
import sys

from lowprof.analysis.compare import compare
from rich.text import Text

from lowprof.cli._common import add_signal_flags, signal_of
from lowprof.cli._ui import err, fmt_bytes, fmt_s, note, out, print_json, table

HELP = "compare runs (or sweep folders, or per-rank folders) across machines: A, B, ratio B/A, better"
EXAMPLES = """lowprof compare runs/gh200 runs/h100-pcie
lowprof compare sweeps/gh200 sweeps/h100 --csv cmp.csv
lowprof compare runs/a runs/b --force --json --metrics step_time_s,tklqt_s
lowprof compare runs/a runs/b --instant   (power percentiles on NVML field 186 only; refuses GPUs without it)"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directory, sweep folder or folder of rank runs (first is A)")
    p.add_argument("--force", action="store_true", help="compare even when the workloads differ (differences are shown)")
    p.add_argument("--metrics", metavar="LIST", help="comma-separated metric names (default: all both sides have)")
    p.add_argument("--csv", metavar="FILE", help="write the table as CSV ('-' for stdout)")
    p.add_argument("--json", action="store_true", help="print sides, differences and rows as JSON")
    p.add_argument("--quiet", "-q", action="store_true")
    add_signal_flags(p)


def fmt_value(v: float, unit: str) -> str:
    """A value with its unit, 4 significant figures (times and bytes scaled)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if unit == "s":
        return fmt_s(v)
    if unit == "B":
        return fmt_bytes(v)
    if unit == "" and abs(v) <= 1 and v != 0 and v == v:
        return _positional(v, 3)
    return f"{_positional(v, 4)} {unit}".strip()


def _positional(v: float, digits: int) -> str:
    """``digits`` significant figures without e-notation (``12350``, ``0.00001234``)."""
    import numpy as np

    return np.format_float_positional(float(v), precision=digits, unique=False, fractional=False, trim="-")


def main(args) -> int:
    names = [n.strip() for n in args.metrics.split(",")] if args.metrics else None
    cmp = compare(args.dirs, force=args.force, names=names, signal=signal_of(args))
    for line in cmp.notices:  # said even with --quiet: the table lacks them
        err.print(Text.assemble(("lowprof: warning: ", "yellow"), line))
    if args.json:
        print_json(cmp.to_json())
    elif args.csv:
        if args.csv == "-":
            cmp.table.to_csv(sys.stdout, index=False)
        else:
            cmp.table.to_csv(args.csv, index=False)
            note(f"wrote {len(cmp.table)} rows to {args.csv}", args.quiet)
    else:
        for s in cmp.sides:
            out.print(Text.assemble((s.letter, "bold"), f" {s.path} ({s.kind}): {s.machine}"))
        for letter, d in cmp.differences.items():
            out.print(Text.assemble((f"workload A vs {letter} differs (--force):", "yellow"), " " + "; ".join(d)))
        others = [s.letter for s in cmp.sides[1:]]
        cols = ["metric", "params", "A"]
        for o in others:
            cols += [o, f"{o}/A", "better"]
        rows = []
        for r in cmp.table.to_dict(orient="records"):
            row = [r["metric"], r["params"], fmt_value(r["A"], r["unit"])]
            for o in others:
                ratio = r[f"{o}/A"]
                row += [fmt_value(r[o], r["unit"]), "-" if math.isnan(ratio) else f"{_positional(ratio, 3)}x",
                        r[f"better_{o}"]]
            rows.append(row)
        if rows and not any(r[1] for r in rows):  # no parameters anywhere: save the width
            cols = [cols[0], *cols[2:]]
            rows = [[r[0], *r[2:]] for r in rows]
        right = {i for i, c in enumerate(cols) if c not in ("metric", "params", "better")}
        out.print(table(f"{len(rows)} metrics in common", cols, rows, right=right))
        if not rows:
            note("no metric in common (different kinds of run?)", args.quiet)
    return 0

"""``lowprof compare A B [C ...]``: metrics side by side with ratio and which is better.

``lowprof compare A1 A2 A3 -- B1 B2 B3``: several runs per side (``--`` between sides): the mean of each
side, the 95 % Welch t-interval of the difference and whether it is significant (pyperf's ``compare_to``
manner: a change within the noise says so and is never marked better)."""

from __future__ import annotations

import argparse
import math
import sys

from lowprof.cli._common import add_devices_flag, add_signal_flags, signal_of
from lowprof.cli._ui import err, fmt_bytes, fmt_s, note, out, print_json, table

HELP = "compare runs (or sweep folders, or per-rank folders) across machines: A, B, ratio B/A, better; " \
       "several runs per side (A1 A2 -- B1 B2): means, a 95-percent interval, significant or not"
EXAMPLES = """lowprof compare runs/gh200 runs/h100-pcie
lowprof compare sweeps/gh200 sweeps/h100 --csv cmp.csv
lowprof compare runs/a runs/b --force --json --metrics step_time_s,tklqt_s
lowprof compare runs/a runs/b --instant   (power percentiles on NVML field 186 only; refuses GPUs without it)
lowprof compare runs/a runs/b --devices all   (energy per pass and phase: every recorded device, each part once)
lowprof compare runs/a1 runs/a2 runs/a3 -- runs/b1 runs/b2 runs/b3   (means, Welch 95 % interval, significant?)
lowprof compare sweeps/a1 sweeps/a2 -- sweeps/b1 sweeps/b2 --min-change 2   (repeated sweeps; < 2 % is noise)"""

SEPARATOR = "\x00side\x00"  # what a `--` between sides becomes before argparse (which would drop it)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR",
                   help="run directory, sweep folder or folder of rank runs (first is A); '--' between sides "
                        "makes sides of several runs each (A1 A2 -- B1 B2)")
    p.add_argument("--min-change", type=float, metavar="PCT",
                   help="a change of the mean smaller than PCT %% of A's is reported as not significant "
                        "(one run per side: not marked better)")
    _keep_side_separators(p)
    p.add_argument("--force", action="store_true", help="compare even when the workloads differ (differences are shown)")
    p.add_argument("--metrics", metavar="LIST", help="comma-separated metric names (default: all both sides have)")
    p.add_argument("--csv", metavar="FILE", help="write the table as CSV ('-' for stdout)")
    p.add_argument("--json", action="store_true", help="print sides, differences and rows as JSON")
    p.add_argument("--quiet", "-q", action="store_true")
    add_signal_flags(p)
    add_devices_flag(p, "auto for the energy per pass, per phase and per query; every device for the per-device "
                        "rows (with the flag: only the selected devices' rows)")


def _keep_side_separators(p: argparse.ArgumentParser) -> None:
    """argparse drops a ``--`` and refuses a second one: each ``--`` between sides is handed to it as
    :data:`SEPARATOR` instead (this verb takes no workload command, so ``--`` only ever separates sides)."""
    parse = p.parse_known_args

    def parse_known_args(args=None, namespace=None):
        if args is not None:
            args = [SEPARATOR if a == "--" else a for a in args]
        return parse(args, namespace)

    p.parse_known_args = parse_known_args


def sides_of(dirs: list[str]) -> list:
    """The DIR arguments as sides: without ``--``, one path per side; with it, a list of paths per side."""
    if SEPARATOR not in dirs:
        return list(dirs)
    sides, cur = [], []
    for d in dirs:
        if d == SEPARATOR:
            sides.append(cur)
            cur = []
        else:
            cur.append(d)
    sides.append(cur)
    if any(not s for s in sides):
        from lowprof.errors import LowprofError

        raise LowprofError("compare: '--' with no run on one side (usage: lowprof compare A1 A2 -- B1 B2)")
    return sides


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
    from rich.text import Text

    from lowprof.metrics import compare

    names = [n.strip() for n in args.metrics.split(",")] if args.metrics else None
    sides = sides_of(args.dirs)
    cmp = compare(sides, force=args.force, names=names, signal=signal_of(args), min_change_pct=args.min_change,
                  devices=args.devices)
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
    elif cmp.method is not None:
        _print_repeats(cmp)
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
                better = r[f"better_{o}"]
                if args.min_change is not None and r[f"below_min_change_{o}"]:
                    better = f"< {args.min_change:g} %"
                row += [fmt_value(r[o], r["unit"]), "-" if math.isnan(ratio) else f"{_positional(ratio, 3)}x",
                        better]
            rows.append(row)
        if rows and not any(r[1] for r in rows):  # no parameters anywhere: save the width
            cols = [cols[0], *cols[2:]]
            rows = [[r[0], *r[2:]] for r in rows]
        right = {i for i, c in enumerate(cols) if c not in ("metric", "params", "better")}
        out.print(table(f"{len(rows)} metrics in common", cols, rows, right=right))
        if not rows:
            note("no metric in common (different kinds of run?)", args.quiet)
    return 0


def _pct(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:+.3g} %"


def _verdict(r: dict, o: str, min_change: float | None) -> str:
    """pyperf's words: ``Not significant``, else who is better (or ``significant`` without a direction)."""
    v = r[f"verdict_{o}"]
    if v == "not significant":
        return "Not significant"
    if v == "below min change":
        return f"Not significant (<{min_change:g}%)"
    if v == "too few runs":
        return "n/a (1 run)"
    better = r[f"better_{o}"]
    return {"": "significant", "=": "significant"}.get(better, f"{better} better")


def _print_repeats(cmp) -> None:
    """Sides of repeated runs: mean of each side, change, its 95 % Welch interval (percent of A's mean),
    p-value and verdict; a row with fewer runs than its side says (n=...)."""
    from rich.text import Text

    for s in cmp.sides:
        out.print(Text.assemble((s.letter, "bold"), f" ({len(s.paths)} runs, {s.kind}): {s.machine}"))
        for path in s.paths:
            out.print(f"    {path}")
    same: dict[str, list[str]] = {}  # runs that differ from A1 in the same way: said once
    for label, d in cmp.differences.items():
        same.setdefault("; ".join(d), []).append(label)
    for d, labels in same.items():
        out.print(Text.assemble((f"workload A1 vs {', '.join(labels)} differs (--force):", "yellow"), " " + d))
    out.print("mean of each side; change = (X - A) / A; 95 % CI: Welch t-interval of the difference of the means, "
              "as % of A's mean; significant when it excludes 0 (two-sided Welch t-test, alpha 0.05)"
              + (f"; changes under {cmp.method['min_change_pct']:g} % are not significant (--min-change)"
                 if cmp.method["min_change_pct"] is not None else ""))
    others = [s.letter for s in cmp.sides[1:]]
    runs = {s.letter: len(s.paths) for s in cmp.sides}
    cols = ["metric", "params", "A"]
    for o in others:
        cols += [o, "change", "95 % CI", "p", "verdict"] if len(others) == 1 else \
            [o, f"{o} change", f"{o} 95 % CI", f"{o} p", f"{o} verdict"]
    rows = []

    def mean(r, x):
        text = fmt_value(r[x], r["unit"])
        return text if r[f"n_{x}"] == runs[x] else f"{text} (n={r[f'n_{x}']})"

    for r in cmp.table.to_dict(orient="records"):
        row = [r["metric"], r["params"], mean(r, "A")]
        for o in others:
            a = r["A"]
            ci = "-" if not a or math.isnan(r[f"ci_low_{o}"]) else \
                f"[{_pct(r[f'ci_low_{o}'] / abs(a) * 100)}, {_pct(r[f'ci_high_{o}'] / abs(a) * 100)}]"
            p = r[f"p_{o}"]
            row += [mean(r, o), _pct(r[f"change_pct_{o}"]), ci, "-" if p is None or math.isnan(p) else f"{p:.2g}",
                    _verdict(r, o, cmp.method["min_change_pct"])]
        rows.append(row)
    if rows and not any(r[1] for r in rows):
        cols = [cols[0], *cols[2:]]
        rows = [[r[0], *r[2:]] for r in rows]
    right = {i for i, c in enumerate(cols) if c not in ("metric", "params") and not c.endswith("verdict")}
    out.print(table(f"{len(rows)} metrics in common", cols, rows, right=right))
    if not rows:
        note("no metric in common (different kinds of run?)")

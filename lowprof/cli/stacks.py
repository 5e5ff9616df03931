"""``lowprof stacks DIR``: the top Python frames of a run's py-spy samples (self and total), for the whole
run, one pass or one phase; and the samples as collapsed stacks (flamegraph input) or speedscope JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lowprof.errors import LowprofError

HELP = "top Python frames (self/total samples) of py-spy stacks; collapsed stacks and speedscope JSON"
EXAMPLES = """lowprof stacks runs/p
lowprof stacks runs/p --pass 3 --top 10        (the pass `lowprof bound` calls pass#3)
lowprof stacks runs/p --phase decode --json
lowprof stacks runs/p --collapsed p.folded    (flamegraph.pl p.folded > p.svg)
lowprof stacks runs/p --speedscope p.speedscope.json   (open in www.speedscope.app)
lowprof stacks runs/p --collapsed - | flamegraph.pl > p.svg"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="run directory with py-spy stacks (lowprof run --stacks, lowprof attach)")
    win = p.add_mutually_exclusive_group()
    win.add_argument("--pass", dest="pass_", metavar="N",
                     help="only the samples inside one pass: its step name (pass#3) or number (3), as `lowprof bound` lists them")
    win.add_argument("--phase", metavar="NAME", help="only the samples inside the phase NAME (lowprof.mark / lowprof.window)")
    p.add_argument("--top", type=int, default=20, metavar="K", help="frames shown (default 20; --csv/--json: all)")
    p.add_argument("--lines", action="store_true", help="one row per source line, not per function")
    p.add_argument("--collapsed", metavar="FILE",
                   help="write collapsed stacks ('root;...;leaf COUNT' lines; - for stdout) instead of the table")
    p.add_argument("--speedscope", metavar="FILE",
                   help="write speedscope JSON (one sampled profile per thread) instead of the table")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the frames as JSON")
    fmt.add_argument("--csv", action="store_true", help="print the frames as CSV")
    p.add_argument("--quiet", "-q", action="store_true", help="no 'wrote FILE' lines")


def _check_target(flag: str, value: str | None) -> None:
    if value and value != "-" and Path(value).is_dir():
        raise LowprofError(f"{flag} {value}: is a folder; give the file to write")


def main(args) -> int:
    from lowprof.analysis import stacks as S
    from lowprof.cli._ui import note, out, print_json, table
    from lowprof.rundir import load

    if args.top < 1:
        raise LowprofError(f"--top must be at least 1, got {args.top}")
    for flag in ("collapsed", "speedscope"):
        _check_target(f"--{flag}", getattr(args, flag))
    if args.collapsed == "-" and (args.json or args.csv):
        raise LowprofError("--collapsed - writes to stdout: it cannot be combined with --json or --csv")
    run = load(args.dir)
    s = S.stack_samples(run)
    if args.pass_ is not None or args.phase is not None:
        S.check_timed(s)
    if args.pass_ is not None:
        windows, label = S.pass_windows(run, args.pass_)
        s = S.select_window(s, windows, label)
    elif args.phase is not None:
        windows, label = S.phase_windows(run, args.phase)
        s = S.select_window(s, windows, label)
    if args.collapsed:
        text = S.collapsed_text(s)
        if args.collapsed == "-":
            sys.stdout.write(text)
            return 0
        S.write_text(args.collapsed, text)
        note(f"wrote {args.collapsed}: {text.count(chr(10))} stacks, {s.samples} samples", args.quiet)
    if args.speedscope:
        S.write_text(args.speedscope, S.speedscope_json(s, f"{run.path.name}: {s.label}"))
        threads = s.frame["thread"].nunique()
        note(f"wrote {args.speedscope}: {threads} thread{'s' if threads != 1 else ''} (one profile each), "
             f"{s.samples} samples", args.quiet)
    top = S.top_frames(s, "line" if args.lines else "function")
    meta = {"run": str(run.path), "window": s.label, "table": s.table, "samples": s.samples, "rate_hz": s.rate_hz,
            "by": "line" if args.lines else "function"}
    if args.json:
        print_json(meta | {"frames": top.to_dict("records")})
        return 0
    if args.csv:
        top.to_csv(sys.stdout, index=False)
        return 0
    if args.collapsed or args.speedscope:  # files asked for: the notes say what was written
        return 0
    rate = f" at {s.rate_hz:g} Hz" if s.rate_hz else ""
    title = (f"Python {'lines' if args.lines else 'functions'} of {s.label}: {s.samples} py-spy samples{rate} "
             f"(self: the innermost frame; total: anywhere on the stack)")
    shown = top.head(args.top)
    cwd = str(run.section("cwd") or "").rstrip("/") + "/"
    short = (lambda f: f.replace(f"({cwd}", "(")) if len(cwd) > 1 else (lambda f: f)
    out.print(table(title, ["frame", "self", "self %", "total", "total %"],
                    [[short(r.frame), r.self_samples, f"{100 * r.self_share:.1f}", r.total_samples, f"{100 * r.total_share:.1f}"]
                     for r in shown.itertuples(index=False)], right={1, 2, 3, 4}))
    if len(top) > len(shown):
        out.print(f"{len(top) - len(shown)} more frames (--top K, --csv or --json for all)")
    if not s.samples:
        out.print("no samples in this window")
    return 0

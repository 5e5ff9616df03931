"""``lowprof import TRACE --out DIR``: a Kineto JSON trace or an nsys SQLite export into a run directory."""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

from lowprof.cli._common import DURATION_RANGE_S, add_output_flags, check_seconds, seconds_arg
from lowprof.cli._ui import err, fmt_s, note, out
from lowprof.errors import LowprofError
from lowprof.tracers.scan_limits import MAX_EXPANSION

HELP = ("import a Kineto/PyTorch-profiler JSON trace, an Nsight Systems SQLite export, a power log, or a folder "
        "of per-rank traces (one run per rank under one job folder)")
EXAMPLES = """lowprof import trace.pt.trace.json.gz --out runs/resnet
lowprof import report.sqlite --out runs/nsys --force
lowprof import trace.json --out runs/t && lowprof launches runs/t
lowprof import traces/job42/ --out runs/job42   # rank0.json.gz, rank1.json.gz ... -> runs/job42/rank0, rank1 ...
lowprof import smi.csv --out runs/smi --tz Europe/Paris   # nvidia-smi --query-gpu=timestamp,index,power.draw.instant,... --format=csv
lowprof import dmon.log --out runs/dmon --tz +02:00       # nvidia-smi dmon -o DT
lowprof import power.csv --out runs/p                     # t_s,gpu,power_w (or unix_s; wide: t_s,gpu0,gpu1)
ssh gpu-box cat trace.json.gz | lowprof import /dev/stdin --out runs/remote"""

# Run as the program, the process ends as soon as the run directory is written and said (lowprof.cli._quick_exit).
QUICK_EXIT = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("trace", help="trace file: .json, .json.gz (Kineto) or .sqlite (nsys export); a folder of such "
                                 "traces, one per rank (rank from the trace's distributedInfo, else rankN in the "
                                 "name); or a power log: "
                                 "nvidia-smi --query-gpu CSV, nvidia-smi dmon output, a CSV of time and power per device; "
                                 "a pipe (/dev/stdin, <(...)) is streamed")
    p.add_argument("--tz", metavar="ZONE", help="power logs: the time zone of nvidia-smi's local timestamps "
                                                "(IANA name, e.g. Europe/Paris, or offset, e.g. +02:00)")
    p.add_argument("--interval", type=seconds_arg, metavar="S", help="power logs without timestamps: seconds between samples")
    p.add_argument("--max-expansion", type=float, default=MAX_EXPANSION, metavar="N",
                   help=f"refuse a .gz that expands to more than N times its size (default {MAX_EXPANSION:g}; "
                        "real traces: 7-23x)")
    add_output_flags(p, out_help="run directory to write (default: TRACE's name under ./lowprof-runs/)")


def default_run_name(trace: Path) -> str:
    """The run directory name for TRACE: its name up to the first dot, never empty (``.x.json`` -> ``x``,
    ``/dev/fd/63`` -> ``fd63``, ``.json.gz`` -> ``json``)."""
    stem = trace.name.lstrip(".").split(".")[0]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")
    if stem.isdigit():
        stem = f"fd{stem}"
    return stem or "trace"


def _job(args, folder: Path) -> int:
    from lowprof.tracers import kineto_scan
    from lowprof.tracers.job import import_job

    dest = args.out or str(Path("lowprof-runs") / default_run_name(folder.resolve()))
    t0 = time.perf_counter()
    with kineto_scan.expansion_limit(args.max_expansion):
        path, ranks, doc = import_job(folder, dest, force=args.force, progress=lambda m: note(m, args.quiet))
    world = f" of {doc['world_size']}" if doc.get("world_size") and doc["world_size"] != len(ranks) else ""
    note(f"{folder} -> {path}: {len(ranks)}{world} ranks ({', '.join(str(r.rank) for r in ranks)}) in "
         f"{fmt_s(time.perf_counter() - t0)}", args.quiet)
    for r in ranks:
        for line in r.notes:
            note(line)  # said even with --quiet: a rank other than the name says
    return 0


def main(args) -> int:
    # No linear algebra here: numpy's OpenBLAS need not start its thread pool (~60 ms of CPU at import, taken
    # from the scanner's threads). Unless the user set it; nothing this verb runs inherits the environment.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from lowprof.tracers import kineto_scan
    from lowprof.tracers.importer import import_trace

    if Path(args.trace).is_dir():
        if args.tz or args.interval is not None:
            raise LowprofError("--tz and --interval are for power logs, not a folder of traces")
        return _job(args, Path(args.trace))
    if args.interval is not None:
        args.interval = check_seconds("--interval", args.interval, 1e-6, DURATION_RANGE_S[1])
    trace = Path(args.trace)
    dest = args.out or str(Path("lowprof-runs") / default_run_name(trace))
    t0 = time.perf_counter()
    # rich, for the line said at the end on a terminal, loads in a thread while the trace is read
    with kineto_scan.expansion_limit(args.max_expansion), _status(trace, args.quiet), \
            kineto_scan.importing_meanwhile(*(() if args.quiet or err.plain else ("rich.console", "rich.text"))):
        path = import_trace(trace, dest, force=args.force, tz=args.tz, interval_s=args.interval)
    from lowprof.rundir import load

    run = load(path)
    rows = {n: t.rows for n, t in run.section("tables").items()}
    note((f"{trace} -> {path} ({', '.join(f'{n}: {r} rows' for n, r in rows.items())}) in "
                f"{fmt_s(time.perf_counter() - t0)}"), args.quiet)
    trace_meta = run.section("trace")
    if note_line := trace_meta.no_launches_note:
        note(note_line)  # an empty launches table is said, with why, even with --quiet
    if trace_meta.source == "nsys-sqlite":
        from lowprof.tracers import nsys

        said = nsys.problems
    else:
        said = kineto_scan.problems
    for line in said(trace_meta.parser.raw):
        note(line)  # a dropped event changes the result: always said, even with --quiet
    return 0


def _status(trace: Path, quiet: bool):
    """The spinner while importing, where rich draws one (a terminal): a pipe or a file pays for neither
    rich's live display nor its refresh thread, which would take the GIL from the trace's readers."""
    if quiet or not out.is_terminal:
        return _null()
    from rich.markup import escape

    return out.status(f"importing {escape(trace.name)}", spinner="dots")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

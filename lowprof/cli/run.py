"""``lowprof run -- CMD``: start a workload, sample it, exit with its exit code."""

from __future__ import annotations

import argparse

from lowprof.cli._common import (add_feature_options, add_recording_flags, print_feature_errors, print_notices,
                                 recording_options)
from lowprof.cli._ui import err, fmt_s, note

HELP = "run a command and record it into a run directory"
EXAMPLES = """lowprof run -- python serve.py --batch 8
lowprof run --out runs/a --probes system --interval 0.01 -- ./a.out
lowprof run --out runs/demo -- python -m lowprof.workloads.demo
lowprof run --trace kernels --on-demand -- python serve.py   # then: lowprof attach PID --trace kernels --duration 5"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_recording_flags(p)
    add_feature_options(p, "run")  # --trace, --marks, --allocator, --stacks...: see lowprof.features
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS...", help="the workload to run")


def main(args) -> int:
    from rich.markup import escape

    from lowprof.spawn import Workload
    from lowprof.record import FeatureRecorders, Recording, default_out_dir

    argv = list(args.command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        err.print("lowprof run: error: no command given (usage: lowprof run [OPTIONS] -- CMD ARGS...)")
        return 2
    opts = recording_options(args, "run")
    if Workload.resolve(argv[0]) is None:
        err.print(f"lowprof: {argv[0]}: command not found")
        return 127
    features = FeatureRecorders(opts)
    features.check()  # a bad combination of flags is refused before any run directory is made
    out = opts.out or default_out_dir(argv[0] if argv[0] not in ("python", "python3") or len(argv) < 2 else argv[1])
    rec = Recording(out, kind="run", probes=opts.probes, interval_s=opts.interval_s, force=opts.force, command=argv)
    if opts.probes_given:
        rec.writer.manifest["probes_requested"] = opts.probes
    features.make(rec)
    env = rec.env() | features.env()
    work = Workload(argv, env=env)
    rec.prepare()  # probes started and tables open: once the workload is spawned, only its first sample is left
    try:
        pid = work.start()
    except OSError as e:
        rec.writer.manifest["workload"]["error"] = f"{type(e).__name__}: {e}"
        rec.finish(status="failed")
        err.print(f"lowprof: {argv[0]}: cannot start ({e.strerror or e})")
        return 126
    features.started(pid, opts.quiet)  # first: py-spy (--stacks) attaches as soon as the workload runs
    rec.start(pid)
    ran = [n for n, p in rec.writer.manifest["probes"].items() if p.get("status") == "ok"]
    note(f"recording {' '.join(argv)!s} (pid {pid}) into {rec.path} with {', '.join(ran) or 'no probes'}", opts.quiet)
    ended = work.wait()
    rec.writer.manifest["workload"].update(ended.to_json())
    failed = features.finished(rec, ended)
    rec.finish()
    how = f"signal {ended.signal}" if ended.signal else f"exit code {ended.exit_code}"
    took_s = rec.writer.manifest["duration_s"] or rec.writer.clock.t_ns() / 1e9
    note(f"workload ended with {how} after {fmt_s(took_s)}; "
         f"see: lowprof report {rec.path}", opts.quiet)
    print_notices(rec.writer.manifest)
    if rec.write_error:  # said once; the workload's exit status stands (the recording is what failed)
        err.print(f"[bold red]lowprof: error:[/] {escape(rec.write_error)} writing {escape(str(rec.path))}: "
                  "kept what was flushed before; the run loads as INCOMPLETE", markup=True)
    print_feature_errors(failed)  # what was asked for and not recorded: said, and the exit status says so too
    return ended.shell_status or (1 if failed else 0)

"""``lowprof run -- CMD``: start a workload, sample it, exit with its exit code."""

from __future__ import annotations

import argparse
import importlib

from lowprof.cli._common import add_recording_flags, print_notices, probes_from_args
from lowprof.cli._ui import err, fmt_s, note
from lowprof.errors import LowprofError

HELP = "run a command and record it into a run directory"
EXAMPLES = """lowprof run -- python serve.py --batch 8
lowprof run --out runs/a --probes system --interval 0.01 -- ./a.out
lowprof run --out runs/demo -- python -m lowprof.workloads.demo
lowprof run --trace kernels --on-demand -- python serve.py   # then: lowprof attach PID --trace kernels --duration 5"""

# Optional features of `run` that other subpackages contribute ("module:object").
# Each object has add_arguments(parser), and prepare(args, recording) -> extension or None; an
# extension has env() -> dict (added to the workload's environment) and finish(recording, ended), and may have
# started(pid, quiet), called once the workload runs, and check(args), called before the run directory is made.
EXTENSIONS: list[str] = ["lowprof.tracers.live:KernelTraceOption", "lowprof.marks:MarksOption",
                         "lowprof.native.oobmalloc_run:AllocatorOption", "lowprof.tracers.pystack_timeline:StacksOption"]


def _extensions():
    out = []
    for ref in EXTENSIONS:
        module, _, name = ref.partition(":")
        out.append(getattr(importlib.import_module(module), name))
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_recording_flags(p)
    for ext in _extensions():
        ext.add_arguments(p)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS...", help="the workload to run")


def main(args) -> int:
    from rich.markup import escape

    from lowprof.launch import Workload
    from lowprof.record import Recording, default_out_dir

    argv = list(args.command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        err.print("lowprof run: error: no command given (usage: lowprof run [OPTIONS] -- CMD ARGS...)")
        return 2
    probes = probes_from_args(args)
    if Workload.resolve(argv[0]) is None:
        err.print(f"lowprof: {argv[0]}: command not found")
        return 127
    for ext in _extensions():  # optional: refuse a bad combination of flags before any run directory is made
        if hasattr(ext, "check"):
            ext.check(args)
    out = args.out or default_out_dir(argv[0] if argv[0] not in ("python", "python3") or len(argv) < 2 else argv[1])
    rec = Recording(out, kind="run", probes=probes, interval_s=args.interval, force=args.force, command=argv)
    if args.probes is not None:
        rec.run.manifest["probes_requested"] = probes
    active = [e for e in (ext.prepare(args, rec) for ext in _extensions()) if e is not None]
    env = rec.env()
    for e in active:
        env.update(e.env())
    work = Workload(argv, env=env)
    try:
        pid = work.start()
    except OSError as e:
        rec.run.manifest["workload"]["error"] = f"{type(e).__name__}: {e}"
        rec.finish(status="failed")
        err.print(f"lowprof: {argv[0]}: cannot start ({e.strerror or e})")
        return 126
    rec.start(pid)
    ran = [n for n, p in rec.run.manifest["probes"].items() if p.get("status") == "ok"]
    note(f"recording {' '.join(argv)!s} (pid {pid}) into {rec.path} with {', '.join(ran) or 'no probes'}", args.quiet)
    for e in active:
        if hasattr(e, "started"):  # optional: what the extension has to say once the workload runs
            e.started(pid, args.quiet)
    ended = work.wait()
    rec.run.manifest["workload"].update(ended.to_json())
    failed = []
    for e in active:
        try:
            e.finish(rec, ended)
        except Exception as ex:  # noqa: BLE001 - an extension failing must not lose the run
            rec.run.manifest.setdefault("extension_errors", []).append(f"{type(ex).__name__}: {ex}")
            failed.append(ex)
    rec.finish()
    how = f"signal {ended.signal}" if ended.signal else f"exit code {ended.exit_code}"
    note(f"workload ended with {how} after {fmt_s(rec.run.manifest['duration_s'] or rec.run.clock.t_ns() / 1e9)}; "
         f"see: lowprof report {rec.path}", args.quiet)
    print_notices(rec.run.manifest)
    if rec.write_error:  # said once; the workload's exit status stands (the recording is what failed)
        err.print(f"[bold red]lowprof: error:[/] {escape(rec.write_error)} writing {escape(str(rec.path))}: "
                  "kept what was flushed before; the run loads as INCOMPLETE")
    for ex in failed:  # what was asked for and not recorded: said, and the exit status says so too
        err.print(f"[bold red]lowprof: error:[/] {escape(str(ex) if isinstance(ex, LowprofError) else f'{type(ex).__name__}: {ex}')}", markup=True)
    return ended.shell_status or (1 if failed else 0)

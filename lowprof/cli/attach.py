"""``lowprof attach PID``: sample a process that is already running, plus its Python stacks (the ``stacks``
feature, :mod:`lowprof.tracers.pystack_timeline`: on unless ``--no-stacks``) and what other features are asked
for (``--trace kernels``: the ``kernels`` feature's window, whose end it owns; :mod:`lowprof.record`)."""

from __future__ import annotations

import argparse
import os
import time

from lowprof.cli._common import (DURATION_RANGE_S, add_feature_options, add_recording_flags, check_seconds,
                                 print_feature_errors, print_notices, recording_options, seconds_arg)
from lowprof.cli._ui import err, fmt_s, note
from lowprof.console import Countdown
from lowprof.errors import LowprofError

TYPE_CHECKING = False  # psutil, threading and the recorder are imported by main(): `lowprof --help` stays light
if TYPE_CHECKING:
    import threading

    import psutil

    from lowprof.record import FeatureRecorders, Recording, RecordingOptions

HELP = "record an already running process (until it exits, --duration, or Ctrl-C)"
EXAMPLES = """lowprof attach 4242 --duration 30 --out runs/b
lowprof attach $(pgrep -f serve.py) --no-stacks
lowprof attach 4242 --trace kernels --duration 5 --out runs/w1   # started by: lowprof run --trace kernels --on-demand"""


_PID_MAX = 4194304  # Linux's PID_MAX_LIMIT; no process has a larger id


def _pid(text: str) -> int:
    """A process id as argparse's type: a whole number of at least 1.

    A number above the kernel's limit (2^22) is a process that does not exist, said by main()."""
    try:
        pid = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a process id: {text!r}") from None
    if pid < 1:
        raise argparse.ArgumentTypeError(f"a process id is a whole number from 1, got {pid}")
    return pid


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pid", type=_pid, help="process to record")
    p.add_argument("--duration", type=seconds_arg, metavar="S",
                   help=f"stop after S seconds, {DURATION_RANGE_S[0]:g} to {DURATION_RANGE_S[1]:g} "
                        "(default: when the process exits or on Ctrl-C)")
    add_recording_flags(p)
    add_feature_options(p, "attach")  # --trace, --no-stacks, --stacks-rate (--stack-rate: older spelling): lowprof.features
    p.add_argument("--kind", default="attach", help=argparse.SUPPRESS)  # lowprof.profile() records as "profile"


def main(args) -> int:
    import signal
    import threading

    import psutil

    from lowprof.record import FeatureRecorders, Recording, default_out_dir

    opts = recording_options(args, "attach")
    if args.duration is not None:
        args.duration = check_seconds("--duration", args.duration, *DURATION_RANGE_S)
    try:
        if args.pid > _PID_MAX:
            raise psutil.NoSuchProcess(args.pid)
        target = psutil.Process(args.pid)
        cmdline = target.cmdline()
        name = target.name()
    except psutil.NoSuchProcess:
        raise LowprofError(f"no process with PID {args.pid}") from None
    except psutil.AccessDenied:
        raise LowprofError(f"no permission to inspect PID {args.pid}") from None
    out = opts.out or default_out_dir(f"pid{args.pid}-{name}")
    features = FeatureRecorders(opts)
    features.check()  # a bad combination of flags is refused before any run directory is made
    features.claim(args.pid)  # and so is a process a feature cannot record (--trace kernels: not armed, busy)
    try:
        rec = Recording(out, kind=args.kind, probes=opts.probes, interval_s=opts.interval_s, force=opts.force,
                        command=cmdline, pid=args.pid, verb="attach")
        if opts.probes_given:
            rec.writer.manifest["probes_requested"] = opts.probes
        features.make(rec)
        stop = threading.Event()
        old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return _record(args, opts, features, rec, target, stop)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
    finally:
        features.close()


def _record(args, opts: RecordingOptions, features: FeatureRecorders, rec: Recording, target: psutil.Process,
            stop: threading.Event) -> int:
    from rich.markup import escape

    m = rec.writer.manifest
    features.started(args.pid, opts.quiet)  # first: py-spy (stacks) samples from before the probes' first sample
    rec.start()
    try:
        said = features.sampling(args.duration, opts.quiet)  # --trace kernels: the agent's window opens
    except LowprofError:
        features.finished(rec, None)  # py-spy stopped, its stacks kept
        rec.finish(status="failed")
        raise
    note(f"attached to PID {args.pid} ({' '.join(m['command'] or [])[:60]}); recording into {rec.path}"
         + "".join(f"; {words}" for words in said)
         + ("" if args.duration else "; Ctrl-C to stop"), opts.quiet)
    t0 = time.monotonic()
    why = features.wait(stop, args.duration, opts.quiet)  # a feature that owns the window's end (--trace kernels)
    if why is None:
        why = _wait(args, target, stop, t0)
    m["workload"]["attach_ended_by"] = why
    failed = features.finished(rec, None)  # the window's owner last: py-spy (stacks) stops with the window
    rec.finish()
    if rec.write_error:
        err.print(f"[bold red]lowprof: error:[/] {escape(rec.write_error)} writing {escape(str(rec.path))}: "
                  "kept what was flushed before; the run loads as INCOMPLETE", markup=True)
    note(f"stopped ({why}) after {fmt_s(time.monotonic() - t0)}; see: lowprof report {rec.path}", args.quiet)
    print_notices(m)
    print_feature_errors(failed)
    return 1 if failed else 0


def _wait(args, target: psutil.Process, stop: threading.Event, t0: float) -> str:
    """Block until the duration passes, the target exits, or a signal; say which."""
    import select

    stat = f"/proc/{target.pid}/stat"

    def gone() -> bool:  # one read of /proc/PID/stat: cheaper than psutil at this polling rate
        try:
            with open(stat, "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except OSError:
            return True

    try:
        pidfd = os.pidfd_open(target.pid)
    except (OSError, AttributeError):  # gone already, or a kernel before 5.3: poll /proc instead
        pidfd = None
    progress = Countdown("recording", args.duration, args.quiet)
    try:
        while True:
            elapsed = time.monotonic() - t0
            progress.update(elapsed)
            if stop.is_set():
                return "signal"
            if gone():
                return "process exited"
            if args.duration is not None and elapsed >= args.duration:
                return "duration"
            # The target's exit wakes the wait at once (its pidfd); 0.25 s: how soon a signal is seen.
            timeout = 0.25 if args.duration is None else min(0.25, max(0.0, args.duration - elapsed))
            if pidfd is not None:
                select.select([pidfd], [], [], timeout)
            else:
                stop.wait(timeout)
    finally:
        if pidfd is not None:
            os.close(pidfd)
        progress.stop()

"""Flags shared by the recording verbs, defined once."""

from __future__ import annotations

import argparse

from lowprof.errors import LowprofError, UsageError

__all__ = ["add_output_flags", "add_recording_flags", "probes_from_args", "print_notices", "check_out_dir", "add_signal_flags", "signal_of", "add_devices_flag", "seconds_arg", "check_seconds",
           "DURATION_RANGE_S"]

DURATION_RANGE_S = (0.001, 1e6)  # --duration values lowprof accepts (s): up to ~11.6 days


def seconds_arg(text: str) -> float | str:
    """argparse type for seconds: the float, or the text itself when it is no number (checked later by
    :func:`check_seconds`, so that the error is one line rather than argparse's usage block)."""
    try:
        return float(text)
    except ValueError:
        return text


def check_seconds(flag: str, value, lo: float, hi: float) -> float:
    """``value`` (s) if a finite number within [lo, hi], else UsageError naming ``flag`` and the range."""
    import math

    if isinstance(value, str) or not (math.isfinite(value) and lo <= value <= hi):
        raise UsageError(f"{flag} must be a finite number of seconds from {lo:g} to {hi:g}, got {value}")
    return float(value)


def add_output_flags(p: argparse.ArgumentParser,
                     out_help: str = "run directory to write (default: a new folder under ./lowprof-runs/)") -> None:
    """``--out DIR``, ``--force`` and ``--quiet``: every verb that writes a run directory takes these."""
    p.add_argument("--out", "-o", metavar="DIR", help=out_help)
    p.add_argument("--force", action="store_true",
                   help="replace --out if it is an earlier lowprof run directory (never any other folder)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def add_recording_flags(p: argparse.ArgumentParser) -> None:
    from lowprof.probes import PROBES
    from lowprof.probes.sampler import INTERVAL_RANGE_S

    add_output_flags(p)
    p.add_argument("--probes", metavar="LIST", help=f"comma-separated probes (default: all available; known: {', '.join(PROBES)})")
    p.add_argument("--interval", type=seconds_arg, default=0.05, metavar="S",
                   help=f"sampling interval in seconds, {INTERVAL_RANGE_S[0]:g} to {INTERVAL_RANGE_S[1]:g} (default: 0.05)")


def add_signal_flags(p: argparse.ArgumentParser) -> None:
    """``--instant`` / ``--average``: which GPU power signal the power figures use (percentiles, peaks, headroom,
    POLCA, the power timeline). Every verb that shows power figures takes them: power, ipw, report, compare,
    plot, export."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--instant", action="store_true",
                   help="GPUs: use instantaneous power (NVML field 186) and refuse a GPU that lacks it "
                        "(default: instantaneous where recorded, else the driver's average, labelled)")
    g.add_argument("--average", action="store_true",
                   help="GPUs: use the driver's averaged reading (power_w: a 1 s average on Ampere and newer)")


def add_devices_flag(p, default: str) -> None:
    """``--devices LIST``: which power devices the figures take, one vocabulary for every verb
    (:func:`lowprof.analysis.devices.choose_devices`). ``default`` says in the help what the verb takes without
    it; the flag's value is None then, and the verb passes it on as given (the policy decides)."""
    from lowprof.analysis.devices import DEVICES_HELP

    p.add_argument("--devices", metavar="LIST", default=None,
                   help=f"which power devices: {DEVICES_HELP}; default: {default}")


def signal_of(args) -> str:
    """The power signal the flags ask for: ``instant``, ``average`` or ``auto`` (neither given)."""
    return "instant" if getattr(args, "instant", False) else "average" if getattr(args, "average", False) else "auto"


def probes_from_args(args) -> list[str]:
    from lowprof.probes.sampler import INTERVAL_RANGE_S
    from lowprof.record import parse_probe_list

    args.interval = check_seconds("--interval", args.interval, *INTERVAL_RANGE_S)
    try:
        return parse_probe_list(args.probes)
    except ValueError as e:
        raise LowprofError(str(e)) from None


def print_notices(manifest: dict) -> None:
    """The run's failures that change what it holds (``lowprof.analysis.notices``), one warning line each on
    stderr, said even with --quiet."""
    from rich.text import Text

    from lowprof.analysis.notices import notices
    from lowprof.cli._ui import err

    for line in notices(manifest, errors=False):
        err.print(Text.assemble(("lowprof: warning: ", "yellow"), line))


def check_out_dir(path, force: bool = False, flag: str = "--out") -> None:
    """Refuse, before any long work, an output folder that cannot be written: a file, a non-empty folder
    (without --force, or that is no earlier run), a place nobody may write (/proc, /sys, read-only)."""
    import os
    import tempfile
    from pathlib import Path

    from lowprof.rundir import is_run_dir

    if path is None:
        return
    p = Path(path)
    if p.exists() or p.is_symlink():
        if not p.is_dir():
            raise LowprofError(f"{flag} {path}: exists and is not a folder")
        if any(p.iterdir()):
            if not force:
                raise LowprofError(f"{flag} {path}: exists and is not empty (use --force to replace an earlier run)")
            if not is_run_dir(p) and not (p / "sweep.json").is_file():
                raise LowprofError(f"{flag} {path}: not a lowprof run directory; --force only replaces one")
        return
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=f".{p.name}.", suffix=".check", dir=p.parent))
    except OSError as e:
        raise LowprofError(f"{flag} {path}: cannot create a folder there ({e.strerror or e})") from None

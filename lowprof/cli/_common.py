"""Flags shared by the recording verbs, defined once; the features' options (:mod:`lowprof.features`) become
flags here, and a verb's parsed flags become one :class:`~lowprof.record.RecordingOptions`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from lowprof.errors import LowprofError, UsageError

if TYPE_CHECKING:
    from lowprof.record import RecordingOptions

__all__ = ["add_output_flags", "add_recording_flags", "probes_from_args", "print_notices", "check_out_dir", "add_signal_flags", "signal_of", "add_devices_flag", "seconds_arg", "check_seconds",
           "DURATION_RANGE_S", "add_feature_options", "feature_values", "recording_options", "feature_argv",
           "print_feature_errors"]

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
    from lowprof.probes import probe_features
    from lowprof.probes.sampler import INTERVAL_RANGE_S

    add_output_flags(p)
    p.add_argument("--probes", metavar="LIST", help=f"comma-separated probes (default: all available; known: {', '.join(probe_features())})")
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


def add_feature_options(p: argparse.ArgumentParser, verb: str) -> None:
    """Every feature's options that ``verb`` offers, as flags (in :data:`lowprof.features.FEATURES` order);
    an option's older spellings (``aliases``) are accepted and not shown."""
    from lowprof.features import FEATURES

    for f in FEATURES:
        for o in f.options:
            if verb not in o.verbs:
                continue
            if o.switch:
                kw: dict[str, Any] = {"action": "store_true"}
            else:
                kw = {"type": o.type, "choices": o.choices, "metavar": o.metavar}
            p.add_argument(o.flag, dest=o.dest, default=o.default, help=o.help_for(verb), **kw)
            for alias in o.aliases:
                p.add_argument(alias, dest=o.dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kw)


def feature_values(args, verb: str) -> dict[str, dict[str, Any]]:
    """Per feature name, its option values out of ``verb``'s parsed flags (``Option.dest -> value``)."""
    from lowprof.features import FEATURES

    return {f.name: f.values(args, verb) for f in FEATURES if f.options}


def feature_argv(args, verb: str) -> list[str]:
    """The features' flags of ``verb`` given a value other than their default, as command-line words (what
    ``sweep`` passes to each point's ``lowprof run``)."""
    from lowprof.features import FEATURES

    out: list[str] = []
    for f in FEATURES:
        for o in f.options:
            if verb not in o.verbs:
                continue
            v = getattr(args, o.dest, o.default)
            if v == o.default or v is None:
                continue
            out += [o.flag] if o.switch else [o.flag, str(v)]
    return out


def recording_options(args, verb: str) -> "RecordingOptions":
    """A recording verb's flags, checked (--interval, --probes) and typed, built once."""
    from lowprof.record import RecordingOptions

    probes = probes_from_args(args)
    return RecordingOptions(verb=verb, out=args.out, force=args.force, quiet=args.quiet, probes=probes,
                            probes_given=args.probes is not None, interval_s=args.interval,
                            features=feature_values(args, verb))


def print_feature_errors(failed: list[BaseException]) -> None:
    """What a feature was asked for and did not record (its ``finished`` raised): one error line each."""
    from rich.markup import escape

    from lowprof.cli._ui import err

    for ex in failed:
        err.print(f"[bold red]lowprof: error:[/] {escape(str(ex) if isinstance(ex, LowprofError) else f'{type(ex).__name__}: {ex}')}",
                  markup=True)


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

"""Every exception class lowprof defines (issue 16: all of them here, none elsewhere); the CLI turns each into
one line and a non-zero exit (``exit_code``: 1, or 2 for a usage error as argparse's own)."""

__all__ = ["LowprofError", "RunDirError", "ProbeError", "TraceError", "GPUUnavailable", "UsageError", "SqlError",
           "SignalUnavailable", "WorkloadMismatch", "AllocatorError", "TLBError", "ToolchainError",
           "InputError", "MissingTable", "ManifestContractError"]


class LowprofError(Exception):
    """Base class: a problem the user can act on, printed as one line without a traceback."""

    exit_code = 1


class RunDirError(LowprofError):
    """A run directory is missing, corrupt, of an unknown schema, or would be overwritten."""


class ProbeError(LowprofError):
    """A probe could not start or read its source."""


class TraceError(LowprofError):
    """A trace file is missing, truncated or not in a format lowprof reads."""


class GPUUnavailable(LowprofError):
    """The work needs a GPU (NVML, CUDA) and there is none, or the driver refused."""


class UsageError(LowprofError):
    """A flag's value is out of range: one line, exit status 2 (as argparse's usage errors)."""

    exit_code = 2


class SqlError(LowprofError):
    """``lowprof query``: the SQL did not run: a syntax error is a usage error (exit 2), any other (unknown
    table or column, a type error) exit 1."""

    def __init__(self, msg: str, syntax: bool) -> None:
        super().__init__(msg)
        self.exit_code = 2 if syntax else 1


class SignalUnavailable(LowprofError):
    """The power signal asked for (``--instant``) was not recorded for some device: every verb says so and stops,
    rather than leaving the figure out or using another signal silently (:mod:`lowprof.analysis.power`)."""


class WorkloadMismatch(LowprofError):
    """The runs compared ran different commands or parameters (``--force`` compares anyway)."""


class AllocatorError(LowprofError):
    """oobmalloc cannot do what was asked (not built, out of memory, bad argument)."""


class TLBError(LowprofError):
    """The TLB benchmark cannot run as asked (bad flag, no memory, no x86, native helper missing)."""


class ToolchainError(LowprofError):
    """A CUDA tool is missing or rejected a kernel source."""


class InputError(LowprofError, ValueError):
    """The data given cannot make the figure asked for (a pass without GPU times, too few points to fit): a
    ValueError to Python callers, one line at the CLI."""


class MissingTable(RunDirError, KeyError):
    """``run[name]``: the run has no table ``name`` (a KeyError to Python callers, one line at the CLI)."""

    __str__ = Exception.__str__  # KeyError's own would quote the message


class ManifestContractError(LowprofError, AssertionError):
    """A manifest about to be written breaks its declaration (lowprof.rundir.sections): a lowprof bug, not the
    user's. Raised only with LOWPROF_STRICT_MANIFEST=1 (the tests: an AssertionError there); otherwise the
    manifest is written and one warning line says it."""

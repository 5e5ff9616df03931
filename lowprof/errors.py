"""Every exception lowprof raises on purpose; the CLI turns these into one line and a non-zero exit."""

__all__ = ["LowprofError", "RunDirError", "ProbeError", "TraceError", "GPUUnavailable", "ManifestContractError"]


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


class ManifestContractError(AssertionError):
    """A manifest about to be written breaks its declaration (lowprof.rundir.sections): a lowprof bug, not the
    user's. Raised only with LOWPROF_STRICT_MANIFEST=1 (the tests); otherwise the manifest is written and
    one warning line says it. Not a LowprofError on purpose: it must not be turned into a user's error line."""

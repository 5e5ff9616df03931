"""The one NVML adapter: every part of lowprof that talks to NVML (the ``nvml`` probe and its recorder,
``gpu_facts`` in :mod:`lowprof.inventory`, the benchmarks' :class:`~lowprof.microbench.gpu.GpuSession`
and :class:`~lowprof.microbench.clockwatch.ClockWatch`) opens it, closes it and names its errors here.

Light at import: :mod:`pynvml` (``nvidia-ml-py``) is imported inside :func:`load`.

- **Opening**: :func:`init` / :func:`shutdown` (or ``with session() as nvml``) count the users of each
  library object in this process: ``nvmlInit`` is called by the first, ``nvmlShutdown`` by the last, so a
  benchmark's session and the inventory never shut NVML down under each other. The library object is
  :mod:`pynvml` or a stand-in with the same calls (a replay or recording proxy, a test's fake): each
  stand-in is counted on its own, so a replay file sees exactly one ``nvmlInit`` and one ``nvmlShutdown``.
- **Why NVML cannot be used**: :func:`unavailable_reason` maps what ``import pynvml`` or ``nvmlInit``
  raised to one line (no GPU: "NVML library not found (no NVIDIA driver on this machine)");
  :func:`require` raises it as :class:`~lowprof.errors.GPUUnavailable`.
- **Why one reading failed**: :func:`error_name` names an NVML return code (``NotSupported``...);
  :func:`is_permanent` says the GPU never offers that reading (ask once), :func:`is_missing_symbol`
  that the driver lacks the call (an older driver: try the older call).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

from lowprof.errors import GPUUnavailable

__all__ = ["load", "init", "shutdown", "session", "open_reason", "availability", "require",
           "unavailable_reason", "error_name", "call_errors", "is_permanent", "is_missing_symbol",
           "PERMANENT", "FUNCTION_NOT_FOUND", "LIBRARY_MISMATCH", "REASON_CALLS", "PROCESS_CALLS"]

# nvmlReturn_t codes (nvml.h) that mean "this GPU never offers this reading": ask once, then stop asking.
FUNCTION_NOT_FOUND = 13
PERMANENT = {3: "NotSupported", 4: "NoPermission", FUNCTION_NOT_FOUND: "FunctionNotFound", 2: "InvalidArgument"}
# pynvml's NVMLLibraryMismatchError (an Exception, not an NVMLError): an unversioned call wraps a versioned
# symbol (e.g. ..._v3) the driver's libnvidia-ml lacks.
LIBRARY_MISMATCH = "LibraryMismatch"
_MISMATCH_CLASS = "NVMLLibraryMismatchError"
# Calls newest first: drivers before R535 (and pynvml before 12.535) have only ...ThrottleReasons (same bits);
# the unversioned process call wraps _v3 and raises NVMLLibraryMismatchError where the driver lacks it.
REASON_CALLS = ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons")
PROCESS_CALLS = ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetComputeRunningProcesses_v2")

_lock = threading.Lock()
_users: dict[int, list] = {}  # id(library object) -> [the object (kept alive while counted), users]


def load() -> Any:
    """The :mod:`pynvml` module (raises ImportError without ``nvidia-ml-py``)."""
    import pynvml

    return pynvml


def init(nvml: Any = None) -> Any:
    """Open NVML for one more user and return the library object (default :mod:`pynvml`): ``nvmlInit``
    runs only for the first user of that object. Raises what ``import pynvml`` or ``nvmlInit`` raised
    (:func:`unavailable_reason` says it in one line)."""
    if nvml is None:
        nvml = load()
    with _lock:
        held = _users.get(id(nvml))
        if held is None:
            nvml.nvmlInit()
            _users[id(nvml)] = [nvml, 1]
        else:
            held[1] += 1
    return nvml


def shutdown(nvml: Any) -> None:
    """One user is done with ``nvml``; the last one's call runs ``nvmlShutdown`` (its errors ignored).
    Nothing happens for an object :func:`init` did not open."""
    if nvml is None:
        return
    with _lock:
        held = _users.get(id(nvml))
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        del _users[id(nvml)]
    try:
        nvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - the driver may already be gone; nothing is lost
        pass


@contextmanager
def session(nvml: Any = None) -> Iterator[Any]:
    """``with session() as nvml: ...``: :func:`init` on entry, :func:`shutdown` on exit."""
    nvml = init(nvml)
    try:
        yield nvml
    finally:
        shutdown(nvml)


def unavailable_reason(exc: BaseException) -> str:
    """One line for why NVML cannot be used, from what ``import pynvml`` or ``nvmlInit`` raised."""
    name = type(exc).__name__
    if "LibraryNotFound" in name:
        return "NVML library not found (no NVIDIA driver on this machine)"
    if "DriverNotLoaded" in name:
        return "NVIDIA driver not loaded"
    if "NoPermission" in name:
        return "no permission to use NVML"
    if isinstance(exc, ImportError):
        return "pynvml is not installed (pip install nvidia-ml-py)"
    return f"NVML unavailable: {name}: {exc}"


def open_reason(nvml: Any = None) -> tuple[Any, str | None]:
    """``(library, None)`` with NVML opened (:func:`init`; the caller calls :func:`shutdown`), or
    ``(None, reason)`` in one line where it cannot be."""
    try:
        return init(nvml), None
    except Exception as e:  # noqa: BLE001 - ImportError, NVMLError_LibraryNotFound, DriverNotLoaded...
        return None, unavailable_reason(e)


def availability() -> str | None:
    """Why the ``nvml`` probe cannot sample here (None when NVML opens and sees a GPU)."""
    try:
        nvml = load()
    except ImportError:
        return "pynvml (nvidia-ml-py) is not installed"
    nvml, reason = open_reason(nvml)
    if reason:
        return reason
    try:
        n = nvml.nvmlDeviceGetCount()
    finally:
        shutdown(nvml)
    return None if n else "NVML sees no GPU"


def require(what: str, nvml: Any = None) -> Any:
    """NVML opened for ``what`` (the caller calls :func:`shutdown`), else :class:`GPUUnavailable`
    ``"{what}: {reason}"``."""
    nvml, reason = open_reason(nvml)
    if reason:
        raise GPUUnavailable(f"{what}: {reason}")
    return nvml


def call_errors(nvml: Any) -> tuple[type[BaseException], ...]:
    """The exception classes one NVML call of ``nvml`` raises for a refusal: its ``NVMLError`` and pynvml's
    ``NVMLLibraryMismatchError`` (taken from ``nvml``, else from :mod:`pynvml` where installed)."""
    mismatch = getattr(nvml, _MISMATCH_CLASS, None)
    if mismatch is None:
        try:
            mismatch = getattr(load(), _MISMATCH_CLASS, None)
        except ImportError:
            mismatch = None
    return (nvml.NVMLError,) + ((mismatch,) if mismatch else ())


def error_name(e: BaseException) -> str:
    """A refused call's reason as the manifest records it: ``NotSupported``, ``NoPermission``,
    ``FunctionNotFound``, ``InvalidArgument``, ``LibraryMismatch``, else ``<Class>(<code>)``."""
    if type(e).__name__ == _MISMATCH_CLASS:
        return LIBRARY_MISMATCH
    code = getattr(e, "value", None)
    return PERMANENT.get(code) or f"{type(e).__name__.removeprefix('NVMLError_')}({code})"


def _not_nvml_error(e: BaseException, nvml: Any) -> bool:
    """``e`` (one of :func:`call_errors`) is not ``nvml``'s NVMLError: the library mismatch."""
    return type(e).__name__ == _MISMATCH_CLASS or (nvml is not None and not isinstance(e, nvml.NVMLError))


def is_permanent(e: BaseException, nvml: Any = None) -> bool:
    """The GPU never offers what was asked (a permanent return code, or a library mismatch: with ``nvml``, any
    of its :func:`call_errors` that is not its NVMLError): ask once."""
    return getattr(e, "value", None) in PERMANENT or _not_nvml_error(e, nvml)


def is_missing_symbol(e: BaseException, nvml: Any = None) -> bool:
    """The driver (or the stand-in) lacks the call itself: FunctionNotFound, pynvml's library mismatch, or no
    such attribute. An older call may answer instead (:data:`REASON_CALLS`, :data:`PROCESS_CALLS`)."""
    return (getattr(e, "value", None) == FUNCTION_NOT_FOUND or isinstance(e, AttributeError)
            or _not_nvml_error(e, nvml))

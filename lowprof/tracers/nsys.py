"""Read an Nsight Systems SQLite export (``nsys export --type sqlite``) into the ``launches`` table.

Tables used (Nsight Systems export schema): ``CUPTI_ACTIVITY_KIND_KERNEL`` / ``_MEMCPY`` / ``_MEMSET``
(GPU activities: start, end, deviceId, streamId, correlationId, globalPid; kernels also name ids,
grid/block, registersPerThread, static/dynamicSharedMemory), ``CUPTI_ACTIVITY_KIND_GRAPH_TRACE`` (one row
per CUDA graph execution, what nsys's default ``--cuda-graph-trace=graph`` records instead of the graph's
kernels: kind ``graph``), ``CUPTI_ACTIVITY_KIND_RUNTIME`` (CUDA runtime and driver API calls: start, end,
globalTid, correlationId, nameId), ``StringIds`` (id -> text), ``TARGET_INFO_SESSION_START_TIME`` (Unix
time of the session start), ``TARGET_INFO_GPU`` / ``TARGET_INFO_SYSTEM_ENV`` (GPU names, host) and, when
present, ``NVTX_EVENTS`` (ranges named NAME#N become steps). ``globalTid`` packs the pid in bits 24-47
and the tid in bits 0-23; ``globalPid`` the pid the same way.

Linking: CUPTI numbers correlation ids per process, so a GPU activity is joined to the API call of the
same process (pid from globalPid) with the same correlationId; where one id has several calls in a process
(a runtime call and the driver call inside it), the first in table order counts. API names lose nsys's
version suffix (``cudaLaunchKernel_v7000`` -> ``cudaLaunchKernel``); ``launch_api_raw`` keeps the name.

Hostile exports: a value that is not an integer in its column's range (text, a real, beyond int32 for
the int32 columns, NULL) is stored as null and counted; a row without a usable start/end is skipped and
counted; a damaged or foreign database is one TraceError.

Clock: nsys timestamps are integer ns on the session's clock (ns since the session start); they are
returned unchanged, and ``TARGET_INFO_SESSION_START_TIME.utcEpochNs`` gives their Unix time.
"""

from __future__ import annotations

import os
import re

from lowprof.tracers.sniff import is_sqlite

__all__ = ["load_launches", "is_sqlite", "normalise_api_name", "problems", "CUDA_TABLES"]

CUDA_TABLES = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
               "CUPTI_ACTIVITY_KIND_GRAPH_TRACE", "CUPTI_ACTIVITY_KIND_RUNTIME")
_VERSION_SUFFIX = re.compile(r"_v\d+$")


def normalise_api_name(name: object) -> object:
    """``cudaLaunchKernel_v7000`` -> ``cudaLaunchKernel`` (nsys appends the API version); other values as they are."""
    return _VERSION_SUFFIX.sub("", name) if isinstance(name, str) else name


def problems(info: dict) -> list[str]:
    """What reading an export dropped (from ``meta['parser']``), one sentence each, for the user to see."""
    out = []
    if info.get("skipped_rows"):
        out.append("skipped rows without an integer start/end (or ending before they start): " +
                   ", ".join(f"{n:,} in {t}" for t, n in info["skipped_rows"].items()))
    if info.get("values_out_of_range"):
        out.append("stored as null (not an integer in the column's range): " +
                   ", ".join(f"{n:,} {c}" for c, n in info["values_out_of_range"].items()))
    return out


def load_launches(path: str | os.PathLike):
    """Read an nsys SQLite export. Returns ``(launches, meta, {"steps": ..., "api_calls": ...})``; timestamps are nsys session-clock ns.

    The reading is :mod:`lowprof.tracers.nsys_read` (pandas, numpy), imported here on first use: this module
    stays light to import."""
    from lowprof.tracers.nsys_read import read_export

    return read_export(path)

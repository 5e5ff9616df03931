"""``import_trace``: turn a Kineto JSON trace or an Nsight Systems SQLite export into a run directory.

The run directory (kind ``import``) holds ``launches``, ``api_calls`` (every runtime/driver API call) and,
where the source has them, ``ops`` and ``steps``. Timestamps are shifted onto the run clock: ``t_ns = trace_ns - origin`` where ``origin`` is
the earliest timestamp in the trace; ``manifest['clock']`` records the trace clock and the origin, so
``trace_ns = origin_trace_ns + t_ns`` (and Unix time, where the trace gives it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from lowprof.errors import TraceError
from lowprof.tracers import kineto_scan
from lowprof.tracers.sniff import is_sqlite, sniff_power_log

if TYPE_CHECKING:  # light at import: the file is sniffed and its scan started before the readers (nsys: pandas;
    import pandas as pd  # kineto: numpy and pyarrow) and the run directory's writer load

    from lowprof.clock import RunClock
    from lowprof.rundir import RunWriter
    from lowprof.tracers import kineto

# Imported in a thread while the scanner reads a Kineto trace: what comes after the scan.
_AFTER_SCAN = ("lowprof.tracers.kineto", *kineto_scan.FRAME_MODULES, "lowprof.rundir", "lowprof.clock",
               "lowprof.rundir.sections")

__all__ = ["import_trace", "read_any"]


def read_any(trace_path: str | os.PathLike) -> tuple[pd.DataFrame | kineto.Columns, dict, dict]:
    """Read a trace of either format: (launches, meta, companion tables), trace-clock ns; nsys as pandas
    frames, Kineto as :class:`~lowprof.tracers.kineto.Columns` (the same tables; no pandas import)."""
    p = Path(trace_path)
    if not p.exists():
        raise TraceError(f"{p}: no such trace file")
    if p.is_file() and is_sqlite(p):  # a pipe is not sniffed: its first bytes would be lost
        from lowprof.tracers import nsys

        return nsys.load_launches(p)
    if p.suffix in (".nsys-rep", ".qdrep") and p.is_file() and not _starts_like_json(p):
        out = p.with_suffix(".sqlite").name
        raise TraceError(f"{p}: an Nsight Systems report is read from its SQLite export: run "
                         f"`nsys export --type sqlite -o {out} {p}`, then `lowprof import {out}`")
    # The scan starts before the Kineto reader (numpy) and the table writer (pyarrow) are imported: they load in
    # a thread while the scanner and the inflating thread, which release the GIL, read the file.
    with kineto_scan.importing_meanwhile(*_AFTER_SCAN):
        scanned = kineto_scan.scan(p)
    from lowprof.tracers import kineto

    return kineto.read_columns(p, scanned=scanned)


def _starts_like_json(p: Path) -> bool:
    """The file's first non-blank byte opens JSON (or it is gzip): it may be a Kineto trace despite its name."""
    with open(p, "rb") as f:
        head = f.read(64)
    return head.startswith(b"\x1f\x8b") or head.lstrip()[:1] in (b"{", b"[")


def trace_inventory(meta: dict, launches: pd.DataFrame) -> tuple[dict, dict]:
    """The manifest's ``host`` and ``gpus`` for an imported trace, from what the trace says.

    GPUs: the trace's ``deviceProperties`` (Kineto; nsys: its TARGET_INFO_GPU) as ``devices`` with
    index, name, memory_bytes and compute capability; else the device numbers its GPU activities carry
    (unnamed). Host: the trace's host name where it writes one (Kineto ``host_name``, nsys TARGET_INFO);
    the CPU model and count are not in a trace (null).
    """
    devices = []
    for d in meta.get("device_properties") or []:
        if not isinstance(d, dict):
            continue
        dev = {"index": d.get("id") if isinstance(d.get("id"), int) and not isinstance(d.get("id"), bool) else None,
               "name": d["name"] if isinstance(d.get("name"), str) else None}
        mem = d.get("totalGlobalMem")
        if isinstance(mem, int) and not isinstance(mem, bool) and mem > 0:
            dev["memory_bytes"] = mem
        if isinstance(d.get("computeMajor"), int) and isinstance(d.get("computeMinor"), int):
            dev["compute_capability"] = f"{d['computeMajor']}.{d['computeMinor']}"
        devices.append(dev)
    if devices:
        gpus = {"available": True, "reason": None, "source": "trace deviceProperties", "devices": devices}
    else:
        used = sorted({int(v) for v in _present(launches, "device")}) if len(launches) else []
        gpus = {"available": bool(used), "source": "trace",
                "reason": (f"the trace names no GPU (no deviceProperties); its activities ran on device "
                           f"{', '.join(map(str, used))}") if used else "none named in the trace (no deviceProperties)",
                "devices": [{"index": i, "name": None} for i in used]}
    host_name = meta.get("host_name")
    host = {"hostname": host_name if isinstance(host_name, str) and host_name else None,
            "cpu_model": meta.get("host_cpu_model"), "cpu_logical": meta.get("host_cpu_logical"), "source": "trace"}
    return host, gpus


def import_trace(trace_path: str | os.PathLike, out_dir: str | os.PathLike, force: bool = False,
                 **power_log: object) -> Path:
    """Import a trace into a new run directory ``out_dir``; returns its path. A power log (nvidia-smi CSV or
    dmon, a plain time/power CSV) goes to :func:`lowprof.probes.power_logs.import_power_log` with
    ``power_log`` (``tz``, ``interval_s``)."""
    if Path(trace_path).is_file() and (kind := sniff_power_log(trace_path)):
        from lowprof.probes.power_logs import import_power_log

        return import_power_log(trace_path, out_dir, force=force, kind=kind, **power_log)
    launches, meta, extra = read_any(trace_path)
    from lowprof.clock import RunClock
    from lowprof.rundir import RunWriter
    from lowprof.rundir.specs.launches import TIME_COLUMNS
    from lowprof.tracers import kineto

    origin = int(meta["clock"]["first_event_ns"])
    for df in (launches, *extra.values()):
        if isinstance(df, kineto.Columns):
            df.shift(TIME_COLUMNS, origin)
            continue
        for c in TIME_COLUMNS:
            if c in df:
                df[c] = df[c] - origin
    base = meta["clock"].get("base_time_unix_ns")
    clock = RunClock(origin_monotonic_ns=origin, origin_realtime_ns=(base + origin) if base is not None else 0,
                     name=f"{meta['clock']['name']} trace clock")
    writer = RunWriter(out_dir, kind="import", force=force, clock=clock)
    try:
        _fill(writer, clock, origin, trace_path, launches, meta, extra)
    except BaseException as e:  # never leave a half-written run directory (it would block a retry)
        shutil.rmtree(writer.path, ignore_errors=True)
        if isinstance(e, (ValueError, TypeError, OverflowError, KeyError)) and not isinstance(e, TraceError):
            raise TraceError(f"{trace_path}: cannot import ({type(e).__name__}: {e})") from None
        raise
    return writer.path


def _present(df, column: str):
    """The values of an int column that are there (a pandas frame or kineto Columns)."""
    from lowprof.tracers import kineto

    return df.present(column) if isinstance(df, kineto.Columns) else df[column].dropna()


def _fill(writer: RunWriter, clock: RunClock, origin: int, trace_path, launches: pd.DataFrame, meta: dict,
          extra: dict[str, pd.DataFrame]) -> None:
    """Write the imported tables and manifest into ``writer`` and finish it."""
    from lowprof.rundir.specs.launches import IMPORTED_TABLES, LAUNCHES

    writer.manifest["clock"] = clock.to_json() | {
        "origin_trace_ns": origin,
        "trace_clock": meta["clock"],
        "doc": "every *_ns timestamp is ns since origin_trace_ns on the trace's own clock "
               "(trace_ns = origin_trace_ns + t_ns); origin_realtime_ns is 0 when the trace gives no Unix time",
    }
    writer.manifest["host"], writer.manifest["gpus"] = trace_inventory(meta, launches)
    writer.manifest["command"] = ["lowprof", "import", str(trace_path)]
    writer.manifest["trace"] = {k: v for k, v in meta.items() if k != "clock"}
    writer.write_frame(LAUNCHES, launches)
    for name, df in extra.items():
        writer.write_frame(IMPORTED_TABLES[name], df)
    ends = [v.max() for c in ("gpu_end_ns", "cpu_end_ns") if len(launches) and len(v := _present(launches, c))]
    if meta["clock"].get("last_event_ns") is not None:  # the trace's span: its last event of any kind
        ends.append(int(meta["clock"]["last_event_ns"]) - origin)
    writer.finish(end_t_ns=int(max(ends)) if ends else 0)

"""Phase marks: ``lowprof.mark("prefill")`` (an instant) or ``with lowprof.mark("decode"):`` (begin/end).

Inside a workload started by ``lowprof run`` (or a ``lowprof.profile()`` region) the environment
holds ``LOWPROF_RUN_DIR`` and ``LOWPROF_CLOCK_ORIGIN_NS``; each mark appends one JSON line to
``<run dir>/marks.jsonl`` with one ``write(2)`` on an ``O_APPEND`` descriptor, so lines from many
processes never interleave and a crash loses nothing already written. Outside lowprof a mark is a
no-op costing one environment lookup. When the run ends the lines become the ``marks`` table.

A ``with`` mark writes an instant when called and a begin on entry that names it (``of``); the
table keeps the begin and drops that instant.

``sync=True`` waits for the process's GPU work before stamping (``torch.cuda.synchronize()`` where torch
has initialised CUDA, else ``cupy.cuda.runtime.deviceSynchronize()`` where CuPy is imported; neither is
imported by lowprof), so a phase's edges line up with the GPU work launched before them rather than
with the CPU's launch of it. Both wait for the process's current device (all its streams); other GPUs
are not touched, so no context is created on them. The line records which it used (``"sync": "torch" |
"cupy" | "none"``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from typing import TYPE_CHECKING

from lowprof.clock import ENV_ORIGIN, origin_from_env
from lowprof.errors import LowprofError
from lowprof.feature import Feature, Option
from lowprof.rundir.sections import owned_by
from lowprof.rundir import ENV_RUN_DIR
from lowprof.rundir.specs.marks import MARKS, MARKS_FILE, read_marks_file

if TYPE_CHECKING:  # mark() runs inside workloads: keep pandas out of its import
    import pandas as pd

    from lowprof.analysis.metric import Metric

__all__ = ["mark", "write_marks_table", "FEATURE"]

_state: dict = {"key": None, "fd": None, "pid": None, "origin": 0, "seq": 0}


def _fd() -> int | None:
    """The append descriptor for this process's current run, or None outside lowprof."""
    run_dir = os.environ.get(ENV_RUN_DIR)
    if not run_dir:
        return None
    origin = os.environ.get(ENV_ORIGIN, "")
    key = (run_dir, origin)
    pid = os.getpid()
    if _state["key"] != key or _state["pid"] != pid:  # new run, or a forked child
        if _state["fd"] is not None and _state["pid"] == pid:
            os.close(_state["fd"])
        try:
            fd = os.open(os.path.join(run_dir, MARKS_FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:  # run dir gone or read-only: marks must never break the workload
            fd = None
        _state.update(key=key, pid=pid, origin=(origin_from_env(origin) or (0, 0))[0], fd=fd)
    return _state["fd"]


def _gpu_sync() -> str:
    """Wait for this process's GPU work with the framework it already uses; returns which (``none`` if neither)."""
    import sys

    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_initialized():
            torch.cuda.synchronize()
            return "torch"
    except Exception:  # noqa: BLE001 - a mark must never break the workload
        pass
    cupy = sys.modules.get("cupy")
    try:
        if cupy is not None:
            cupy.cuda.runtime.deviceSynchronize()
            return "cupy"
    except Exception:  # noqa: BLE001
        pass
    return "none"


def _write(name: str, kind: str, of: int | None = None, sync: bool = False) -> int | None:
    fd = _fd()
    if fd is None:
        return None
    synced = _gpu_sync() if sync else None
    stamp = time.monotonic_ns()
    t = stamp - _state["origin"]
    _state["seq"] += 1
    _state["stamp_ns"] = stamp  # lowprof.window shares its edges with its marks
    seq = _state["seq"]
    tail = f',"of":{of}}}\n' if of else "}\n"  # formatted by hand: ~2x cheaper than json.dumps of a dict
    if synced:
        tail = f',"sync":"{synced}"' + tail
    line = f'{{"t_ns":{t},"name":{json.dumps(name)},"kind":"{kind}","pid":{_state["pid"]},"id":{seq}{tail}'
    try:
        os.write(fd, line.encode())
    except OSError:  # e.g. disk full: drop the mark, keep the workload running
        return None
    return seq


class mark:
    """Mark a phase: ``lowprof.mark("warmup")`` records an instant; ``with lowprof.mark("decode"): ...``
    records begin and end (times on the run clock, ns). An instant's phase lasts until the next mark of
    any kind. ``sync=True``: wait for the GPU work already launched (torch or CuPy) before stamping, at the
    mark and at the end of a ``with`` block. Does nothing outside a lowprof recording."""

    __slots__ = ("name", "_id", "_sync")

    def __init__(self, name: str, sync: bool = False) -> None:
        if not isinstance(name, str) or not name:
            raise LowprofError(f"mark name must be a non-empty string, got {name!r}")
        self.name = name
        self._sync = bool(sync)
        self._id = _write(name, "instant", sync=self._sync)

    def __enter__(self) -> "mark":
        _write(self.name, "begin", self._id)  # right after the instant, which already waited for the GPU
        return self

    def __exit__(self, *exc) -> None:
        _write(self.name, "end", sync=self._sync)


def _collect(path: Path, user_file: str | None, origin_realtime_ns: int) -> pd.DataFrame:
    import pandas as pd

    parts = []
    if (path / MARKS_FILE).exists():
        parts.append(read_marks_file(path / MARKS_FILE))
    if user_file:
        parts.append(read_marks_file(user_file, origin_realtime_ns, strict=True))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["t_ns", "name", "kind", "pid"])
    return pd.concat(parts).sort_values("t_ns", kind="stable").reset_index(drop=True)


def write_marks_table(path: str | os.PathLike, user_file: str | None = None) -> int:
    """Turn ``marks.jsonl`` (and a ``--marks`` file) of a FINISHED run dir into its ``marks`` table; returns rows."""
    from lowprof.rundir.manifest import read_manifest, write_manifest
    from lowprof.rundir.tables import write_frame_parquet

    path = Path(path)
    manifest = read_manifest(path)
    df = _collect(path, user_file, manifest.get("clock", {}).get("origin_realtime_ns", 0))
    if not len(df):
        return 0
    write_frame_parquet(path / "tables", MARKS, df)
    manifest.setdefault("tables", {})["marks"] = MARKS.describe() | {"rows": len(df)}
    write_manifest(path, manifest)
    return len(df)


class _Marks:
    """The recorder: the workload's ``marks.jsonl`` (and a ``--marks`` file) become the ``marks`` table."""

    def __init__(self, user_file: str | None) -> None:
        self.user_file = user_file

    def finished(self, recording, ended) -> None:
        """Write the marks table; a ``--marks`` file that does not parse is left out and said (manifest
        ``marks_file``, shown by ``lowprof.analysis.notices``), the workload's own marks are kept."""
        writer = recording.writer
        user = self.user_file
        if user:
            try:
                n = len(read_marks_file(user, writer.clock.origin_realtime_ns, strict=True))
                writer.manifest["marks_file"] = {"path": str(user), "status": "ok", "rows": n}
            except (LowprofError, OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError) as e:
                why = str(e) if isinstance(e, LowprofError) else f"{type(e).__name__}: {e}"
                writer.manifest["marks_file"] = {"path": str(user), "status": "failed", "reason": why}
                user = None
        df = _collect(writer.path, user, writer.clock.origin_realtime_ns)
        if len(df):
            writer.write_frame(MARKS, df)


def enter_region(path: str | os.PathLike) -> dict:
    """Point this process's marks at the run being recorded in ``path`` (for ``lowprof.profile()``);
    returns the environment to restore with :func:`exit_region`."""
    from lowprof.clock import RunClock
    from lowprof.rundir.manifest import read_manifest

    clock = RunClock.from_json(read_manifest(Path(path))["clock"])
    old = {k: os.environ.get(k) for k in (ENV_RUN_DIR, ENV_ORIGIN)}
    os.environ[ENV_RUN_DIR] = str(Path(path).resolve())
    os.environ[ENV_ORIGIN] = clock.env_value()
    return old


def exit_region(path: str | os.PathLike, old: dict) -> None:
    """Restore the environment and turn the region's ``marks.jsonl`` into the ``marks`` table of the finished run."""
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    if (Path(path) / MARKS_FILE).exists():
        try:
            write_marks_table(path)
        except (LowprofError, OSError, ValueError):  # marks.jsonl stays, and readers use it
            pass


def _check(values) -> None:
    if values["marks"] and not Path(values["marks"]).is_file():
        raise LowprofError(f"--marks {values['marks']}: no such file")


def _metrics() -> tuple[Metric, ...]:
    """The marked phases' duration (:mod:`lowprof.analysis.phases`); their energy is the power feature's."""
    from lowprof.analysis import phases

    return phases.metrics()


FEATURE = Feature(
    "marks", "phase marks from lowprof.mark() and --marks FILE", tables=(MARKS,), manifest=owned_by("marks"),
    options=(Option("--marks", metavar="FILE", verbs=("run",),
                    help="JSONL phase marks to add: {\"name\": .., \"kind\": instant|begin|end, "
                         "\"t_s\"|\"t_ns\" (run clock) or \"unix_s\" (wall clock)} per line"),),
    check=_check, record=lambda values, recording: _Marks(values["marks"]), metrics=_metrics)

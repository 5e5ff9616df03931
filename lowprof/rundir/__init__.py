"""The run directory: the one contract between what records (probes, tracers) and what reports.

Layout::

    DIR/manifest.json          schema, host, GPUs, clock, command, exit, probes, tables
    DIR/tables/<name>.parquet  one table per probe/tracer (``.arrows`` stream while recording;
                               a table written whole goes straight to Parquet)
    DIR/<other files>          raw artefacts a table was made from (e.g. py-spy output)

Writers use :class:`RunDir`; readers use :func:`load`.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from typing import TYPE_CHECKING

from lowprof.clock import RunClock
from lowprof.errors import RunDirError
from lowprof.rundir.manifest import SCHEMA, read_manifest, write_manifest
from lowprof.rundir.tables import (Column, TableSpec, TableWriter, compact, read_table, table_paths,
                                   write_frame_parquet)

if TYPE_CHECKING:  # pandas is needed only to read tables; writers and markers must start fast
    import pandas as pd

__all__ = ["RunDir", "Run", "load", "Column", "TableSpec", "TableWriter", "utc_now", "ENV_RUN_DIR"]

ENV_RUN_DIR = "LOWPROF_RUN_DIR"


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


class RunDir:
    """A run directory being written. Create it, add tables, ``finish()`` it.

    ``kind`` says what recorded it: ``run``, ``attach``, ``profile``, ``import``, ``bench``...
    """

    def __init__(self, path: str | os.PathLike, *, kind: str, force: bool = False,
                 clock: RunClock | None = None) -> None:
        from lowprof import __version__

        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path}: exists and is not a directory")
        if self.path.is_dir() and any(self.path.iterdir()) and not force:
            raise RunDirError(f"{self.path}: exists and is not empty (use --force to overwrite)")
        if force and self.path.is_dir():
            _clear(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.tables_dir = self.path / "tables"
        self.clock = clock or RunClock.start()
        self._writers: dict[str, TableWriter] = {}
        self._whole: set[str] = set()  # tables written whole, straight to Parquet
        self.manifest: dict = {
            "schema": SCHEMA,
            "kind": kind,
            "lowprof_version": __version__,
            "status": "running",
            "recorder": {"pid": os.getpid(), "hostname": socket.gethostname()},
            "started_utc": utc_now(),
            "ended_utc": None,
            "clock": self.clock.to_json() | {
                "doc": "every t_ns / *_ns timestamp in every table is ns since origin_monotonic_ns "
                       "on CLOCK_MONOTONIC; realtime_ns = origin_realtime_ns + t_ns"},
            "end_t_ns": None,
            "duration_s": None,
            "probes": {},
            "tables": {},
        }

    def table(self, spec: TableSpec) -> TableWriter:
        """Open (once) the streaming writer for a table and declare it in the manifest."""
        if spec.name in self._writers:
            return self._writers[spec.name]
        self._check_not_whole(spec.name)
        w = TableWriter(self.tables_dir, spec)
        self._writers[spec.name] = w
        self.manifest["tables"][spec.name] = spec.describe() | {"rows": None}
        return w

    def write_frame(self, spec: TableSpec, df: pd.DataFrame) -> None:
        """Write a whole table at once (importers, benchmarks): straight to ``<name>.parquet``, or appended
        to the table's stream when rows were already streamed to it with :meth:`table`."""
        if spec.name in self._writers:
            self._writers[spec.name].write_frame(df)
            return
        self._check_not_whole(spec.name)
        rows = write_frame_parquet(self.tables_dir, spec, df)
        self.manifest["tables"][spec.name] = spec.describe() | {"rows": rows}
        self._whole.add(spec.name)

    def _check_not_whole(self, name: str) -> None:
        if name in self._whole:
            raise RunDirError(f"{self.path}: table {name!r} was already written whole "
                              f"(write_frame writes a table once)")

    def save(self) -> None:
        """Write the manifest now (atomic)."""
        write_manifest(self.path, self.manifest)

    def flush(self) -> None:
        for w in self._writers.values():
            w.flush()

    def finish(self, status: str = "complete", end_t_ns: int | None = None) -> None:
        """Close every table, compact it to Parquet, stamp the end, write the manifest.

        The end is ``end_t_ns`` on the run clock (ns) if given (an import: the trace's last event), else now.
        """
        end = self.clock.t_ns() if end_t_ns is None else end_t_ns
        for name, w in self._writers.items():
            w.close()
            compact(w.path)
            self.manifest["tables"][name]["rows"] = w.rows_written
        self.manifest.update(status=status, ended_utc=utc_now(), end_t_ns=end, duration_s=end / 1e9)
        self.save()


def _clear(path: Path) -> None:
    import shutil

    for p in path.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


class _LazyTables(Mapping):
    """Tables of a run, read from disk on first access."""

    def __init__(self, paths: dict[str, Path]) -> None:
        self._paths = paths
        self._cache: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._paths:
            raise KeyError(f"no table {name!r}; this run has {sorted(self._paths)}")
        if name not in self._cache:
            try:
                self._cache[name] = read_table(self._paths[name]).to_pandas()
            except (ValueError, OSError) as e:
                raise RunDirError(f"{self._paths[name]}: unreadable table ({e})") from None
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


@dataclass
class Run:
    """A recorded run, read back: ``manifest`` (dict) and ``tables`` (name -> DataFrame, lazy)."""

    path: Path
    manifest: dict
    tables: Mapping[str, pd.DataFrame] = field(repr=False)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    @property
    def complete(self) -> bool:
        """True when the recorder finished cleanly; False if it was killed or is still running."""
        return self.manifest.get("status") == "complete"

    @property
    def state(self) -> str:
        """``complete``, ``recording`` (recorder still alive on this host) or ``incomplete``."""
        if self.complete:
            return "complete"
        rec = self.manifest.get("recorder", {})
        if rec.get("hostname") == socket.gethostname() and _alive(rec.get("pid")):
            return "recording"
        return "incomplete"

    def table_unit(self, table: str, column: str) -> str:
        return self.manifest["tables"].get(table, {}).get("columns", {}).get(column, {}).get("unit", "")


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def load(path: str | os.PathLike) -> Run:
    """Read a run directory: its manifest and its tables (as pandas DataFrames, read lazily).

    Example::

        run = lowprof.load("lowprof-runs/2026-11-25T10-00-00")
        run.manifest["host"]["cpu_model"]; run["system"].cpu_percent.mean()
    """
    path = Path(path)
    manifest = read_manifest(path)
    return Run(path=path, manifest=manifest, tables=_LazyTables(table_paths(path / "tables")))

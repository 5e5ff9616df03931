"""The run directory: the one contract between what records (probes, tracers) and what reports.

Layout::

    DIR/manifest.json          schema, host, GPUs, clock, command, exit, probes, tables
    DIR/tables/<name>.parquet  one table per probe/tracer (``.arrows`` stream while recording;
                               a table written whole goes straight to Parquet)
    DIR/<other files>          raw artefacts a table was made from (e.g. py-spy output)

Writers use :class:`RunWriter`; readers use :func:`load`. What a table is: :mod:`lowprof.rundir.spec`; every
table a run can hold, and the readers analysis shares: :mod:`lowprof.rundir.specs` (one module per area).
Light to import (no pandas, pyarrow or numpy until a table is read or written): recorders and
``lowprof.mark`` inside a workload import it.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from lowprof.clock import RunClock
from lowprof.errors import MissingTable, RunDirError
from lowprof.rundir.manifest import MANIFEST, SCHEMA, is_run_dir, read_manifest, write_manifest
from lowprof.rundir.spec import Column, TableSpec
from lowprof.rundir.tables import TableWriter, compact, read_table, table_paths, write_frame_parquet

if TYPE_CHECKING:  # pandas and pyarrow are imported where tables are read or written; writers and markers start fast
    import pandas as pd

__all__ = ["RunWriter", "Run", "load", "Column", "TableSpec", "TableWriter", "utc_now", "ENV_RUN_DIR",
           "prepare_out_dir"]

ENV_RUN_DIR = "LOWPROF_RUN_DIR"


def utc_now(timespec: str = "microseconds") -> str:
    """Now, UTC, ISO 8601 (``timespec`` as :meth:`datetime.datetime.isoformat` takes it)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec=timespec)


class RunWriter:
    """Writes a run directory: create it, add tables, ``finish()`` it; :func:`load` reads it back as a :class:`Run`.

    ``kind`` says what recorded it: ``run``, ``attach``, ``profile``, ``import``, ``bench``...
    """

    def __init__(self, path: str | os.PathLike, *, kind: str, force: bool = False,
                 clock: RunClock | None = None) -> None:
        from lowprof import __version__

        self.path = Path(path)
        fresh = prepare_out_dir(self.path, force)
        self.tables_dir = self.path / "tables"
        self.clock = clock or RunClock.start()
        self._writers: dict[str, TableWriter] = {}
        self._whole: set[str] = set()  # tables written whole, straight to Parquet
        self.manifest: dict = {
            "schema": SCHEMA,
            "kind": kind,
            "lowprof_version": __version__,
            "status": "running",
            "recorder": {"pid": os.getpid(), "hostname": socket.gethostname()} | _process_identity(os.getpid()),
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
        # The manifest exists from the first moment the directory does: a recorder killed at any point
        # after this leaves a run that loads, and reports INCOMPLETE.
        if fresh:
            _create_with_manifest(self.path, self.manifest)
        else:
            self.save()

    def table(self, spec: TableSpec) -> TableWriter:
        """Open (once) the streaming writer for a table and declare it in the manifest."""
        if spec.name in self._writers:
            return self._writers[spec.name]
        self._check_not_whole(spec.name)
        # Declared (and the manifest saved) before the stream file exists: a recorder killed before the
        # stream's schema is whole leaves a file the declared columns read as an empty table.
        self.manifest["tables"][spec.name] = spec.describe() | {"rows": None}
        self.save()
        w = TableWriter(self.tables_dir, spec)
        self._writers[spec.name] = w
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

    def abandon(self) -> None:
        """Close every table's file without writing more (after a write error such as a full disk): the
        streams keep their whole batches and the manifest stays as last saved (loads as INCOMPLETE)."""
        for w in self._writers.values():
            w.abandon()
        tmp = self.path / (MANIFEST + ".tmp")
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass

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


def __getattr__(name: str) -> Any:
    if name == "RunDir":  # deprecated alias (issue 16): the name RunWriter had before
        import warnings

        warnings.warn(f"lowprof.rundir.{name} is deprecated: use lowprof.rundir.RunWriter", DeprecationWarning,
                      stacklevel=2)
        return RunWriter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def prepare_out_dir(path: Path, force: bool) -> bool:
    """Check that a run may be written at ``path``; with ``force``, empty an earlier run directory there.

    Returns True when ``path`` does not exist yet (the caller creates it). An existing empty folder is
    used as it is; a non-empty one only with ``force`` and only when it is a lowprof run directory:
    ``--force`` never deletes anything else (a project folder, ``lowprof-runs/`` itself).
    """
    if path.is_symlink() and not path.exists():
        raise RunDirError(f"{path}: a dangling symlink; not written through")
    if not path.exists():
        return True
    if not path.is_dir():
        raise RunDirError(f"{path}: exists and is not a directory")
    if not any(path.iterdir()):
        return False
    if not force:
        raise RunDirError(f"{path}: exists and is not empty (use --force to replace an earlier run)")
    if not is_run_dir(path):
        raise RunDirError(f"{path}: not a lowprof run directory (no valid manifest.json); --force only "
                          f"replaces a run directory, never another folder: remove it yourself or pick another --out")
    _clear(path)
    return False


def _clear(path: Path) -> None:
    import shutil

    for p in path.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _create_with_manifest(path: Path, manifest: dict) -> None:
    """Create the directory ``path`` already holding its manifest (built beside it, then renamed in)."""
    import tempfile

    try:  # /proc, /sys, a read-only place, a file where a folder is needed: one line naming --out
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise RunDirError(f"{path}: cannot create the run directory there ({e.strerror or e})") from None
    try:
        write_manifest(tmp, manifest)
        os.rename(tmp, path)  # replaces an empty folder made meanwhile; fails on a non-empty one
    except OSError as e:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise RunDirError(f"{path}: cannot create the run directory ({e.strerror or e})") from None


def _process_identity(pid: int) -> dict:
    """What tells this process apart from a later one reusing its PID: its start time in clock ticks
    since boot (/proc/PID/stat field 22) and the boot's id. Empty where /proc does not say."""
    out: dict = {}
    start = _start_ticks(pid)
    if start is not None:
        out["start_ticks"] = start
    try:
        out["boot_id"] = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        pass
    return out


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on (the command name, which may hold spaces, skipped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].decode().split()
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else None  # field 22: starttime
    except (IndexError, ValueError):
        return None


class _LazyTables(Mapping):
    """Tables of a run, read from disk on first access.

    A table whose file is not a table (not a regular file, a symlink out of the run directory, not
    Parquet or an Arrow stream, columns other than the manifest declares) is not among the tables:
    it is in :attr:`unreadable` with the reason, and the other tables read as usual.
    """

    def __init__(self, paths: dict[str, Path], root: Path, declared: dict) -> None:
        self._paths = paths
        self._root = root
        self._declared = declared  # the manifest's "tables"
        self._cache: dict[str, pd.DataFrame] = {}
        self._checked: dict[str, str | None] = {}  # name -> why unreadable (None: fine)

    def _problem(self, name: str) -> str | None:
        if name not in self._checked:
            self._checked[name] = self._check(name)
        return self._checked[name]

    def _check(self, name: str) -> str | None:
        from lowprof.rundir.tables import declared_schema, file_schema, schema_mismatch

        try:
            got = file_schema(self._paths[name], self._root)
        except (ValueError, RunDirError) as e:
            return str(e).removeprefix(f"{self._paths[name]}: ")
        want = declared_schema(self._declared.get(name))
        if got is None:
            return None if want is not None else "an Arrow stream cut before its schema, and no columns declared"
        return schema_mismatch(got, want) if want is not None else None

    @property
    def unreadable(self) -> dict[str, str]:
        """Table name -> why it cannot be read (each file checked once)."""
        return {n: why for n in self._paths if (why := self._problem(n)) is not None}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._paths:
            raise MissingTable(f"no table {name!r}; this run has {sorted(self)}")
        why = self._problem(name)
        if why is not None:
            raise RunDirError(f"{self._paths[name]}: unreadable table ({why})")
        if name not in self._cache:
            from lowprof.rundir.tables import declared_schema

            try:
                table = read_table(self._paths[name], declared_schema(self._declared.get(name)), self._root)
                self._cache[name] = table.to_pandas()
            except (ValueError, OSError, RunDirError) as e:
                self._checked[name] = str(e).removeprefix(f"{self._paths[name]}: ")
                raise RunDirError(f"{self._paths[name]}: unreadable table ({self._checked[name]})") from None
        return self._cache[name]

    def names(self) -> list[str]:
        """Every table file's name, readable or not (no file is opened)."""
        return list(self._paths)

    def file(self, name: str) -> Path:
        """The file table ``name`` is read from (``.parquet``, else the ``.arrows`` stream); KeyError if none."""
        return self._paths[name]

    def arrow(self, name: str):
        """The table as a pyarrow Table, read with the same checks as ``tables[name]`` (RunDirError naming the
        file when it cannot be read); not cached, so that many runs' tables can be read one after another."""
        if name not in self._paths:
            raise MissingTable(f"no table {name!r}; this run has {sorted(self)}")
        why = self._problem(name)
        if why is not None:
            raise RunDirError(f"{self._paths[name]}: unreadable table ({why})")
        from lowprof.rundir.tables import declared_schema

        try:
            return read_table(self._paths[name], declared_schema(self._declared.get(name)), self._root)
        except (ValueError, OSError, RunDirError) as e:
            self._checked[name] = str(e).removeprefix(f"{self._paths[name]}: ")
            raise RunDirError(f"{self._paths[name]}: unreadable table ({self._checked[name]})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._paths and self._problem(name) is None

    def __iter__(self) -> Iterator[str]:
        return iter([n for n in self._paths if self._problem(n) is None])

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class Run:
    """A recorded run, read back: ``manifest`` (dict) and ``tables`` (name -> DataFrame, lazy). Read the
    manifest through its declared sections: ``run.section("workload").pid`` (see lowprof.rundir.sections)."""

    path: Path
    manifest: dict
    tables: Mapping[str, pd.DataFrame] = field(repr=False)
    # Figures derived from the tables, computed once per loaded run (see :meth:`derived`).
    _derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def derived(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()``, computed once per loaded run and kept under ``key`` (a tuple naming the analysis and
        its arguments, e.g. ``("summarize_power", "auto")``), so that several figures share one analysis. A
        raise is not kept: the next call computes again. The frames analysis derives once per run use it:
        :func:`lowprof.analysis.launches.launch_frame` (per launch), :func:`~lowprof.analysis.launches.pass_frame`
        (per pass), :func:`lowprof.analysis.phases.marked_phases`. What is kept is shared: never modify it."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    @property
    def complete(self) -> bool:
        """True when the recorder finished cleanly; False if it was killed or is still running."""
        return self.manifest.get("status") == "complete"

    @property
    def state(self) -> str:
        """``complete``, ``recording`` (its recorder, the same process, still alive on this host) or
        ``incomplete``. A PID reused by a later process is told apart by the process's start time."""
        if self.complete:
            return "complete"
        rec = self.manifest.get("recorder") or {}
        if rec.get("hostname") == socket.gethostname() and _alive(rec.get("pid")) and _same_process(rec, self.manifest):
            return "recording"
        return "incomplete"

    @property
    def unreadable(self) -> dict[str, str]:
        """Tables that exist but cannot be read: name -> why (they are not in :attr:`tables`)."""
        return getattr(self.tables, "unreadable", {})

    @property
    def sections(self):
        """The manifest read through its declared sections (:class:`lowprof.rundir.sections.Manifest`):
        ``run.sections.workload.pid``, ``run.sections.probes["nvml"].devices``; None for a missing field."""
        from lowprof.rundir.sections import Manifest

        return Manifest(self.manifest)

    def section(self, name: str):
        """Manifest section ``name`` as declared: a typed view (attributes; None for a missing field, an empty
        view for a missing section), a dict of entry views (``probes``, ``tables``), or one value (``kind``)."""
        return self.sections.section(name)

    def table_unit(self, table: str, column: str) -> str:
        return self.manifest["tables"].get(table, {}).get("columns", {}).get(column, {}).get("unit", "")


def _alive(pid) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31:
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


def _same_process(rec: dict, manifest: dict) -> bool:
    """Is the live process with the recorder's PID the recorder? Same boot and start time when the
    manifest has them; else (older manifests) it must have started before the run did."""
    pid = rec["pid"]
    boot = _process_identity(pid).get("boot_id")
    if isinstance(rec.get("boot_id"), str) and boot is not None and rec["boot_id"] != boot:
        return False
    start = _start_ticks(pid)
    if start is None:
        return True  # no /proc: trust the PID
    if isinstance(rec.get("start_ticks"), int):
        return start == rec["start_ticks"]
    started = manifest.get("started_utc")
    try:
        began = _dt.datetime.fromisoformat(started).timestamp()
    except (TypeError, ValueError):
        return True
    return _boot_time_s() + start / os.sysconf("SC_CLK_TCK") <= began + 1.0


def _boot_time_s() -> float:
    """Unix time of boot (/proc/stat btime), s."""
    try:
        with open("/proc/stat") as f:
            return float(next(line.split()[1] for line in f if line.startswith("btime ")))
    except (OSError, StopIteration, ValueError):
        return 0.0


def load(path: str | os.PathLike) -> Run:
    """Read a run directory: its manifest and its tables (as pandas DataFrames, read lazily).

    Example::

        run = lowprof.load("lowprof-runs/2026-11-25T10-00-00")
        run.section("host").cpu_model; run["system"].cpu_percent.mean()
    """
    path = Path(path)
    manifest = read_manifest(path)
    tables = _LazyTables(table_paths(path / "tables"), path, manifest.get("tables") or {})
    return Run(path=path, manifest=manifest, tables=tables)

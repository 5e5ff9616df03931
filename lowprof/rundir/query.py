"""SQL over many run directories with DuckDB: each table a view over every run that has it.

Every table name of the runs (``launches``, ``system``, ``gpu_power``...) is a view holding the rows of
that table in every run, stacked, with four columns in front taken from each run's manifest:

  run   the run's label (as :func:`lowprof.load_many` names it: ``rank0``, ``job/rank1``, ``sweep/batch=4``)
  host  the host it was recorded on (``host.hostname``; null for an imported trace that names none)
  gpu   the GPU model(s) it ran on (distinct ``gpus.devices[].name``, else ``probes.nvml.devices[].name``,
        joined with ", "; null if none named)
  rank  its rank in a multi-rank job (:func:`lowprof.rundir.many.rank_of`; null if not one)

then one string column per swept parameter (sweep runs). A table that already has a column of one of
these names keeps it (``gpu_power.gpu`` is the NVML index); the manifest's is then ``gpu_name`` (etc.).
The view ``runs`` has one row per run: run, path, host, gpu, rank, kind, status, started_utc,
duration_s, command and the parameters.

Which files: the run-directory layer decides (a table file that is not a table, has other columns
than the manifest declares, or is a symlink out of the run is left out with one line naming the run and
the reason, :attr:`Catalog.notices`). Parquet files are then read by DuckDB's own reader (only the
columns and row groups a query needs); Arrow streams, which a run cut short leaves, by the layer
(:meth:`Run.tables.arrow`: up to their last whole batch). Only the views the SQL names are built.
DuckDB is imported only here (``pip install 'lowprof[query]'``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from lowprof.errors import LowprofError, RunDirError, SqlError
from lowprof.rundir.many import Member, RunSet, load_many

__all__ = ["Catalog", "catalog", "gpu_of", "query", "MANIFEST_COLUMNS", "INSTALL_HINT"]

MANIFEST_COLUMNS = ("run", "host", "gpu", "rank")
INSTALL_HINT = "lowprof query needs DuckDB: pip install 'lowprof[query]'"


def gpu_of(manifest: dict) -> str | None:
    """The GPU model(s) a run used: the distinct names of its manifest's ``gpus.devices`` (else of the nvml
    probe's ``probes.nvml.devices``), sorted and joined with ", "; None when no device is named."""
    def part(d, key):
        return d.get(key) if isinstance(d, dict) else None

    for devices in (part(part(manifest, "gpus"), "devices"), part(part(part(manifest, "probes"), "nvml"), "devices")):
        if isinstance(devices, list):
            names = sorted({d["name"] for d in devices if isinstance(d, dict) and isinstance(d.get("name"), str) and d["name"]})
            if names:
                return ", ".join(names)
    return None


def _duckdb():
    try:
        import duckdb
    except ImportError:
        raise LowprofError(INSTALL_HINT) from None
    return duckdb


def _names(run) -> list[str]:
    t = run.tables
    return t.names() if hasattr(t, "names") else list(t)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class Catalog:
    """Runs opened for SQL: their members and the notices (one line per incomplete run, and per table
    found unreadable while a query reads it)."""

    runs: RunSet
    notices: list[str] = field(default_factory=list)
    _views: int = 0

    def table_names(self) -> list[str]:
        """``runs`` and every table name any run has a file for."""
        seen: dict[str, None] = {}
        for m in self.runs:
            for n in _names(m.run):
                seen.setdefault(n, None)
        return ["runs", *sorted(seen)]

    def _params(self) -> list[str]:
        seen: dict[str, None] = {}
        for m in self.runs:
            for k in m.params:
                if k not in MANIFEST_COLUMNS:  # a swept `rank` or `run`: the manifest's column is the one kept
                    seen.setdefault(k, None)
        return list(seen)

    def _front(self, m: Member) -> dict:
        return {"run": m.label, "host": m.host, "gpu": gpu_of(m.run.manifest), "rank": m.rank} | {
            p: m.params.get(p) for p in self._params()}

    def _front_schema(self, labels: dict[str, str]):
        import pyarrow as pa

        return pa.schema([(labels[c], pa.int64() if c == "rank" else pa.string()) for c in labels])

    def runs_table(self):
        import pyarrow as pa

        rows = []
        for m in self.runs:
            man = m.run.manifest
            f = self._front(m)
            rows.append({k: f[k] for k in MANIFEST_COLUMNS} | {
                "path": str(m.run.path), "kind": man.get("kind"), "status": m.run.state,
                "started_utc": man.get("started_utc"),
                "duration_s": float(man["duration_s"]) if isinstance(man.get("duration_s"), (int, float)) else None,
                "command": " ".join(map(str, man.get("command") or [])) or None}
                | {p: f[p] for p in self._params()})
        schema = pa.schema([("run", pa.string()), ("host", pa.string()), ("gpu", pa.string()), ("rank", pa.int64()),
                            ("path", pa.string()), ("kind", pa.string()), ("status", pa.string()),
                            ("started_utc", pa.string()), ("duration_s", pa.float64()), ("command", pa.string())]
                           + [(p, pa.string()) for p in self._params() if p not in MANIFEST_COLUMNS])
        return pa.Table.from_pylist(rows, schema=schema)

    def register(self, con, name: str) -> None:
        """Create the view ``name`` on the DuckDB connection ``con``: Parquet files read by DuckDB itself
        (only the columns and rows the query needs), Arrow streams (runs cut short) read up to their last
        whole batch by the run-directory layer; each run's manifest columns in front."""
        import pyarrow as pa

        if name == "runs":
            con.register("runs", self.runs_table())
            return
        members = []
        for m in self.runs:
            if name not in _names(m.run):
                continue
            if name not in m.run.tables:  # unreadable: checked once, said once
                why = m.run.unreadable.get(name, "unreadable")
                self.notices.append(f"{m.label}: table {name!r} unreadable, left out ({why})")
                continue
            members.append(m)
        if not members:
            raise RunDirError(f"no run has a readable {name!r} table")
        columns: dict[str, None] = {}
        for m in members:
            for c in ((m.run.manifest.get("tables") or {}).get(name, {}).get("columns") or {}):
                columns.setdefault(c, None)
        labels = {c: c if c not in columns else f"{c}_name" for c in [*MANIFEST_COLUMNS, *self._params()]}
        fronts = self._front_schema(labels)
        files, streams = [], []
        for m in members:
            path = m.run.tables.file(name) if hasattr(m.run.tables, "file") else None
            front = self._front(m)
            if path is not None and path.suffix == ".parquet":
                files.append({"_lp_file": str(path)} | {labels[c]: front[c] for c in labels})
                continue
            try:
                t = m.run.tables.arrow(name) if hasattr(m.run.tables, "arrow") else pa.Table.from_pandas(
                    m.run[name], preserve_index=False)
            except RunDirError as e:
                self.notices.append(f"{m.label}: table {name!r} left out: {e}")
                continue
            for i, (c, f) in enumerate(zip(labels, fronts)):
                t = t.add_column(i, f, pa.array([front[c]] * len(t), f.type))
            streams.append(t)
        self._views += 1
        k = self._views
        parts = []
        if files:
            con.register(f"_lp_files_{k}", pa.Table.from_pylist(files, schema=pa.schema([("_lp_file", pa.string()), *fronts])))
            paths = ", ".join(_quote(f["_lp_file"]) for f in files)
            parts.append(f"SELECT f.* EXCLUDE (_lp_file), t.* EXCLUDE (_lp_file) FROM read_parquet([{paths}], "
                         f"union_by_name = true, filename = '_lp_file') AS t JOIN _lp_files_{k} AS f USING (_lp_file)")
        if streams:
            con.register(f"_lp_streams_{k}", pa.concat_tables(streams, promote_options="permissive"))
            parts.append(f"SELECT * FROM _lp_streams_{k}")
        if not parts:
            raise RunDirError(f"no run has a readable {name!r} table")
        con.execute(f"CREATE VIEW {_ident(name)} AS " + " UNION ALL BY NAME ".join(parts))

    def columns(self, name: str) -> list[tuple[str, str]]:
        """(column, SQL type) of the view ``name``, as DuckDB sees it."""
        con = _duckdb().connect()
        self.register(con, name)
        return [(r[0], r[1]) for r in con.execute(f"DESCRIBE {_ident(name)}").fetchall()]

    def table(self, name: str):
        """The view ``name`` as one Arrow table (every run's rows, the manifest columns in front)."""
        con = _duckdb().connect()
        self.register(con, name)
        return _arrow(con.sql(f"SELECT * FROM {_ident(name)}"))


def _arrow(rel):
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def _state_notices(runs: RunSet) -> list[str]:
    out = []
    for m in runs:
        st = m.run.state
        if st != "complete":
            out.append(f"{m.label}: {st.upper()} ({m.run.path}: the recorder "
                       + ("is still recording" if st == "recording" else "stopped before finishing")
                       + "; its tables hold what was flushed)")
    return out


def _holds_runs(p) -> bool:
    """A run directory, a sweep or job folder, or a folder with a run directory directly inside."""
    from pathlib import Path

    p = Path(p)
    if any((p / f).exists() or (p / f).is_symlink() for f in ("manifest.json", "sweep.json", "job.json")):
        return True
    try:
        return p.is_dir() and any((d / "manifest.json").is_file() for d in p.iterdir())
    except OSError:
        return False


def catalog(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> Catalog:
    """Open runs for SQL: a run directory, a sweep, a job or folder of rank runs, a glob, or a list of these.

    A path named outright must hold runs (else one error line, as :func:`load_many` says it); what a glob
    matches that holds none (a folder of figures beside the runs) is skipped with one line."""
    import glob as _glob

    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    kept, skipped = [], []
    for item in items:
        s = str(item)
        if not _glob.has_magic(s):
            kept.append(s)
            continue
        matches = sorted(m for m in _glob.glob(s) if os.path.isdir(m))
        if not matches:
            kept.append(s)  # load_many says the pattern matches nothing
        for m in matches:
            (kept if _holds_runs(m) else skipped).append(m)
    notes = [f"{m}: holds no run directory, skipped" for m in skipped]
    if not kept:
        raise RunDirError(f"{', '.join(map(str, items))}: no run directories found")
    runs = load_many(kept)
    return Catalog(runs, notices=notes + _state_notices(runs))


def named_tables(sql: str, names: Iterable[str]) -> list[str]:
    """The table names that occur in ``sql`` as words (a superset of the tables it reads: a view read for
    nothing costs time, never a wrong answer)."""
    return [n for n in names if re.search(rf'(?<![\w."]){re.escape(n)}(?![\w"])|"{re.escape(n)}"', sql, re.IGNORECASE)]


def query(cat: Catalog, sql: str):
    """Run ``sql`` over the catalog's views; returns the result as a pyarrow Table. SqlError when DuckDB
    refuses it (one line: DuckDB's message without its caret drawing)."""
    duckdb = _duckdb()
    con = duckdb.connect()
    for name in named_tables(sql, cat.table_names()):
        cat.register(con, name)
    try:
        rel = con.sql(sql)
        if rel is None:
            raise SqlError("the SQL returned no result (give a query, e.g. SELECT ...)", syntax=False)
        return _arrow(rel)
    except duckdb.Error as e:
        lines = []
        for ln in str(e).strip().splitlines():  # DuckDB's message and its hint ("Did you mean ..."), not the caret
            if ln.startswith("LINE "):
                break
            if ln.strip():
                lines.append(ln.strip())
        first = " ".join(lines) or type(e).__name__
        hint = ""
        if isinstance(e, duckdb.CatalogException):  # DuckDB's guess knows only the views registered for this SQL
            first = re.sub(r"\s*Did you mean .*$", "", first)
            hint = f" (tables: {', '.join(cat.table_names())})"
        raise SqlError(f"SQL: {first}{hint}", syntax=isinstance(e, duckdb.ParserException)) from None

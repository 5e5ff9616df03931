"""SQL over many run directories with DuckDB: each table a view over every run that has it.

Every table name of the runs (``launches``, ``system``, ``gpu_power``...) is a view holding the rows of
that table in every run, stacked, with four columns in front taken from each run's manifest:

  run   the run's label (as :func:`lowprof.load_many` names it: ``rank0``, ``job/rank1``, ``sweep/batch=4``)
  host  the host it was recorded on (``host.hostname``; null for an imported trace that names none)
  gpu   the GPU model(s) it ran on (distinct ``gpus.devices[].name``, joined with ", "; null if none named)
  rank  its rank in a multi-rank job (:func:`lowprof.rundir.many.rank_of`; null if not one)

then one string column per swept parameter (sweep runs). A table that already has a column of one of
these names keeps it (``gpu_power.gpu`` is the NVML index); the manifest's is then ``gpu_name`` (etc.).
The view ``runs`` has one row per run: run, path, host, gpu, rank, kind, status, started_utc,
duration_s, command and the parameters.

Tables are read through the run-directory layer (:meth:`Run.tables.arrow`): a run cut short reads its
streams up to their last whole batch, and a table file that cannot be read is left out with one line
naming the run and the reason (:attr:`Catalog.notices`). Only the tables the SQL names are read.
DuckDB is imported only here (``pip install 'lowprof[query]'``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from lowprof.errors import LowprofError, RunDirError
from lowprof.rundir.many import Member, RunSet, load_many

__all__ = ["Catalog", "catalog", "gpu_of", "query", "SqlError", "MANIFEST_COLUMNS", "INSTALL_HINT"]

MANIFEST_COLUMNS = ("run", "host", "gpu", "rank")
INSTALL_HINT = "lowprof query needs DuckDB: pip install 'lowprof[query]'"


class SqlError(LowprofError):
    """The SQL did not run: a syntax error is a usage error (exit 2), any other (unknown table or column,
    a type error) exit 1."""

    def __init__(self, msg: str, syntax: bool) -> None:
        super().__init__(msg)
        self.exit_code = 2 if syntax else 1


def gpu_of(manifest: dict) -> str | None:
    """The GPU model(s) a run used: its manifest's distinct device names, joined with ", " (None if none)."""
    devices = ((manifest.get("gpus") or {}).get("devices")) or []
    names = sorted({d["name"] for d in devices if isinstance(d, dict) and isinstance(d.get("name"), str) and d["name"]})
    return ", ".join(names) or None


def _duckdb():
    try:
        import duckdb
    except ImportError:
        raise LowprofError(INSTALL_HINT) from None
    return duckdb


@dataclass
class Catalog:
    """Runs opened for SQL: their members, the views a query may name (name -> columns) and the notices
    (one line per incomplete run or unreadable table)."""

    runs: RunSet
    notices: list[str] = field(default_factory=list)
    _columns: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def table_names(self) -> list[str]:
        return ["runs", *self.runs.table_names()]

    def _params(self) -> list[str]:
        seen: dict[str, None] = {}
        for m in self.runs:
            for k in m.params:
                seen.setdefault(k, None)
        return list(seen)

    def _front(self, m: Member) -> dict:
        return {"run": m.label, "host": m.host, "gpu": gpu_of(m.run.manifest), "rank": m.rank}

    def runs_table(self):
        import pyarrow as pa

        rows = []
        for m in self.runs:
            man = m.run.manifest
            rows.append(self._front(m) | {
                "path": str(m.run.path), "kind": man.get("kind"), "status": m.run.state,
                "started_utc": man.get("started_utc"),
                "duration_s": float(man["duration_s"]) if isinstance(man.get("duration_s"), (int, float)) else None,
                "command": " ".join(map(str, man.get("command") or [])) or None}
                | {p: m.params.get(p) for p in self._params()})
        schema = pa.schema([("run", pa.string()), ("host", pa.string()), ("gpu", pa.string()), ("rank", pa.int64()),
                            ("path", pa.string()), ("kind", pa.string()), ("status", pa.string()),
                            ("started_utc", pa.string()), ("duration_s", pa.float64()), ("command", pa.string())]
                           + [(p, pa.string()) for p in self._params()])
        return pa.Table.from_pylist(rows, schema=schema)

    def table(self, name: str):
        """The view ``name`` as one Arrow table: every run's rows with the manifest columns in front."""
        import pyarrow as pa

        if name == "runs":
            return self.runs_table()
        params = self._params()
        parts = []
        for m in self.runs:
            if name not in m.run.tables:
                continue
            try:
                t = m.run.tables.arrow(name) if hasattr(m.run.tables, "arrow") else pa.Table.from_pandas(
                    m.run[name], preserve_index=False)
            except RunDirError as e:
                self.notices.append(f"{m.label}: table {name!r} left out: {e}")
                continue
            front = self._front(m) | {p: m.params.get(p) for p in params}
            types = {"rank": pa.int64()}
            for i, (col, value) in enumerate(front.items()):
                label = col if col not in t.column_names else f"{col}_name"
                t = t.add_column(i, pa.field(label, types.get(col, pa.string())),
                                 pa.array([value] * len(t), types.get(col, pa.string())))
            parts.append(t)
        if not parts:
            raise RunDirError(f"no run has a readable {name!r} table")
        return pa.concat_tables(parts, promote_options="permissive")

    def columns(self, name: str) -> list[tuple[str, str]]:
        """(column, SQL type) of the view ``name``, as DuckDB sees it."""
        if name not in self._columns:
            duckdb = _duckdb()
            con = duckdb.connect()
            t = self.table(name).schema.empty_table()
            con.register(name, t)
            self._columns[name] = [(r[0], r[1]) for r in con.execute(f'DESCRIBE "{name}"').fetchall()]
        return self._columns[name]


def _state_notices(runs: RunSet) -> list[str]:
    out = []
    for m in runs:
        st = m.run.state
        if st != "complete":
            out.append(f"{m.label}: {st.upper()} ({m.run.path}: the recorder "
                       + ("is still recording" if st == "recording" else "stopped before finishing")
                       + "; its tables hold what was flushed)")
        for name, why in m.run.unreadable.items():
            out.append(f"{m.label}: table {name!r} unreadable, left out ({why})")
    return out


def catalog(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> Catalog:
    """Open runs for SQL: a run directory, a sweep, a job or folder of rank runs, a glob, or a list of these."""
    runs = load_many(paths)
    return Catalog(runs, notices=_state_notices(runs))


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
        con.register(name, cat.table(name))
    try:
        rel = con.sql(sql)
        if rel is None:
            raise SqlError("the SQL returned no result (give a query, e.g. SELECT ...)", syntax=False)
        return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()
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

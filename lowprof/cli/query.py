"""``lowprof query "SQL" RUN...``: SQL (DuckDB) over the tables of many run directories."""

from __future__ import annotations

import argparse
import math

from lowprof.cli._ui import err, note, out, table
from lowprof.errors import RunDirError, UsageError

HELP = "SQL over the tables of many runs (DuckDB): each table a view over every run, with run, host, gpu, rank"
EXAMPLES = """lowprof query "SELECT run, count(*) AS kernels FROM launches GROUP BY run ORDER BY run" 'runs/*'
lowprof query --tables runs/job42
lowprof query "SELECT rank, sum(gpu_end_ns - gpu_start_ns) / 1e6 AS gpu_ms FROM launches GROUP BY rank" runs/job42
lowprof query "SELECT gpu, avg(cpu_percent) FROM system GROUP BY gpu" 'runs/*' --csv cpu.csv
lowprof query "SELECT * FROM launches WHERE name LIKE 'nccl%'" runs/job42 --parquet nccl.parquet
lowprof query "SELECT run, max(t_ns) / 1e9 AS span_s FROM system GROUP BY run" 'runs/*' --json"""

DEFAULT_ROWS = 50


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sql", metavar="SQL", help="the query (DuckDB SQL); with --tables, the first run instead")
    p.add_argument("runs", nargs="*", metavar="RUN",
                   help="run directories, sweep folders, job folders (one run per rank) or globs ('runs/*')")
    p.add_argument("--tables", action="store_true", help="list the views (tables) and their columns, run no SQL")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--csv", metavar="FILE", help="write the result as CSV ('-' for stdout)")
    fmt.add_argument("--parquet", metavar="FILE", help="write the result as Parquet")
    fmt.add_argument("--json", action="store_true", help="print every row as strict JSON (a list of objects; "
                                                        "NaN and infinities as null)")
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, metavar="N",
                   help=f"rows to print in the table (default {DEFAULT_ROWS}; the files take every row)")
    p.add_argument("--quiet", "-q", action="store_true", help="print no notes (warnings still)")


def _cell(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.6g}"
    return str(v)


def _json_value(v):
    """A result value as strict JSON takes it: NaN/inf as null, an integral decimal (DuckDB's sum of
    BIGINT is HUGEINT) as an int, other decimals as floats; the rest as json.dumps writes it (else str)."""
    import decimal

    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, decimal.Decimal):
        if not v.is_finite():
            return None
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def _warn(lines: list[str]) -> None:
    from rich.text import Text

    for line in lines:  # said even with --quiet: the result lacks what they name
        err.print(Text.assemble(("lowprof: warning: ", "yellow"), line))


def _list_tables(cat) -> int:
    rows = []
    for name in cat.table_names():
        n_runs = len(cat.runs) if name == "runs" else sum(1 for m in cat.runs if name in m.run.tables)
        try:
            cols = ", ".join(f"{c} {t}" for c, t in cat.columns(name))
        except RunDirError as e:
            cols = f"({e})"
        rows.append([name, n_runs, cols])
    out.print(table(f"{len(cat.runs)} runs: views", ["view", "runs", "columns"], rows, right={1}, names={0}))
    return 0


def _write_csv(result, dest: str) -> None:
    """Every row as CSV: quotes only where a value needs them, NULL as an empty field, floats in their
    shortest exact form."""
    import csv
    import sys

    def write(f) -> None:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(result.column_names)
        for batch in result.to_batches(max_chunksize=65536):
            w.writerows(zip(*(c.to_pylist() for c in batch.columns)))

    if dest == "-":
        write(sys.stdout)
    else:
        with open(dest, "w", newline="") as f:
            write(f)


def main(args) -> int:
    from lowprof.rundir.query import _duckdb, catalog, query

    if args.rows < 0:
        raise UsageError(f"--rows must be 0 or more, got {args.rows}")
    _duckdb()  # say how to install it before reading any run
    paths = ([args.sql] if args.tables else []) + list(args.runs)
    if not paths:
        raise UsageError("give one or more run directories, sweep or job folders, or a glob after the SQL")
    cat = catalog(paths)
    _warn(cat.notices)
    if args.tables:
        return _list_tables(cat)
    said = len(cat.notices)
    result = query(cat, args.sql)
    _warn(cat.notices[said:])  # tables found unreadable while reading them
    if args.csv:
        _write_csv(result, args.csv)
        if args.csv != "-":
            note(f"wrote {result.num_rows} rows to {args.csv}", args.quiet)
        return 0
    if args.json:
        import json
        import sys

        rows = [{k: _json_value(v) for k, v in r.items()} for r in result.to_pylist()]
        sys.stdout.write(json.dumps(rows, indent=2, allow_nan=False, default=str) + "\n")
        return 0
    if args.parquet:
        import pyarrow.parquet as pq

        pq.write_table(result, args.parquet, compression="zstd")
        note(f"wrote {result.num_rows} rows to {args.parquet}", args.quiet)
        return 0
    shown = result.slice(0, args.rows).to_pylist()
    cols = result.column_names
    import pyarrow as pa

    right = {i for i, f in enumerate(result.schema) if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
             or pa.types.is_decimal(f.type)}
    names = {i for i, f in enumerate(result.schema) if i not in right}
    out.print(table(None, cols, [[_cell(r[c]) for c in cols] for r in shown], right=right, names=names or {0}))
    more = result.num_rows - len(shown)
    note(f"{result.num_rows} rows from {len(cat.runs)} runs" + (f" ({more} not shown: --rows N, --csv FILE)" if more else ""),
         args.quiet)
    return 0

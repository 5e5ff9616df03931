"""Tables of a run directory: declared with units, appended in chunks, read back even when cut short.

While a run records, each table is an Arrow IPC *stream* (``tables/<name>.arrows``): every
flush appends one record batch and hands it to the kernel, so a SIGKILL of any process loses
at most the rows since the last flush (the sampler flushes every second). When the run ends
cleanly the stream is compacted into ``tables/<name>.parquet``, the primary format. A table
written whole at once (an import) goes straight to Parquet. Readers take the Parquet file if
present, else read the stream up to its last whole batch.

Parquet files are zstd-compressed; string columns are dictionary-encoded and integer columns
delta-encoded (timestamps, ids and counters mostly move by small steps); other columns are plain.

What a table is (:class:`Column`, :class:`TableSpec`) lives in :mod:`lowprof.rundir.spec` and is
re-exported here; pyarrow is imported inside the functions below, never at import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from lowprof.rundir.files import open_regular
from lowprof.rundir.spec import Column, TableSpec, arrow_type

if TYPE_CHECKING:  # pyarrow is imported by the functions that write or read: declaring a table costs nothing
    import pyarrow as pa

__all__ = ["Column", "TableSpec", "TableWriter", "read_table", "table_paths", "compact", "write_frame_parquet",
           "declared_schema", "file_schema", "schema_mismatch"]


def frame_table(schema: pa.Schema, df) -> pa.Table:
    """A pandas DataFrame as an Arrow table of ``schema`` (columns not in it dropped, missing ones null)."""
    import pyarrow as pa

    arrays = []
    for f in schema:
        if f.name not in df:
            arrays.append(pa.nulls(len(df), f.type))
            continue
        arr = pa.array(df[f.name], from_pandas=True)  # Arrow-backed columns may come back chunked
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        arrays.append(arr if arr.type == f.type else arr.cast(f.type))  # (a cast imports pyarrow.compute)
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_parquet(table: pa.Table, out: Path) -> None:
    """Write ``table`` to ``out`` atomically (temp file + rename), encoded as the module docstring says."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = out.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp, compression="zstd",
                   use_dictionary=[f.name for f in table.schema if pa.types.is_string(f.type)],
                   column_encoding={f.name: "DELTA_BINARY_PACKED" for f in table.schema if pa.types.is_integer(f.type)})
    os.replace(tmp, out)


def write_frame_parquet(dir: Path, spec: TableSpec, df) -> int:
    """Write a whole pandas DataFrame as ``<dir>/<name>.parquet``, no stream; returns its rows."""
    Path(dir).mkdir(parents=True, exist_ok=True)
    _write_parquet(frame_table(spec.schema(), df), Path(dir) / f"{spec.name}.parquet")
    return len(df)


@dataclass
class TableWriter:
    """Appends rows to ``tables/<name>.arrows``; ``flush()`` makes them durable against a SIGKILL.

    Not thread-safe: one writer per table, used from one thread.
    """

    dir: Path
    spec: TableSpec
    rows_written: int = 0
    _buffer: list = field(default_factory=list)

    def __post_init__(self) -> None:
        import pyarrow as pa

        self.dir = Path(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / f"{self.spec.name}.arrows"
        self._schema = self.spec.schema()
        self._file = open(self.path, "wb")
        self._writer = pa.ipc.new_stream(self._file, self._schema)
        # The writer emits the schema with the first batch: write an empty one now, so that a recorder
        # killed before its first flush leaves a stream that reads as an empty table, not 0 bytes.
        self._writer.write_batch(pa.RecordBatch.from_pylist([], schema=self._schema))
        self._file.flush()

    def append(self, row: Mapping) -> None:
        self._buffer.append(row)

    def extend(self, rows: Iterable[Mapping]) -> None:
        self._buffer.extend(rows)

    def write_frame(self, df) -> None:
        """Append a whole pandas DataFrame (columns not in the spec are dropped, missing ones are null)."""
        self.flush()
        for batch in frame_table(self._schema, df).to_batches():
            self._writer.write_batch(batch)
        self._file.flush()
        self.rows_written += len(df)

    def flush(self) -> int:
        """Write buffered rows as one record batch; returns how many rows were written."""
        if not self._buffer:
            return 0
        import pyarrow as pa

        rows, self._buffer = self._buffer, []
        batch = pa.RecordBatch.from_pylist(rows, schema=self._schema)
        self._writer.write_batch(batch)
        self._file.flush()
        self.rows_written += len(rows)
        return len(rows)

    def abandon(self) -> None:
        """Close the file without writing (the disk is full): the stream keeps its whole batches."""
        self._buffer = []
        for tmp in (self.path.with_suffix(".parquet.tmp"),):
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        try:
            self._file.close()
        except OSError:
            pass

    def close(self) -> None:
        if self._file.closed:
            return
        self.flush()
        self._writer.close()
        self._file.close()


def _read_stream(path: Path, declared: pa.Schema | None = None, root: Path | None = None) -> tuple[pa.Table, bool]:
    """Read an Arrow IPC stream up to its last whole batch. Returns (table, complete).

    A stream cut before its schema was whole (a recorder killed at once: 0 bytes) is an empty table of
    the ``declared`` schema (from the manifest), if there is one.
    """
    import pyarrow as pa

    with open_regular(path, root=root, what="table file") as f:
        try:
            reader = pa.ipc.open_stream(f)
        except (pa.ArrowInvalid, OSError) as e:
            f.seek(0)
            head = f.read(8)
            if declared is not None and (len(head) < 4 or head[:4] == b"\xff\xff\xff\xff") and _short(path):
                return declared.empty_table(), False
            raise ValueError(f"not an Arrow stream ({e})") from None
        batches, complete = [], True
        while True:
            try:
                batches.append(reader.read_next_batch())
            except StopIteration:
                break
            except (pa.ArrowInvalid, OSError, EOFError):
                complete = False  # truncated by a kill: keep what was whole
                break
        return pa.Table.from_batches(batches, schema=reader.schema), complete


def _short(path: Path) -> bool:
    """Small enough to be a schema message cut short (a whole one of ~30 columns is a few KiB)."""
    return os.stat(path).st_size < (64 << 10)


def declared_schema(entry: dict | None) -> pa.Schema | None:
    """The Arrow schema a manifest's ``tables`` entry declares (None when it declares no columns)."""
    import pyarrow as pa

    cols = (entry or {}).get("columns")
    if not isinstance(cols, dict) or not cols:
        return None
    try:
        return pa.schema([pa.field(n, arrow_type(c["type"])) for n, c in cols.items()])
    except (KeyError, TypeError):
        return None


def schema_mismatch(got: pa.Schema, declared: pa.Schema) -> str | None:
    """Why a table file's columns are not the ones its manifest declares, or None when they are."""
    want = {f.name: f.type for f in declared}
    have = {f.name: f.type for f in got}
    for name, t in want.items():
        if name not in have:
            return f"column {name!r} ({t}) missing"
        if have[name] != t:
            return f"column {name!r} is {have[name]}, the manifest declares {t}"
    extra = [n for n in have if n not in want]
    return f"column {extra[0]!r} is not declared in the manifest" if extra else None


def file_schema(path: Path, root: Path | None = None) -> pa.Schema | None:
    """The schema a table file holds, read from its footer (Parquet) or first message (stream); None for
    a stream cut before its schema. Raises ValueError/RunDirError when the file is not a table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix == ".parquet":
        with open_regular(path, root=root, what="table file") as f:
            try:
                return pq.ParquetFile(f).schema_arrow
            except (pa.ArrowException, OSError) as e:
                raise ValueError(f"not a Parquet file ({e})") from None
    with open_regular(path, root=root, what="table file") as f:
        try:
            return pa.ipc.open_stream(f).schema
        except (pa.ArrowInvalid, OSError) as e:
            f.seek(0)
            head = f.read(8)
            if (len(head) < 4 or head[:4] == b"\xff\xff\xff\xff") and _short(path):
                return None
            raise ValueError(f"not an Arrow stream ({e})") from None


def table_paths(tables_dir: Path) -> dict[str, Path]:
    """Table name -> file, preferring the compacted Parquet file over the stream."""
    out: dict[str, Path] = {}
    if not tables_dir.is_dir():
        return out
    for p in sorted(tables_dir.iterdir()):
        if p.suffix == ".arrows" and p.stem not in out:
            out[p.stem] = p
        elif p.suffix == ".parquet":
            out[p.stem] = p
    return out


def read_table(path: Path, declared: pa.Schema | None = None, root: Path | None = None) -> pa.Table:
    """Read one table file (Parquet, or an Arrow stream cut short by a kill); a regular file only, and
    within ``root`` once symlinks are resolved. ``declared``: see :func:`_read_stream`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix == ".parquet":
        with open_regular(path, root=root, what="table file") as raw:
            try:  # not pq.read_table: its dataset layer costs an import and ~1 ms a file
                with pq.ParquetFile(raw) as f:
                    return f.read()
            except (pa.ArrowException, OSError) as e:
                raise ValueError(f"not a readable Parquet file ({e})") from None
    return _read_stream(path, declared, root)[0]


def compact(path: Path) -> Path:
    """Rewrite ``<name>.arrows`` as ``<name>.parquet`` and remove the stream. Returns the new path."""
    path = Path(path)
    out = path.with_suffix(".parquet")
    _write_parquet(_read_stream(path)[0], out)
    path.unlink()
    return out

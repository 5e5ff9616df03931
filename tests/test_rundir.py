"""The run-directory contract: tables survive kills, manifests are checked, loaders are lazy."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pytest

import lowprof
from lowprof.errors import RunDirError
from lowprof.rundir import Column, RunWriter, TableSpec
from lowprof.rundir.tables import read_table

SPEC = TableSpec("demo", 1, (Column("t_ns", "int64", "ns"), Column("power_w", "float64", "W")))


def test_finish_compacts_to_parquet_and_loads_with_units(tmp_path):
    rd = RunWriter(tmp_path / "r", kind="test")
    w = rd.table(SPEC)
    w.extend({"t_ns": i, "power_w": 100.0 + i} for i in range(10))
    w.flush()
    w.extend({"t_ns": i, "power_w": 100.0 + i} for i in range(10, 15))
    rd.finish()
    assert (tmp_path / "r/tables/demo.parquet").exists()
    assert not (tmp_path / "r/tables/demo.arrows").exists()
    run = lowprof.load(tmp_path / "r")
    assert run.complete and run.state == "complete"
    assert list(run["demo"].t_ns) == list(range(15))
    assert run.manifest["tables"]["demo"]["rows"] == 15
    assert run.table_unit("demo", "power_w") == "W"


def test_truncated_stream_keeps_whole_batches(tmp_path):
    rd = RunWriter(tmp_path / "r", kind="test")
    w = rd.table(SPEC)
    for batch in range(3):
        w.extend({"t_ns": batch * 10 + i, "power_w": 1.0} for i in range(10))
        w.flush()
    rd.save()
    path = tmp_path / "r/tables/demo.arrows"
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # a kill in the middle of writing the third batch
    table = read_table(path)
    assert table.num_rows == 20
    run = lowprof.load(tmp_path / "r")
    assert not run.complete
    assert len(run["demo"]) == 20


def test_sigkill_of_writer_loses_at_most_unflushed_rows(tmp_path):
    """A writer process killed with SIGKILL leaves every flushed row readable."""
    code = f"""
import os, signal
from lowprof.rundir import RunWriter, TableSpec, Column
rd = RunWriter({str(tmp_path / 'r')!r}, kind="test")
rd.save()
w = rd.table(TableSpec("demo", 1, (Column("t_ns", "int64", "ns"),)))
for i in range(5):
    w.append({{"t_ns": i}})
w.flush()
w.append({{"t_ns": 99}})  # buffered, never flushed
os.kill(os.getpid(), signal.SIGKILL)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert p.returncode == -9
    run = lowprof.load(tmp_path / "r")
    assert run.state == "incomplete"
    assert list(run["demo"].t_ns) == [0, 1, 2, 3, 4]


def test_refuses_non_empty_dir_unless_forced(tmp_path):
    run = RunWriter(tmp_path / "run", kind="test")
    run.finish()
    (tmp_path / "run" / "extra.log").write_text("x")
    with pytest.raises(RunDirError, match="not empty"):
        RunWriter(tmp_path / "run", kind="test")
    RunWriter(tmp_path / "run", kind="test", force=True)  # an earlier run directory is replaced
    assert not (tmp_path / "run" / "extra.log").exists()


@pytest.mark.parametrize("content, message", [
    (None, "missing"),
    ("{not json", "corrupt JSON"),
    ("[1, 2]", "expected a JSON object"),
    (json.dumps({"schema": 99}), "schema 99 unsupported"),
])
def test_bad_manifest_is_one_clear_error(tmp_path, content, message):
    if content is not None:
        (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(RunDirError, match=message):
        lowprof.load(tmp_path)


def test_unknown_column_type_is_rejected():
    with pytest.raises(ValueError, match="unknown type 'float'"):
        Column("x", "float").field()


def test_schema_metadata_carries_units(tmp_path):
    rd = RunWriter(tmp_path / "r", kind="test")
    rd.table(SPEC).append({"t_ns": 1, "power_w": 2.0})
    rd.finish()
    schema = read_table(tmp_path / "r/tables/demo.parquet").schema
    assert schema.field("power_w").metadata[b"unit"] == b"W"
    assert schema.metadata[b"lowprof.version"] == b"1"
    assert schema.field("t_ns").type == pa.int64()


NAMED = TableSpec("named", 1, (Column("t_ns", "int64", "ns"), Column("name", "string"), Column("power_w", "float64", "W")))


def _frame(n: int):
    import pandas as pd

    return pd.DataFrame({"t_ns": range(0, 10 * n, 10), "name": [f"k{i % 3}" for i in range(n)],
                         "power_w": [100.0 + i for i in range(n)]})


def test_write_frame_goes_straight_to_parquet(tmp_path):
    rd = RunWriter(tmp_path / "r", kind="test")
    rd.write_frame(NAMED, _frame(50))
    assert sorted(p.name for p in (tmp_path / "r/tables").iterdir()) == ["named.parquet"]  # no stream, no temp file
    assert rd.manifest["tables"]["named"]["rows"] == 50
    rd.finish(end_t_ns=123)
    run = lowprof.load(tmp_path / "r")
    assert run.manifest["end_t_ns"] == 123 and run.manifest["tables"]["named"]["rows"] == 50
    assert run["named"].equals(_frame(50).astype({"name": "str"}))
    assert read_table(tmp_path / "r/tables/named.parquet").schema.field("power_w").metadata[b"unit"] == b"W"


def _encodings(path) -> dict[str, tuple[str, set[str]]]:
    """Column -> (compression, encodings) of a Parquet file's first row group."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata.row_group(0)
    return {meta.column(i).path_in_schema: (meta.column(i).compression, set(meta.column(i).encodings))
            for i in range(meta.num_columns)}


def test_parquet_encodings_dictionary_strings_delta_integers(tmp_path):
    rd = RunWriter(tmp_path / "r", kind="test")
    rd.write_frame(NAMED, _frame(1000))
    rd.table(SPEC).extend({"t_ns": i, "power_w": 1.0} for i in range(1000))
    rd.finish()
    named, demo = _encodings(tmp_path / "r/tables/named.parquet"), _encodings(tmp_path / "r/tables/demo.parquet")
    for enc in (named, demo):  # written whole, and compacted from a stream
        assert {compression for compression, _ in enc.values()} == {"ZSTD"}
        assert "DELTA_BINARY_PACKED" in enc["t_ns"][1] and "RLE_DICTIONARY" not in enc["t_ns"][1]
        assert "RLE_DICTIONARY" not in enc["power_w"][1]
    assert "RLE_DICTIONARY" in named["name"][1]


def test_a_table_is_written_whole_once(tmp_path):
    rd = RunWriter(tmp_path / "r", kind="test")
    rd.write_frame(NAMED, _frame(3))
    with pytest.raises(RunDirError, match="already written whole"):
        rd.write_frame(NAMED, _frame(3))
    with pytest.raises(RunDirError, match="already written whole"):
        rd.table(NAMED)
    rd.table(SPEC).append({"t_ns": 1, "power_w": 2.0})
    rd.write_frame(SPEC, _frame(4))  # a streamed table takes a frame on its stream
    rd.finish()
    run = lowprof.load(tmp_path / "r")
    assert list(run["demo"].t_ns) == [1, 0, 10, 20, 30] and run.manifest["tables"]["demo"]["rows"] == 5


def test_runs_written_with_the_former_parquet_encoding_still_load(tmp_path):
    """Runs compacted before integers were delta-encoded (pyarrow's defaults: everything dictionary)."""
    import pyarrow.parquet as pq

    rd = RunWriter(tmp_path / "r", kind="test")
    rd.write_frame(NAMED, _frame(20))
    rd.finish()
    path = tmp_path / "r/tables/named.parquet"
    pq.write_table(read_table(path), path, compression="zstd")
    assert lowprof.load(tmp_path / "r")["named"].equals(_frame(20).astype({"name": "str"}))


def test_a_stream_killed_before_its_schema_loads_as_an_empty_declared_table(tmp_path):
    """The SIGKILL trial once caught a recorder killed between creating a table's stream and writing its
    schema, with the table not yet declared in the manifest on disk: the run did not load whole."""
    rd = RunWriter(tmp_path / "r", kind="run")
    rd.table(SPEC)  # stream opened; nothing flushed, manifest not saved by the caller
    on_disk = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert "demo" in on_disk["tables"]
    (tmp_path / "r" / "tables" / "demo.arrows").write_bytes(b"")  # what a kill at this moment leaves
    run = lowprof.load(tmp_path / "r")
    assert len(run["demo"]) == 0
    assert list(run["demo"].columns) == ["t_ns", "power_w"]


def test_old_writer_name_still_imports_with_a_deprecation_warning():
    import lowprof.rundir as rundir

    with pytest.warns(DeprecationWarning, match="use lowprof.rundir.RunWriter"):
        old = rundir.RunDir  # deprecated alias (issue 16)
    assert old is RunWriter
    with pytest.raises(AttributeError, match="no attribute 'RunDirr'"):
        rundir.RunDirr  # noqa: B018

"""`lowprof kernels` equals `nsys stats` (cuda_gpu_kern_sum, cuda_api_sum, cuda_gpu_mem_time_sum/_size_sum).

The reference is plain SQL over the Nsight Systems export itself, written here from nsys's report definitions
(the report scripts' queries: GROUP BY the name, sum/count/avg/median/min/max/stdev of end - start, time % =
100 * total / the sum of totals), with nsys's two SQLite extension aggregates registered from Python's
`statistics` (median: the middle value, or the mean of the two middle ones; stdev: the sample standard
deviation, 0 for one value, as nsys prints 0.0 for a single call). lowprof reads the run directory that
`lowprof import` wrote from the export; only the CLI's output is compared. Kineto runs are checked against
a plain reading of the trace's JSON.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import math
import sqlite3
import statistics
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import TRACES, run_cli

EXPORTS = {
    "cloverleaf": TRACES / "nsys/pipit/perlmutter-cloverleaf-cuda.sqlite",  # nsys 2024.5, 1312 kernels, 279 memcpy
    "saxpy": TRACES / "nsys/pipit/saxpy-mpi-cuda_nsys_perlmutter0.sqlite",  # nsys 2022.2: `X` and `X_v3020` both
    "nvfuser": TRACES / "nsys/nvfuser/8fa9ec2_report1.sqlite",  # H100, driver + runtime calls, memset, memcpy
}
# CUpti_ActivityMemcpyKind (cupti_activity.h), for an export without ENUM_CUDA_MEMCPY_OPER (nsys 2022)
CUPTI_COPY_KINDS = {0: "UNKNOWN", 1: "HTOD", 2: "DTOH", 3: "HTOA", 4: "ATOH", 5: "ATOA", 6: "ATOD", 7: "DTOA",
                    8: "DTOD", 9: "HTOH", 10: "PTOP"}


class _Median:
    def __init__(self):
        self.v = []

    def step(self, x):
        self.v.append(x)

    def finalize(self):
        return float(statistics.median(self.v))


class _Stdev(_Median):
    def finalize(self):
        return statistics.stdev(self.v) if len(self.v) > 1 else 0.0


def _db(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.create_aggregate("median", 1, _Median)
    con.create_aggregate("stdev", 1, _Stdev)
    return con


_STATS = """sum(d) AS total, count(*) AS num, avg(d) AS avg, median(d) AS med, min(d) AS min, max(d) AS max,
            stdev(d) AS sd"""
_SELECT = """SELECT s.total * 100.0 / (SELECT sum(total) FROM s), s.total, s.num, s.avg, s.med, s.min, s.max, s.sd"""

KERN_SUM = f"""WITH k AS (SELECT ids.value AS name, end - start AS d FROM CUPTI_ACTIVITY_KIND_KERNEL
                          LEFT JOIN StringIds ids ON ids.id = demangledName),
                    s AS (SELECT name, {_STATS} FROM k GROUP BY name)
               {_SELECT}, s.name FROM s"""
API_SUM = f"""WITH s AS (SELECT nameId, {_STATS} FROM (SELECT nameId, end - start AS d FROM CUPTI_ACTIVITY_KIND_RUNTIME)
                         GROUP BY nameId)
              {_SELECT}, ids.value,
                     CASE substr(ids.value, -6, 2) WHEN '_v' THEN substr(ids.value, 1, length(ids.value) - 6)
                     ELSE ids.value END
              FROM s LEFT JOIN StringIds ids ON ids.id = s.nameId"""


def _mem_sum(con: sqlite3.Connection, what: str) -> str:
    """cuda_gpu_mem_time_sum (what='end - start') / cuda_gpu_mem_size_sum (what='bytes'): memcpy by copy kind,
    memset; the kind named here by the CUDA enum's name (HTOD...), lowprof's by its own label (HtoD)."""
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    if "ENUM_CUDA_MEMCPY_OPER" in tables:
        kind = "(SELECT substr(e.name, length('CUDA_MEMCPY_KIND_') + 1) FROM ENUM_CUDA_MEMCPY_OPER e WHERE e.id = m.copyKind)"
    else:
        kind = "CASE m.copyKind " + " ".join(f"WHEN {k} THEN '{v}'" for k, v in CUPTI_COPY_KINDS.items()) + " END"
    parts = []
    if "CUPTI_ACTIVITY_KIND_MEMCPY" in tables:
        parts.append(f"SELECT 'memcpy ' || {kind} AS name, m.{what} AS d, m.end - m.start AS t "
                     f"FROM CUPTI_ACTIVITY_KIND_MEMCPY m")
    if "CUPTI_ACTIVITY_KIND_MEMSET" in tables:
        parts.append(f"SELECT 'memset' AS name, m.{what} AS d, m.end - m.start AS t FROM CUPTI_ACTIVITY_KIND_MEMSET m")
    return (f"WITH k AS ({' UNION ALL '.join(parts)}), s AS (SELECT name, {_STATS}, sum(t) AS time FROM k GROUP BY name) "
            f"{_SELECT}, upper(s.name), s.time FROM s")


def _lowprof(*args) -> str:
    """``lowprof ARGS`` in this process (the real CLI, without an interpreter start per call): its stdout."""
    from lowprof.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main([str(a) for a in args]) == 0
    return buf.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    out = {}
    for key, export in EXPORTS.items():
        out[key] = tmp_path_factory.mktemp("k") / key
        _lowprof("import", export, "--out", out[key], "--quiet")
    return out


def _fails(*args) -> tuple[int, str]:
    """``lowprof ARGS`` in this process, expected to fail: (exit status, stderr)."""
    from lowprof.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's usage errors
            code = e.code
    return code, buf.getvalue()


def _json(*args) -> dict:
    return json.loads(_lowprof("kernels", *args, "--json"), parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))


def _same(row: dict, ref: tuple) -> None:
    pct, total, num, avg, med, lo, hi, sd = ref[:8]
    assert (row["total_ns"], row["instances"], row["min_ns"], row["max_ns"]) == (total, num, lo, hi), row["name"]
    for key, want in (("time_pct", pct), ("mean_ns", avg), ("median_ns", med), ("stddev_ns", sd)):
        assert math.isclose(row[key], want, rel_tol=1e-9, abs_tol=1e-6), (row["name"], key, row[key], want)


def _sorted_as_nsys(rows: list[dict]) -> None:
    keys = [(-r["total_ns"], r["instances"]) for r in rows]
    assert keys == sorted(keys)


@pytest.mark.parametrize("key", EXPORTS)
def test_kernel_summary_equals_nsys_cuda_gpu_kern_sum(runs, key):
    ref = {r[8]: r for r in _db(EXPORTS[key]).execute(KERN_SUM)}
    got = _json(runs[key])
    assert {r["name"] for r in got["rows"]} == set(ref) and len(got["rows"]) == len(ref)
    for row in got["rows"]:
        _same(row, ref[row["name"]])
    _sorted_as_nsys(got["rows"])
    assert got["instances"] == sum(r[2] for r in ref.values()) and got["total_ns"] == sum(r[1] for r in ref.values())
    assert math.isclose(sum(r["time_pct"] for r in got["rows"]), 100.0)


@pytest.mark.parametrize("key", EXPORTS)
def test_api_summary_equals_nsys_cuda_api_sum(runs, key):
    ref = {r[8]: r for r in _db(EXPORTS[key]).execute(API_SUM)}  # by the name as written (nsys groups by nameId)
    got = _json(runs[key], "--api")
    assert {r["name_raw"] for r in got["rows"]} == set(ref) and len(got["rows"]) == len(ref)
    for row in got["rows"]:
        _same(row, ref[row["name_raw"]])
        assert row["name"] == ref[row["name_raw"]][9]  # the name nsys shows: `_vNNNN` removed, `_v2` kept
    _sorted_as_nsys(got["rows"])
    if key == "saxpy":  # two names as written, one shown: two rows, as nsys
        assert [r["name_raw"] for r in got["rows"] if r["name"] == "cudaMemcpy"] != []
        assert sorted(r["name_raw"] for r in got["rows"] if r["name"] == "cudaMemcpy") == ["cudaMemcpy", "cudaMemcpy_v3020"]


@pytest.mark.parametrize("key", EXPORTS)
def test_memop_summary_equals_nsys_mem_time_and_size_sums(runs, key):
    con = _db(EXPORTS[key])
    by_time = {r[8]: r for r in con.execute(_mem_sum(con, "end - start"))}
    by_size = {r[8]: r for r in con.execute(_mem_sum(con, "bytes"))}
    got = _json(runs[key], "--memcpy")
    assert len(got["rows"]) == len(by_time) > 0
    for row in got["rows"]:
        name = row["name"].upper()  # lowprof: "Memcpy HtoD", "Memset"
        _same(row, by_time[name])
        pct, total, num, avg, med, lo, hi, sd = by_size[name][:8]
        assert (row["bytes"], row["bytes_min"], row["bytes_max"]) == (total, lo, hi)
        for k, want in (("bytes_mean", avg), ("bytes_median", med), ("bytes_stddev", sd)):
            assert math.isclose(row[k], want, rel_tol=1e-9, abs_tol=1e-6), (name, k)
        # GB/s (decimal) = bytes / ns over the whole kind
        assert math.isclose(row["bandwidth_gbps"], total / by_time[name][1], rel_tol=1e-12)


def test_csv_is_the_json_rows(runs):
    rows = list(csv.DictReader(io.StringIO(_lowprof("kernels", runs["cloverleaf"], "--memcpy", "--csv"))))
    want = _json(runs["cloverleaf"], "--memcpy")["rows"]
    assert [x["name"] for x in rows] == [w["name"] for w in want]
    for x, w in zip(rows, want):
        for k, v in w.items():
            assert (x[k] == "" if v is None else (float(x[k]) == v if isinstance(v, float) else x[k] == str(v))), (k, x[k], v)
    assert all("." not in x["total_ns"] and "." not in x["bytes"] for x in rows)  # integers as integers


def test_table_shows_every_figure_whole_and_top(runs):
    r = run_cli("kernels", runs["saxpy"], "--api", "--top", "3", env={"COLUMNS": "60"})
    assert r.returncode == 0, r.stderr
    assert "the top 3 shown" in r.stdout and "cudaMemcpy" in r.stdout
    cells = [c.strip() for line in r.stdout.splitlines() if line.startswith("│") for c in line.split("│")[1:-1]]
    figures = [c for c in cells if "cu" not in c]  # every cell but the names (which may be shortened)
    assert len(figures) >= 3 * 8 and all(f and "…" not in f for f in figures), figures  # (continued tables repeat time %)
    wide = run_cli("kernels", runs["saxpy"], "--api", "--top", "3", env={"COLUMNS": "200"}).stdout
    body = [line.split("│")[1:-1] for line in wide.splitlines() if line.startswith("│")]
    want = _json(runs["saxpy"], "--api", "--top", "3")["rows"]
    assert [int(c[2].replace(",", "")) for c in body] == [w["instances"] for w in want]
    assert [c[0].strip() for c in body] == [f"{w['time_pct']:.1f}" for w in want]


def _kineto_reference(path: Path, cats: set[str], what=lambda e: e["name"]) -> dict:
    """Name -> sorted durations (ns, exact from the decimal text) of complete events of ``cats``."""
    with gzip.open(path, "rt") as f:
        events = json.load(f, parse_float=Decimal)["traceEvents"]
    out: dict = {}
    for e in events:
        if e.get("ph") == "X" and e.get("cat") in cats and "dur" in e:
            out.setdefault(what(e), []).append(int(Decimal(e["dur"]) * 1000))
    return out


def test_kineto_run_summaries_equal_the_trace_itself(tmp_path):
    trace = TRACES / "kineto/critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"
    _lowprof("import", trace, "--out", tmp_path / "a", "--quiet")
    for flag, cats in (("", {"kernel"}), ("--api", {"cuda_runtime", "cuda_driver"})):
        ref = _kineto_reference(trace, cats)
        got = _json(tmp_path / "a", *([flag] if flag else []))
        assert {r["name"] for r in got["rows"]} == set(ref)
        for row in got["rows"]:
            d = ref[row["name"]]
            assert (row["total_ns"], row["instances"], row["min_ns"], row["max_ns"]) == (sum(d), len(d), min(d), max(d))
            assert math.isclose(row["median_ns"], statistics.median(d))
            assert math.isclose(row["stddev_ns"], statistics.stdev(d) if len(d) > 1 else 0.0, rel_tol=1e-9, abs_tol=1e-6)


def test_kineto_memops_with_bytes(tmp_path):
    trace = TRACES / "kineto/trace_compare__base__base.json.gz"
    _lowprof("import", trace, "--out", tmp_path / "b", "--quiet")
    with gzip.open(trace, "rt") as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X" and e.get("cat") in ("gpu_memcpy", "gpu_memset")]
    got = _json(tmp_path / "b", "--memcpy")
    assert sum(r["instances"] for r in got["rows"]) == len(events) > 0
    for row in got["rows"]:
        mine = [e for e in events if e["name"] == row["name"]]
        assert row["bytes"] == sum(e["args"]["bytes"] for e in mine)


def test_bad_inputs_are_one_line(tmp_path, runs):
    (tmp_path / "f").write_text("x")
    empty = tmp_path / "e"
    _lowprof("import", TRACES / "nsys/dynamicvit/nsys_profile.sqlite", "--out", empty, "--quiet")
    r = run_cli("kernels", tmp_path / "nope")  # the real command line once; the same code in-process below
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    cases = [(tmp_path / "f",), (runs["saxpy"], "--top", "0"), (runs["saxpy"], "--api", "--memcpy"), (runs["saxpy"], "--top", "x")]
    for args in cases:
        code, err = _fails("kernels", *args)
        assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (args, err)
    # an export without CUDA tables: an empty summary, said in one line, and strict empty JSON
    code, err = _fails("kernels", empty)
    assert code == 0 and "no kernels" in err
    assert _json(empty)["rows"] == []


def test_run_without_api_calls_table_says_to_reimport(tmp_path, runs):
    import shutil

    d = tmp_path / "old"
    shutil.copytree(runs["saxpy"], d)
    m = json.loads((d / "manifest.json").read_text())
    del m["tables"]["api_calls"]
    (d / "manifest.json").write_text(json.dumps(m))
    (d / "tables/api_calls.parquet").unlink()
    code, err = _fails("kernels", d, "--api")
    assert code == 1 and "re-import" in err and len(err.strip().splitlines()) == 1, err
    (d / "tables/launches.parquet").write_bytes(b"not parquet")
    code, err = _fails("kernels", d)
    assert code == 1 and "unreadable launches table (not a Parquet file" in err and len(err.strip().splitlines()) == 1, err


def test_help_lists_the_verb_with_examples():
    top = run_cli("--help")
    assert top.returncode == 0 and "kernels" in top.stdout, top.stderr
    r = _lowprof_help("kernels")
    assert "lowprof kernels runs/resnet --api" in r and "--memcpy" in r


def _lowprof_help(verb: str) -> str:
    from lowprof.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    return buf.getvalue()

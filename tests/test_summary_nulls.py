"""A system table whose columns are null (a probe that could not read /proc/PID/status, a table written by
another version) still gives a summary: the figures it cannot make are absent, the others are right, and
``report --json`` stays strict JSON."""

from __future__ import annotations

import json
import shutil
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lowprof
from lowprof.metrics import run_metrics
from lowprof.analysis.summary import summarize
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("nulls") / "run"
    p = run_cli("run", "--out", out, "--probes", "system", "--interval", "0.02", "--quiet", "--",
                sys.executable, "-c", "import time; time.sleep(0.3)")
    assert p.returncode == 0, p.stderr
    return out


def _nulled(src, dst, columns):
    shutil.copytree(src, dst)
    path = dst / "tables" / "system.parquet"
    t = pq.read_table(path)
    for c in columns:
        i = t.schema.get_field_index(c)
        t = t.set_column(i, t.schema.field(i), pa.nulls(len(t), t.schema.field(i).type))
    pq.write_table(t, path)
    return dst


ALL = ["proc_count", "proc_threads", "proc_rss_bytes", "proc_cpu_user_s", "proc_cpu_system_s", "cpu_percent",
       "mem_used_bytes"]


@pytest.mark.parametrize("columns", [["proc_threads"], ["proc_rss_bytes", "mem_used_bytes"], ["cpu_percent"], ALL],
                         ids=["threads", "memory", "cpu_percent", "all"])
def test_all_null_system_columns_leave_their_figures_out(tmp_path, recorded, columns):
    run = lowprof.load(_nulled(recorded, tmp_path / "r", columns))
    cm = summarize(run)["cpu_memory"]
    whole = summarize(lowprof.load(recorded))["cpu_memory"]
    gone = {"proc_threads": ["workload_threads_max"], "mem_used_bytes": ["host_mem_used_peak_bytes"],
            "cpu_percent": ["host_cpu_percent_p95"]}
    for c in columns:
        for key in gone.get(c, []):
            assert key not in cm, (key, cm)
    # what the nulls do not touch is as in the untouched run (wait4 rusage, /proc/stat counters)
    assert cm["workload_cpu_s"] == whole["workload_cpu_s"]
    assert cm["host_cpu_percent_mean"] == whole["host_cpu_percent_mean"]
    if "proc_rss_bytes" in columns:  # wait4's ru_maxrss alone
        assert cm["workload_rss_peak_bytes"] == run.manifest["workload"]["maxrss_bytes"]
    run_metrics(run)  # the metrics behind compare/export are made from the same summary

    p = run_cli("report", run.path, "--json")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    shown = json.loads(p.stdout, parse_constant=lambda c: pytest.fail(f"{c} in --json"))
    assert shown["cpu_memory"] == json.loads(json.dumps(cm))
    p = run_cli("report", run.path)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "nan" not in p.stdout.lower().replace("nanosec", "")

"""``lowprof import`` of a Kineto trace: the tables it writes without pandas equal the reader's frames.

The CLI in a fresh interpreter never imports pandas (it links on numpy columns and writes Arrow arrays;
pyarrow loads in a thread while the C scanner reads the trace); ``import_trace`` in this process has
pandas imported. Both run directories must hold equal tables (pandas equality, exact) and equal
manifests but for the times of day, and each table must equal ``load_launches``' frames (pandas)
shifted onto the run clock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lowprof.rundir import load
from lowprof.rundir.specs.launches import TIME_COLUMNS
from lowprof.tracers.importer import import_trace
from lowprof.tracers.kineto import load_launches

REPO = Path(__file__).resolve().parents[1]
KINETO = REPO / "tests" / "data" / "traces" / "kineto"
# small real traces: NVIDIA with steps, AMD (HIP launches), CUPTI range-profiler (no kernels)
TRACES = ["critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz",
          "amd_trace__mi250_minitoy_train_ROCm6_2_kineto.json.gz",
          "cupti_profiler__benchmark_result_924719_1679055439_trace.json.gz"]
# what differs between two imports of one file: when and by which process, and the command line
_VOLATILE = ("started_utc", "ended_utc", "recorder", "command")


def _cli_import(trace: Path, out: Path) -> list[str]:
    """Run ``lowprof import TRACE --out OUT -q`` in a fresh interpreter; which of pandas/pyarrow it loaded."""
    code = ("import json, sys\nfrom lowprof.cli import main\nrc = main(sys.argv[1:])\n"
            "print(json.dumps([m for m in ('pandas', 'pyarrow') if m in sys.modules]))\nsys.exit(rc)")
    r = subprocess.run([sys.executable, "-c", code, "import", str(trace), "--out", str(out), "-q"],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    run = load(run_dir)
    return {name: run[name] for name in run.manifest["tables"]}


@pytest.mark.parametrize("name", TRACES)
def test_cli_and_in_process_import_write_equal_tables(name: str, tmp_path: Path):
    trace = KINETO / name
    assert _cli_import(trace, tmp_path / "cli") == ["pyarrow"]  # the Parquet writer's; pandas never
    import_trace(trace, tmp_path / "lib")
    a, b = _tables(tmp_path / "cli"), _tables(tmp_path / "lib")
    assert list(a) == list(b) and "launches" in a
    for t in a:
        pd.testing.assert_frame_equal(a[t], b[t], check_dtype=True, check_exact=True, obj=t)
    ma, mb = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("cli", "lib"))
    assert {k: v for k, v in ma.items() if k not in _VOLATILE} == {k: v for k, v in mb.items() if k not in _VOLATILE}


@pytest.mark.parametrize("name", TRACES)
def test_written_tables_equal_the_readers_frames(name: str, tmp_path: Path):
    trace = KINETO / name
    launches, meta, extra = load_launches(trace, with_tables=True)
    origin = int(meta["clock"]["first_event_ns"])
    written = _tables(import_trace(trace, tmp_path / "run"))
    for t, df in {"launches": launches, **extra}.items():
        ref = df.copy()
        for c in TIME_COLUMNS:
            if c in ref:
                ref[c] = ref[c] - origin
        got = written[t]
        assert list(got.columns) == list(ref.columns), t
        assert len(got) == len(ref), t
        for c in ref.columns:  # values and nulls equal; the file's integer widths are the table spec's
            x, y = got[c].astype(object).where(got[c].notna(), None), ref[c].astype(object).where(ref[c].notna(), None)
            assert x.tolist() == y.tolist(), (t, c)


def test_the_import_path_is_light_until_it_reads():
    """The importer and its readers import pandas and pyarrow only when a trace is read (so the Kineto
    reader can load pyarrow while its scanner runs; nsys loads pandas)."""
    code = ("import json, sys\nimport lowprof.cli.import_, lowprof.tracers.importer, lowprof.tracers.kineto, "
            "lowprof.tracers.nsys\nprint(json.dumps([m for m in ('pandas', 'pyarrow') if m in sys.modules]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_arrow_arrays_from_buffers_equal_pyarrow_array(dtype):
    import pyarrow as pa

    from lowprof.tracers.kineto_scan import arrow_ints, arrow_strings

    v = np.array([5, -3, 0, 7, 2**31 - 1, -(2**31), 9, 1, 4], dtype)
    missing = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1], bool)
    assert arrow_ints(v, missing).equals(pa.array(v, mask=missing))
    assert arrow_ints(v).equals(pa.array(v))
    assert arrow_ints(v[:0], missing[:0]).equals(pa.array(v[:0]))
    names = ["", "void at::native::vectorized_elementwise_kernel<4>", "ProfilerStep#3", "µs ünïcode 核"]
    assert arrow_strings(names).equals(pa.array(names, pa.string()))
    assert arrow_strings([]).equals(pa.array([], pa.string()))

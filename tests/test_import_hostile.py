"""`lowprof import` on hostile Kineto input, as a user runs it: pipes stream, default names are never
empty, dropped events are said, values no column can hold end in a run rather than a traceback."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

import lowprof
from tests.conftest import TRACES, lowprof_cmd, run_cli

KINETO = TRACES / "kineto"
ALEXNET = next(KINETO.glob("critical_path__alexnet*.json.gz"), None)
pytestmark = pytest.mark.skipif(ALEXNET is None, reason="alexnet trace not in the repo")


def _launches(out: Path):
    run = lowprof.load(out)
    assert run.complete
    return run, run["launches"]


def test_import_from_a_pipe_as_dev_stdin(tmp_path: Path):
    """`zcat trace | lowprof import /dev/stdin` (it said "not seekable" with a traceback)."""
    want = run_cli("import", ALEXNET, "--out", tmp_path / "file")
    assert want.returncode == 0, want.stderr
    for name, data in (("gz", ALEXNET.read_bytes()), ("json", gzip.decompress(ALEXNET.read_bytes()))):
        out = tmp_path / name
        p = subprocess.run(lowprof_cmd("import", "/dev/stdin", "--out", out), input=data, capture_output=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr.decode()
        assert b"Traceback" not in p.stderr
        assert _launches(out)[1].equals(_launches(tmp_path / "file")[1])


def test_import_from_process_substitution(tmp_path: Path):
    """`lowprof import <(zcat trace)`: a /dev/fd/N pipe; its default name is fdN, never empty."""
    cmd = " ".join(lowprof_cmd("import")) + f" <(zcat {ALEXNET})"
    p = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    made = [d for d in (tmp_path / "lowprof-runs").iterdir()]
    assert len(made) == 1 and made[0].name.startswith("fd"), made
    assert len(_launches(made[0])[1]) == 98


def test_default_run_name_of_a_hidden_file_is_not_the_runs_folder(tmp_path: Path):
    """`lowprof import .hidden.json.gz` targeted lowprof-runs/ itself; with --force it deleted every run."""
    earlier = tmp_path / "lowprof-runs" / "earlier"
    assert run_cli("import", ALEXNET, "--out", earlier).returncode == 0
    hidden = tmp_path / ".hidden.json.gz"
    hidden.write_bytes(ALEXNET.read_bytes())
    p = run_cli("import", hidden.name, "--force", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert lowprof.load(earlier).complete  # the earlier run is still there
    assert lowprof.load(tmp_path / "lowprof-runs" / "hidden").complete


def _trace(tmp_path: Path, events: list[dict], **meta) -> Path:
    out = tmp_path / "t.json"
    out.write_text(json.dumps({"traceEvents": events, **meta}))
    return out


def _kernel(corr: int, ts, dur=2.0, **args) -> dict:
    return {"ph": "X", "cat": "kernel", "name": f"k{corr}", "pid": 0, "tid": 7, "ts": ts, "dur": dur,
            "args": {"correlation": corr, "device": 0, "stream": 7, **args}}


def _launch(corr: int, ts) -> dict:
    return {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": ts, "dur": 1.0,
            "args": {"correlation": corr}}


def test_events_without_ts_do_not_move_the_origin(tmp_path: Path):
    """A GPU event without ts made INT64_MIN the origin and shifted every timestamp; now it is skipped,
    counted in the manifest and said on stderr. Times are the hand-computed ns after the first event."""
    ev = [_launch(1, 1000.0), _kernel(1, 1005.5), _launch(2, 1010.0), _kernel(2, 1020.0),
          {k: v for k, v in _kernel(3, 0).items() if k != "ts"}, _kernel(4, 1030.0, dur=-1.0),
          _kernel(5, 9_000_000_000_000_000, dur=9_000_000_000_000_000)]
    out = tmp_path / "run"
    p = run_cli("import", _trace(tmp_path, ev), "--out", out)
    assert p.returncode == 0, p.stderr
    assert "skipped 1 events without ts, 1 events with a negative dur, 1 events with ts or ts + dur" in p.stderr
    run, launches = _launches(out)
    assert run.manifest["clock"]["origin_trace_ns"] == 1_000_000
    assert list(launches["gpu_start_ns"]) == [5_500, 20_000] and list(launches["cpu_start_ns"]) == [0, 10_000]
    assert run.manifest["trace"]["parser"]["skipped_events"] == {"no_ts": 1, "negative_dur": 1, "time_out_of_range": 1}


def test_int32_overflow_in_launch_args_imports_with_nulls(tmp_path: Path):
    """grid/block/device/registers beyond int32 ended in a pyarrow traceback (and a half-written run)."""
    ev = [_launch(1, 10.0), _kernel(1, 12.0, grid=[2**31, 1, 1], block=[128, 1, 1], **{"registers per thread": 2**40}),
          _launch(2, 20.0), _kernel(2, 22.0, grid=[4, 1, 1], block=[2**33, 1, 1])]
    ev[1]["args"]["device"] = 2**35
    out = tmp_path / "run"
    p = run_cli("import", _trace(tmp_path, ev), "--out", out)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "stored as null (beyond int32): 1 device, 1 grid_x, 1 block_x, 1 registers_per_thread" in p.stderr
    _, launches = _launches(out)
    assert launches["grid_x"].isna().tolist() == [True, False]
    assert launches["block_x"].tolist()[0] == 128 and launches["block_x"].isna().tolist() == [False, True]


def test_base_time_1e400_imports_without_unix_time(tmp_path: Path):
    out = tmp_path / "run"
    p = run_cli("import", _trace(tmp_path, [_launch(1, 10.0), _kernel(1, 12.0)], baseTimeNanoseconds=1),
                "--out", out)
    assert p.returncode == 0
    text = (tmp_path / "t.json").read_text().replace('"baseTimeNanoseconds": 1', '"baseTimeNanoseconds": 1e400')
    (tmp_path / "t.json").write_text(text)
    p = run_cli("import", tmp_path / "t.json", "--out", tmp_path / "inf")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "ignored baseTimeNanoseconds: 1e400 is not a Unix time in ns" in p.stderr
    run, _ = _launches(tmp_path / "inf")
    assert run.manifest["clock"]["trace_clock"]["base_time_unix_ns"] is None


def test_gzip_bomb_is_one_line_and_the_flag_raises_the_bound(tmp_path: Path):
    import zlib

    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = tmp_path / "bomb.json.gz"
    with open(bomb, "wb") as f:
        f.write(co.compress(json.dumps({"traceEvents": [_launch(1, 10.0), _kernel(1, 12.0)]})[:-2].encode()))
        for _ in range(24):
            f.write(co.compress(b" " * (1 << 20)))
        f.write(co.compress(b"]}") + co.flush())
    p = run_cli("import", bomb, "--out", tmp_path / "no")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.count("\n") == 1 and "expands to more than 100 times its size" in p.stderr, p.stderr
    assert not (tmp_path / "no").exists()
    p = run_cli("import", bomb, "--out", tmp_path / "yes", "--max-expansion", "5000")
    assert p.returncode == 0, p.stderr
    assert len(_launches(tmp_path / "yes")[1]) == 1
    p = run_cli("import", bomb, "--out", tmp_path / "bad", "--max-expansion", "nan")
    assert p.returncode != 0 and "Traceback" not in p.stderr and "--max-expansion" in p.stderr

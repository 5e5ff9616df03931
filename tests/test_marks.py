"""Phase marks: no-op outside lowprof, JSON lines inside, many processes, --marks FILE, profile()."""

from __future__ import annotations

import json
import os
import sys

import pytest

import lowprof
from lowprof.errors import LowprofError
from lowprof.rundir.specs.marks import MARKS_FILE, read_marks, read_marks_file
from lowprof.rundir import ENV_RUN_DIR, RunWriter, load
from lowprof.clock import ENV_ORIGIN


def test_no_op_outside_lowprof(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_RUN_DIR, raising=False)
    monkeypatch.chdir(tmp_path)
    lowprof.mark("x")
    with lowprof.mark("y"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_instant_and_with_marks_in_a_run_dir(tmp_path, monkeypatch):
    origin = 1000
    monkeypatch.setenv(ENV_RUN_DIR, str(tmp_path))
    monkeypatch.setenv(ENV_ORIGIN, f"{origin}:0")
    lowprof.mark("warmup")
    with lowprof.mark("decode"):
        pass
    lines = [json.loads(l) for l in (tmp_path / MARKS_FILE).read_text().splitlines()]
    assert [(l["name"], l["kind"]) for l in lines] == [("warmup", "instant"), ("decode", "instant"),
                                                         ("decode", "begin"), ("decode", "end")]
    df = read_marks_file(tmp_path / MARKS_FILE)
    assert list(zip(df.name, df.kind)) == [("warmup", "instant"), ("decode", "begin"), ("decode", "end")]
    assert (df.pid == os.getpid()).all() and df.t_ns.is_monotonic_increasing


def test_bad_name():
    with pytest.raises(LowprofError, match="''"):
        lowprof.mark("")


def test_many_processes_append_whole_lines(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_RUN_DIR, str(tmp_path))
    monkeypatch.setenv(ENV_ORIGIN, "0:0")
    lowprof.mark("parent")  # opens the parent's descriptor before forking: children must reopen
    kids = []
    for k in range(4):
        pid = os.fork()
        if pid == 0:
            for i in range(300):
                lowprof.mark(f"child{k}-{i:03d}-" + "x" * 100)
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.waitpid(pid, 0)
    df = read_marks_file(tmp_path / MARKS_FILE)
    assert len(df) == 1 + 4 * 300
    assert df.pid.nunique() == 5
    for pid, d in df[df.name != "parent"].groupby("pid"):
        assert len(d) == 300


def test_truncated_last_line_is_skipped_and_user_marks_formats(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text('{"name": "a", "t_s": 1.5}\n# comment\n{"name": "b", "kind": "begin", "unix_s": 100.25}\n{"name": "c", "t_n')
    df = read_marks_file(f, origin_realtime_ns=100 * 10**9)
    assert df.t_ns.tolist() == [250_000_000, 1_500_000_000] and df.name.tolist() == ["b", "a"]
    assert (df.pid == -1).all()
    f.write_text('{"name": "a"}\n{"name": "b", "t_s": 1}\n')
    with pytest.raises(LowprofError, match="m.jsonl:1: no time"):
        read_marks_file(f)


def test_incomplete_run_uses_marks_jsonl(tmp_path):
    run = RunWriter(tmp_path / "r", kind="test")
    run.save()  # recorder still "running": no marks table
    (run.path / MARKS_FILE).write_text('{"t_ns": 5, "name": "p", "kind": "instant", "pid": 1, "id": 1}\n')
    df = read_marks(load(run.path))
    assert df.name.tolist() == ["p"] and df.t_ns.tolist() == [5]


def test_lowprof_run_makes_the_marks_table(tmp_path, cli):
    user = tmp_path / "user.jsonl"
    user.write_text('{"name": "from-user", "t_s": 0.0}\n')
    code = "import lowprof, time\nwith lowprof.mark('prefill'):\n    time.sleep(0.05)\nlowprof.mark('decode')"
    out = tmp_path / "run"
    r = cli("run", "--out", out, "--probes", "system", "--quiet", "--marks", user, "--", sys.executable, "-c", code)
    assert r.returncode == 0, r.stderr
    run = load(out)
    m = run["marks"]
    assert list(zip(m.name, m.kind)) == [("from-user", "instant"), ("prefill", "begin"), ("prefill", "end"),
                                         ("decode", "instant")]
    dur = run.manifest["end_t_ns"]
    assert ((m.t_ns >= 0) & (m.t_ns <= dur)).all()
    b, e = m[m.kind == "begin"].t_ns.iloc[0], m[m.kind == "end"].t_ns.iloc[0]
    assert e - b >= 50_000_000
    assert run.manifest["tables"]["marks"]["rows"] == 4


def test_marks_file_missing_is_one_line(tmp_path, cli):
    r = cli("run", "--out", tmp_path / "r", "--marks", tmp_path / "nope.jsonl", "--", "true")
    assert r.returncode == 1 and "--marks" in r.stderr and "Traceback" not in r.stderr


def test_marks_inside_profile_region(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_RUN_DIR, raising=False)
    with lowprof.profile(out=tmp_path / "p", probes="system", interval_s=0.02) as p:
        with lowprof.mark("step"):
            pass
    assert ENV_RUN_DIR not in os.environ
    m = p.run["marks"]
    assert list(zip(m.name, m.kind)) == [("step", "begin"), ("step", "end")]
    assert (m.t_ns >= 0).all() and (m.t_ns <= p.run.manifest["end_t_ns"]).all()


def test_a_vanished_run_dir_never_breaks_the_workload(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_RUN_DIR, str(tmp_path / "gone"))
    monkeypatch.setenv(ENV_ORIGIN, "0:0")
    lowprof.mark("x")
    with lowprof.mark("y"):
        pass
    assert not (tmp_path / "gone").exists()


def _fake_gpu_module(monkeypatch, name: str, delay_s: float, calls: list):
    """A stand-in torch or cupy in sys.modules whose device synchronize takes ``delay_s`` (no GPU here)."""
    import time
    import types

    def synchronize(*_a):
        time.sleep(delay_s)
        calls.append(time.monotonic_ns())

    if name == "torch":
        mod = types.SimpleNamespace(cuda=types.SimpleNamespace(is_initialized=lambda: True, synchronize=synchronize))
    else:
        mod = types.SimpleNamespace(cuda=types.SimpleNamespace(
            runtime=types.SimpleNamespace(deviceSynchronize=synchronize)))
    monkeypatch.setitem(sys.modules, name, mod)


@pytest.mark.parametrize("framework", ["torch", "cupy"])
def test_sync_mark_waits_for_the_gpu_before_stamping(tmp_path, monkeypatch, framework):
    """mark(name, sync=True) waits for the process's GPU work (torch or CuPy, whichever it uses) and stamps
    after it returns, so the phase edge lines up with the GPU; a plain mark does not wait."""
    import time

    monkeypatch.setenv(ENV_RUN_DIR, str(tmp_path))
    monkeypatch.setenv(ENV_ORIGIN, "0:0")
    other = "cupy" if framework == "torch" else "torch"
    monkeypatch.delitem(sys.modules, other, raising=False)
    calls: list[int] = []
    _fake_gpu_module(monkeypatch, framework, 0.05, calls)
    t0 = time.monotonic_ns()
    lowprof.mark("plain")
    lowprof.mark("synced", sync=True)
    with lowprof.mark("block", sync=True):
        pass
    lines = [json.loads(l) for l in (tmp_path / MARKS_FILE).read_text().splitlines()]
    by = {(l["name"], l["kind"]): l for l in lines}
    # The plain mark was stamped before the synced mark's synchronize began (which sleeps 50 ms), on any load.
    assert t0 <= by[("plain", "instant")]["t_ns"] <= calls[0] - 50_000_000
    assert "sync" not in by[("plain", "instant")]
    assert len(calls) == 3  # the instant, the block's begin and its end
    assert by[("synced", "instant")]["t_ns"] >= calls[0] and by[("synced", "instant")]["sync"] == framework
    assert by[("block", "end")]["t_ns"] >= calls[2] >= by[("block", "begin")]["t_ns"] + 50_000_000


def test_sync_mark_without_a_gpu_framework_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_RUN_DIR, str(tmp_path))
    monkeypatch.setenv(ENV_ORIGIN, "0:0")
    for m in ("torch", "cupy"):
        monkeypatch.delitem(sys.modules, m, raising=False)
    lowprof.mark("x", sync=True)
    (line,) = [json.loads(l) for l in (tmp_path / MARKS_FILE).read_text().splitlines()]
    assert line["sync"] == "none"  # asked, but the process uses neither torch nor CuPy: recorded, not hidden

"""Damaged run directories: a matrix of damage x {report, export, load} (standing test), and the cases
of issue 18 one by one.

Every outcome must be either success or one clean error (``lowprof: error:`` then one line per
problem), never a traceback, a hang (a FIFO), unbounded reading (/dev/zero) or a crash. Where the
damage leaves the run readable (a stream of 0 bytes after a kill, one bad table), it must load, and
report what it can, saying what is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lowprof
from lowprof.errors import RunDirError
from tests.conftest import REPO, run_cli

WORKER = Path(__file__).with_name("_damage_worker.py")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """One real recorded run (system probe: tables system and system_cores)."""
    out = tmp_path_factory.mktemp("rec") / "run"
    p = run_cli("run", "--out", out, "--probes", "system", "--interval", "0.02", "--quiet", "--",
                sys.executable, "-c", "import time; time.sleep(0.3)")
    assert p.returncode == 0, p.stderr
    return out


def _manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())


def _set(d: Path, fn) -> None:
    m = _manifest(d)
    fn(m)
    (d / "manifest.json").write_text(json.dumps(m))


def _killed(d: Path) -> None:
    """As a recorder killed before finishing leaves it: status running, a recorder PID that is gone."""
    def f(m):
        m.update(status="running", ended_utc=None, end_t_ns=None, duration_s=None)
        m["recorder"]["pid"] = 2**31 - 2  # above any pid_max: never alive
    _set(d, f)


def _stream(d: Path, name: str, cut: float | None) -> None:
    """Turn tables/<name>.parquet back into the stream a killed recorder leaves, cut to a share of it."""
    src = d / "tables" / f"{name}.parquet"
    table = pq.read_table(src)
    dst = d / "tables" / f"{name}.arrows"
    with pa.OSFile(str(dst), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        w.write_table(table)
    src.unlink()
    if cut is not None:
        data = dst.read_bytes()
        dst.write_bytes(data[:int(len(data) * cut)])


def _deep(n: int) -> str:
    return '{"schema": 1, "kind": "run", "status": "complete", "x": ' + "[" * n + "]" * n + "}"


def _replace(d: Path, rel: str, make) -> None:
    p = d / rel
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()
    make(p)


def _wrong_schema(p: Path) -> None:
    pq.write_table(pa.table({"t_ns": pa.array(["a", "b"]), "other": pa.array([1, 2])}), p)


def _outside_parquet(p: Path) -> None:
    secret = p.parents[2] / "secret.parquet"  # next to the run directory, not in it
    shutil.copy(p.parent / "system_cores.parquet", secret)
    os.symlink(secret, p)


# case -> (damage, expected: "ok" = every verb succeeds, "refused" = a clean one-line error,
#          "partial" = report/load succeed and name the unreadable table)
CASES = {
    # manifest.json
    "manifest missing": (lambda d: (d / "manifest.json").unlink(), "refused"),
    "manifest empty": (lambda d: (d / "manifest.json").write_text(""), "refused"),
    "manifest not UTF-8": (lambda d: (d / "manifest.json").write_bytes(b'{"schema": 1, "kind": "\xff\xfe"}'), "refused"),
    "manifest cut": (lambda d: (d / "manifest.json").write_text((d / "manifest.json").read_text()[:200]), "refused"),
    "manifest an array": (lambda d: (d / "manifest.json").write_text("[1, 2]"), "refused"),
    "manifest nested 100000 deep": (lambda d: (d / "manifest.json").write_text(_deep(100000)), "refused"),
    "manifest nested 200 deep": (lambda d: (d / "manifest.json").write_text(_deep(200)), "refused"),
    "manifest 65 MiB": (lambda d: (d / "manifest.json").write_text('{"schema": 1, "pad": "' + "x" * (65 << 20) + '"}'),
                        "refused"),
    "manifest symlink to /dev/zero": (lambda d: _replace(d, "manifest.json", lambda p: os.symlink("/dev/zero", p)),
                                      "refused"),
    "manifest a FIFO": (lambda d: _replace(d, "manifest.json", os.mkfifo), "refused"),
    "manifest a directory": (lambda d: _replace(d, "manifest.json", os.mkdir), "refused"),
    "manifest NaN": (lambda d: (d / "manifest.json").write_text('{"schema": 1, "kind": "run", "status": "x", '
                                                               '"duration_s": NaN}'), "refused"),
    "schema unknown": (lambda d: _set(d, lambda m: m.update(schema=99)), "refused"),
    "schema true": (lambda d: _set(d, lambda m: m.update(schema=True)), "refused"),
    "recorder pid beyond int64": (lambda d: _set(d, lambda m: m["recorder"].update(pid=2**64)), "refused"),
    "recorder pid negative": (lambda d: _set(d, lambda m: m["recorder"].update(pid=-5)), "refused"),
    "recorder pid a string": (lambda d: _set(d, lambda m: m["recorder"].update(pid="123")), "refused"),
    "recorder a list": (lambda d: _set(d, lambda m: m.update(recorder=[1])), "refused"),
    "tables a list": (lambda d: _set(d, lambda m: m.update(tables=["system"])), "refused"),
    "table columns a string": (lambda d: _set(d, lambda m: m["tables"]["system"].update(columns="t_ns")), "refused"),
    "column type unknown": (lambda d: _set(d, lambda m: m["tables"]["system"]["columns"]["t_ns"].update(type="int128")),
                            "refused"),
    "table rows negative": (lambda d: _set(d, lambda m: m["tables"]["system"].update(rows=-1)), "refused"),
    "command a string": (lambda d: _set(d, lambda m: m.update(command="rm -rf /")), "refused"),
    "command holds a number": (lambda d: _set(d, lambda m: m.update(command=["sleep", 1])), "refused"),
    "kind a number": (lambda d: _set(d, lambda m: m.update(kind=3)), "refused"),
    "status missing": (lambda d: _set(d, lambda m: m.pop("status")), "refused"),
    "probes a list": (lambda d: _set(d, lambda m: m.update(probes=["system"])), "refused"),
    "probe samples a string": (lambda d: _set(d, lambda m: m["probes"]["system"].update(samples="7")), "refused"),
    "workload user_s alone": (lambda d: _set(d, lambda m: m.update(workload={"pid": 5, "user_s": 1.0})), "refused"),
    "workload exit code a float": (lambda d: _set(d, lambda m: m["workload"].update(exit_code=0.5)), "refused"),
    "host a string": (lambda d: _set(d, lambda m: m.update(host="vm")), "refused"),
    "gpus devices a string": (lambda d: _set(d, lambda m: m["gpus"].update(devices="none")), "refused"),
    "clock origin a string": (lambda d: _set(d, lambda m: m["clock"].update(origin_monotonic_ns="0")), "refused"),
    "duration a string": (lambda d: _set(d, lambda m: m.update(duration_s="1 s")), "refused"),
    "env values not strings": (lambda d: _set(d, lambda m: m.update(env={"RANK": 0})), "refused"),
    "many problems at once": (lambda d: _set(d, lambda m: m.update(kind=1, host=2, duration_s="x")), "refused"),
    "markup in strings": (lambda d: _set(d, lambda m: m.update(command=["[/x]", "[red]x"], kind="[bold]")), "ok"),
    "unknown members": (lambda d: _set(d, lambda m: m.update(extra={"a": [1]}, future=2)), "ok"),
    "started_utc not a date": (lambda d: _set(d, lambda m: m.update(started_utc="yesterday")), "ok"),
    # tables (of a run killed before it finished, or after)
    "killed: every stream 0 bytes": (lambda d: (_killed(d), [_stream(d, t, 0.0) for t in ("system", "system_cores")]),
                                     "ok"),
    "killed: schema cut short": (lambda d: (_killed(d), _stream(d, "system", None),
                                            (d / "tables/system.arrows").write_bytes(
                                                (d / "tables/system.arrows").read_bytes()[:7])), "ok"),
    "killed: stream cut mid-batch": (lambda d: (_killed(d), _stream(d, "system", 0.6)), "ok"),
    "killed: stream whole": (lambda d: (_killed(d), _stream(d, "system", None)), "ok"),
    "table parquet cut": (lambda d: (d / "tables/system.parquet").write_bytes(
        (d / "tables/system.parquet").read_bytes()[:300]), "partial"),
    "table parquet 0 bytes": (lambda d: (d / "tables/system.parquet").write_bytes(b""), "partial"),
    "table garbage": (lambda d: (d / "tables/system.parquet").write_bytes(os.urandom(5000)), "partial"),
    "table wrong schema": (lambda d: _replace(d, "tables/system.parquet", _wrong_schema), "partial"),
    "table a FIFO": (lambda d: _replace(d, "tables/system.parquet", os.mkfifo), "partial"),
    "stream a FIFO": (lambda d: (_killed(d), _stream(d, "system", None),
                                 _replace(d, "tables/system.arrows", os.mkfifo)), "partial"),
    "table a directory": (lambda d: _replace(d, "tables/system.parquet", os.mkdir), "partial"),
    "table symlink to /dev/zero": (lambda d: _replace(d, "tables/system.parquet", lambda p: os.symlink("/dev/zero", p)),
                                   "partial"),
    "table symlink out of the run": (lambda d: _replace(d, "tables/system.parquet", _outside_parquet), "partial"),
    "table symlink dangling": (lambda d: _replace(d, "tables/system.parquet", lambda p: os.symlink("nowhere", p)),
                               "partial"),
    "table symlink inside the run": (lambda d: (shutil.move(d / "tables/system.parquet", d / "system.parquet"),
                                                os.symlink("../system.parquet", d / "tables/system.parquet")), "ok"),
    "tables a file": (lambda d: _replace(d, "tables", lambda p: p.write_text("x")), "ok"),
    "tables a symlink out": (lambda d: (shutil.copytree(d / "tables", d.parent / "t2"),
                                        _replace(d, "tables", lambda p: os.symlink(d.parent / "t2", p))), "partial"),
    "table not in the manifest": (lambda d: shutil.copy(d / "tables/system.parquet", d / "tables/extra.parquet"), "ok"),
}

# sweep.json damage: the recorded run is the sweep's one point "n=1"
SWEEPS = {
    "sweep ok": (lambda s: None, "ok"),
    "sweep not JSON": (lambda s: (s / "sweep.json").write_text("{"), "refused"),
    "sweep runs a dict": (lambda s: _sweep(s, runs={"dir": "n=1"}), "refused"),
    "sweep params not strings": (lambda s: _sweep(s, runs=[{"dir": "n=1", "params": {"n": 1}}]), "refused"),
    "sweep dir a number": (lambda s: _sweep(s, runs=[{"dir": 1}]), "refused"),
    "sweep dir ..": (lambda s: _sweep(s, runs=[{"dir": ".."}]), "refused"),
    "sweep dir ../elsewhere": (lambda s: _sweep(s, runs=[{"dir": "../elsewhere"}]), "refused"),
    "sweep dir absolute": (lambda s: _sweep(s, runs=[{"dir": "/etc"}]), "refused"),
    "sweep dir a symlink out": (lambda s: (os.symlink(s.parent / "elsewhere", s / "out"),
                                           _sweep(s, runs=[{"dir": "out"}])), "refused"),
    "sweep a FIFO": (lambda s: _replace(s, "sweep.json", os.mkfifo), "refused"),
    "sweep schema 2": (lambda s: _sweep(s, schema=2), "refused"),
}


def _sweep(s: Path, **change) -> None:
    doc = json.loads((s / "sweep.json").read_text())
    doc.update(change)
    (s / "sweep.json").write_text(json.dumps(doc))


def _make_sweep(recorded: Path, where: Path) -> Path:
    s = where / "sweep"
    s.mkdir(parents=True)
    shutil.copytree(recorded, s / "n=1", symlinks=True)
    shutil.copytree(recorded, where / "elsewhere", symlinks=True)
    (s / "sweep.json").write_text(json.dumps({"schema": 1, "kind": "sweep", "params": ["n"], "command": ["true"],
                                              "runs": [{"params": {"n": "1"}, "dir": "n=1", "exit_code": 0}]}))
    return s


def _outcome(res: dict) -> str:
    if res.get("crash"):
        return "crash"
    if res["rc"] == 0:
        return "ok"
    if res["rc"] == "error" or (res["rc"] == 1 and res["stderr"].startswith("lowprof: error:")):
        return "refused"
    return f"rc {res['rc']}"


@pytest.mark.slow
def test_damage_matrix_over_report_export_load(recorded: Path, tmp_path: Path):
    args = []
    for i, (case, (damage, _)) in enumerate(CASES.items()):
        d = tmp_path / f"c{i}" / "run"
        shutil.copytree(recorded, d, symlinks=True)
        damage(d)
        args.append((case, "run", str(d)))
    for i, (case, (damage, _)) in enumerate(SWEEPS.items()):
        s = _make_sweep(recorded, tmp_path / f"s{i}")
        damage(s)
        args.append((case, "sweep", str(s)))
    (tmp_path / "cases.json").write_text(json.dumps(args))
    p = subprocess.run([sys.executable, str(WORKER), str(tmp_path / "out"), str(tmp_path / "cases.json")], cwd=REPO,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    results = [json.loads(line) for line in p.stdout.splitlines()]
    expected = {c: e for c, (_, e) in (CASES | SWEEPS).items()}
    assert {r["case"] for r in results} == set(expected)
    bad = []
    for r in results:
        got, want = _outcome(r), expected[r["case"]]
        if want == "partial":
            want = "ok"
            if r["verb"] in ("report", "export") and "unreadable" not in r["stdout"] + r["stderr"]:
                bad.append(f"{r['case']} / {r['verb']}: does not say which table is unreadable")
        if got != want:
            bad.append(f"{r['case']} / {r['verb']}: {got}, expected {want}: "
                       f"{r.get('crash') or r.get('error') or r['stderr'][-600:]}")
        if got == "refused":  # one clean line, plus one line per schema problem
            msg = r.get("error") or r["stderr"].removeprefix("lowprof: error: ")
            head, *rest = msg.rstrip("\n").split("\n")
            if "Traceback" in msg or any(not line.startswith("  ") for line in rest):
                bad.append(f"{r['case']} / {r['verb']}: not one line per problem: {msg[:600]!r}")
    assert not bad, f"{len(bad)} of {len(results)} outcomes wrong:\n" + "\n".join(bad)
    print(f"damage matrix: {len(CASES)} damaged run directories + {len(SWEEPS)} sweep folders, "
          f"{len(results)} calls of report/export/load, all as expected")


# ---- the cases of issue 18, each with its own check ---------------------------------------------------


def test_a_run_killed_at_once_loads_and_reports_incomplete(recorded: Path, tmp_path: Path):
    """Streams of 0 bytes (killed in its first second) made report/export/load refuse "not an Arrow stream"."""
    d = tmp_path / "run"
    shutil.copytree(recorded, d)
    _killed(d)
    for t in ("system", "system_cores"):
        _stream(d, t, 0.0)
    run = lowprof.load(d)
    assert run.state == "incomplete" and not run.unreadable
    assert len(run["system"]) == 0 and list(run["system"].columns) == list(_manifest(d)["tables"]["system"]["columns"])
    p = run_cli("report", d)
    assert p.returncode == 0 and "INCOMPLETE" in p.stdout, p.stderr
    assert run_cli("export", d, "--csv", tmp_path / "csv").returncode == 0


def test_the_directory_has_its_manifest_from_its_first_moment(tmp_path: Path):
    """A recorder killed right after creating its run directory leaves a run that loads as incomplete."""
    from lowprof.rundir import RunWriter

    RunWriter(tmp_path / "new", kind="run")
    run = lowprof.load(tmp_path / "new")
    assert run.manifest["status"] == "running" and run.state == "recording"  # this process: alive
    assert [p.name for p in tmp_path.iterdir()] == ["new"]  # no temporary left beside it
    s = run.manifest["recorder"]
    assert s["start_ticks"] == int(open(f"/proc/{os.getpid()}/stat").read().rsplit(")", 1)[1].split()[19])


def test_one_unreadable_table_is_named_while_the_rest_of_the_report_shows(recorded: Path, tmp_path: Path):
    d = tmp_path / "run"
    shutil.copytree(recorded, d)
    _replace(d, "tables/system_cores.parquet", _wrong_schema)
    p = run_cli("report", d)
    assert p.returncode == 0, p.stderr
    assert "table system_cores unreadable" in p.stdout and "is string, the manifest declares int64" in p.stdout
    assert "workload_cpu_s" in p.stdout  # computed from the readable system table
    js = json.loads(run_cli("report", d, "--json").stdout)
    assert set(js["unreadable_tables"]) == {"system_cores"} and js["cpu_memory"]["workload_rss_peak_bytes"] > 0


def test_a_symlink_in_tables_is_not_followed_out_of_the_run(recorded: Path, tmp_path: Path):
    d = tmp_path / "run"
    shutil.copytree(recorded, d)
    _replace(d, "tables/system.parquet", _outside_parquet)
    run = lowprof.load(d)
    assert "system" not in run.tables and "out of the run directory" in run.unreadable["system"]
    with pytest.raises(RunDirError, match="symlink out of the run directory"):
        run["system"]


@pytest.mark.parametrize("what", ["/dev/zero", "FIFO"])
def test_manifest_that_reads_forever_or_blocks_is_refused_at_once(recorded: Path, tmp_path: Path, what: str):
    d = tmp_path / "run"
    shutil.copytree(recorded, d)
    _replace(d, "manifest.json", os.mkfifo if what == "FIFO" else lambda p: os.symlink("/dev/zero", p))
    t0 = time.monotonic()
    p = run_cli("report", d, timeout=60)
    assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
    assert "not a regular file" in p.stderr and time.monotonic() - t0 < 30


def test_schema_errors_are_one_line_each(recorded: Path, tmp_path: Path):
    d = tmp_path / "run"
    shutil.copytree(recorded, d)
    _set(d, lambda m: (m["recorder"].update(pid=2**64), m.update(kind=7, duration_s="x")))
    p = run_cli("report", d)
    lines = p.stderr.splitlines()
    assert p.returncode == 1 and lines[0].startswith("lowprof: error:") and "3 problems" in lines[0], p.stderr
    assert sorted(line.strip().split(":")[0] for line in lines[1:]) == ["duration_s", "kind", "recorder.pid"]


def test_schema_validator_agrees_with_jsonschema(recorded: Path):
    """The declared schema read by the reference implementation (jsonschema, where installed) gives the
    same verdict as lowprof's validator on the recorded manifest and on each damaged one."""
    jsonschema = pytest.importorskip("jsonschema")
    from lowprof.rundir.schema import MANIFEST_SCHEMA, errors

    base = _manifest(recorded)
    variants = [base]
    for change in ({"kind": 3}, {"tables": ["x"]}, {"command": "x"}, {"host": "vm"}, {"env": {"A": 1}},
                   {"recorder": {"pid": 2**64}}, {"recorder": {"pid": 0}}, {"workload": {"user_s": 1.0}},
                   {"duration_s": None}, {"extra": [1]}, {"probes": {"x": {"samples": -1}}}):
        variants.append(base | change)
    v = jsonschema.Draft7Validator(MANIFEST_SCHEMA)
    for m in variants:
        assert bool(errors(m, MANIFEST_SCHEMA)) == (not v.is_valid(m)), m


def test_a_reused_recorder_pid_is_not_still_recording(tmp_path: Path):
    """A manifest whose recorder PID now belongs to a live unrelated process said "still recording"
    for ever; the process's start time tells them apart (with or without start_ticks recorded)."""
    from lowprof.rundir import RunWriter

    RunWriter(tmp_path / "r", kind="run")
    other = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.05)
        _set(tmp_path / "r", lambda m: m["recorder"].update(pid=other.pid))  # start_ticks: of this process
        assert lowprof.load(tmp_path / "r").state == "incomplete"
        _set(tmp_path / "r", lambda m: (m["recorder"].pop("start_ticks"),  # an older manifest
                                        m.update(started_utc="2000-01-01T00:00:00+00:00")))
        assert lowprof.load(tmp_path / "r").state == "incomplete"
        p = run_cli("report", tmp_path / "r")
        assert "INCOMPLETE" in p.stdout and "still recording" not in p.stdout
        ticks = int(open(f"/proc/{other.pid}/stat").read().rsplit(")", 1)[1].split()[19])
        _set(tmp_path / "r", lambda m: m["recorder"].update(start_ticks=ticks))  # truly the recorder
        assert lowprof.load(tmp_path / "r").state == "recording"
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize("dir_", ["../elsewhere", "/etc"])
def test_sweep_dir_outside_the_folder_is_refused(recorded: Path, tmp_path: Path, dir_: str):
    s = _make_sweep(recorded, tmp_path)
    _sweep(s, runs=[{"params": {"n": "1"}, "dir": dir_}])
    with pytest.raises(RunDirError, match="sweep.json: does not match its schema"):
        lowprof.load_many(s)
    p = run_cli("export", s, "--csv", tmp_path / "csv")
    assert p.returncode == 1 and "Traceback" not in p.stderr and "runs[0].dir" in p.stderr

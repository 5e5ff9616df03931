"""The tests' in-process `lowprof` (tests/conftest.py run_cli) answers as the real process does: the same exit
status, stdout and stderr, byte for byte, for help, a bad flag, a one-line error, tables at a given $COLUMNS and
strict JSON; and it leaves this process's environment, working directory and signal handlers as it found them.
So does the process forked from the warm interpreter (run_cli_forked) that runs run/attach/sweep/bench."""

from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import TRACES, run_cli_forked, run_cli_in_process, run_cli_subprocess

TRACE = TRACES / "kineto" / "critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("in-process") / "run"
    p = run_cli_subprocess("import", TRACE, "--out", out, "--quiet")
    assert p.returncode == 0, p.stderr
    return out


def _same(args, **kw) -> None:
    here, there = run_cli_in_process(*args, **kw), run_cli_subprocess(*args, **kw)
    assert (here.returncode, here.stdout, here.stderr) == (there.returncode, there.stdout, there.stderr)


@pytest.mark.parametrize("args", [["--help"], ["report", "--help"], ["report", "--no-such-flag"],
                                  ["run", "--interval", "banana", "--", "true"], ["report", "/nonexistent/run"]])
def test_help_bad_flags_and_errors_are_the_processes(args):
    _same(args)


@pytest.mark.parametrize("columns", ["60", "200"])
def test_tables_at_a_width_and_json_are_the_processes(imported, columns):
    for verb in ("report", "launches"):
        _same([verb, imported], env={"COLUMNS": columns})
    _same(["launches", imported, "--json"])


def test_the_call_leaves_environment_cwd_and_signal_handlers_as_they_were(imported, tmp_path):
    env, cwd = dict(os.environ), os.getcwd()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    p = run_cli_in_process("report", imported, env={"LOWPROF_TEST_MARK": "1"}, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert dict(os.environ) == env and os.getcwd() == cwd
    assert {s: signal.getsignal(s) for s in handlers} == handlers


WORKLOAD = 'echo "out $LOWPROF_TEST_MARK"; pwd; echo err >&2; python3 -c "import sys; print(sys.argv)" x 2>&1; exit 3'


@pytest.mark.parametrize("args", [["run", "-q", "--out", "{out}", "--", "sh", "-c", WORKLOAD],
                                  ["run", "--out", "{out}", "--", "/nonexistent/cmd"],
                                  ["run", "-q", "--probes", "no-such-probe", "--out", "{out}", "--", "true"],
                                  ["attach", "2147483646", "--duration", "1", "--out", "{out}"]])
def test_a_forked_process_verb_answers_as_a_fresh_process(tmp_path, args):
    """The workload's own output, exit status, environment and working directory pass through; lowprof's errors
    are the same lines; as a fresh process, the forked one is its own pid (not this process)."""
    got = {}
    for how, fn in (("forked", run_cli_forked), ("fresh", run_cli_subprocess)):
        argv = [a.replace("{out}", str(tmp_path / how / "r")) for a in args]
        got[how] = fn(*argv, env={"LOWPROF_TEST_MARK": "1"}, cwd=tmp_path)
    forked, fresh = got["forked"], got["fresh"]
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert forked.returncode != 0


def test_a_forked_run_is_its_own_process(tmp_path):
    """Neither this process nor the zygote it was forked from wrote the run."""
    from tests import conftest

    p = run_cli_forked("run", "-q", "--out", tmp_path / "r", "--", "true")
    assert p.returncode == 0, p.stderr
    import lowprof

    m = lowprof.load(tmp_path / "r").manifest
    assert m["recorder"]["pid"] not in (os.getpid(), conftest._zygote[0][0].pid, None)
    assert m["workload"]["exit_code"] == 0


def test_a_zygote_that_dies_during_a_call_is_an_error_not_a_hang(tmp_path):
    """The call fails at once with a line that names the zygote (its child killed); the next call starts another."""
    import threading
    import time

    from tests import conftest

    assert run_cli_forked("run", "-q", "--out", tmp_path / "a", "--", "true").returncode == 0
    zygote = conftest._zygote[0][0]
    threading.Timer(1.0, zygote.kill).start()
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="_zygote.py ended during the call"):
        run_cli_forked("run", "-q", "--out", tmp_path / "b", "--", "sleep", "3")
    assert time.monotonic() - t0 < 2.5
    assert run_cli_forked("run", "-q", "--out", tmp_path / "c", "--", "true").returncode == 0
    assert conftest._zygote[0][0].pid != zygote.pid

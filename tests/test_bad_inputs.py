"""Every verb, every argument, a matrix of bad inputs: one line on stderr, a non-zero exit, never a traceback
(issue 11, "Tracebacks instead of one line").

The verbs and their arguments are read from the CLI's own parser, so a new verb or option is covered
without editing this file. Each case runs ``lowprof.cli.main`` in a child forked from this warm interpreter
(stdout and stderr are the child's real file descriptors, so whatever reaches them is seen; ~10 ms a
case, where a fresh ``lowprof`` costs ~1 s of start-up), two at a time.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lowprof.cli import build_parser, main
from tests._warm import warm
from tests.conftest import TRACES, run_cli

# Arguments whose values are kinds of place; everything else that takes a value gets the generic cases.
OUT_DIRS = {"out"}  # written: --out of run/attach/import/bench/sweep/plot, export --csv
OUT_FILES = {"latex", "perfetto", "collapsed", "speedscope"}
IN_FILES = {"marks", "results", "trace"}
IN_DIRS = {"dir", "dirs"}


def _verbs(parser: argparse.ArgumentParser, prefix=()):
    """(verb words, the verb's parser) for every leaf verb, bench's suites included."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
    for a in subs:
        for name, p in a.choices.items():
            yield from _verbs(p, (*prefix, name))


def _value_actions(p: argparse.ArgumentParser):
    return [a for a in p._actions if not isinstance(a, (argparse._HelpAction, argparse._VersionAction))
            and a.nargs != 0 and a.help != argparse.SUPPRESS]


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict:
    """Real places for the matrix: a recorded run, a plain file, a plain folder, a loop of symlinks (unreadable
    even by root), places nobody may write (/proc, /sys)."""
    d = tmp_path_factory.mktemp("bad")
    run = d / "run"
    p = run_cli("run", "-q", "--out", run, "--probes", "system", "--", "true")
    assert p.returncode == 0, p.stderr
    (d / "file.txt").write_text("just text\n")
    (d / "folder").mkdir()
    (d / "folder" / "x").write_text("x")
    os.symlink(d / "loop", d / "loop")
    return {"run": str(run), "file": str(d / "file.txt"), "folder": str(d / "folder"), "loop": str(d / "loop"),
            "missing": str(d / "missing" / "nothing"), "tmp": str(d)}


def _good(verb: tuple, a: argparse.Action, places: dict, n: int) -> list[str]:
    """A plausible value for a required argument that is not the one under test."""
    name = a.dest
    if name in IN_DIRS:
        return [places["run"]] * (2 if a.nargs == "+" else 1)
    if name == "command":
        return ["--", "true", "{x}"] if verb == ("sweep",) else ["--", "true"]
    if name == "trace":
        return [str(TRACES / "kineto" / "cpu_only__rank-34.Jul_15_10_52_41.1074.pt.trace.json.gz")]
    if name == "pid":
        return [str(os.getpid())]
    if name == "param":
        return ["--param", "x=1"]
    if name == "out":
        return [a.option_strings[0], str(Path(places["tmp"]) / f"out{n}")]
    return [a.option_strings[0], "1"] if a.option_strings else ["1"]


def _bad_values(a: argparse.Action, places: dict) -> dict[str, str | list[str]]:
    name = a.dest
    if name == "command":
        return {"missing command": "/nonexistent/cmd", "a folder as command": places["folder"],
                "a plain file as command": places["file"], "empty command": ""}
    if name == "pid":
        return {"negative pid": "-5", "zero pid": "0", "absent pid": str(_absent_pid()), "empty pid": "",
                "pid beyond the kernel's limit": str(2**40), "pid not a number": "12x"}
    if name in IN_DIRS:
        return {"missing": places["missing"], "a file for a folder": places["file"],
                "unreadable (symlink loop)": places["loop"], "empty": "", "folder that is no run": places["folder"]}
    if name in IN_FILES and not (name == "trace" and a.option_strings):  # run --trace kernels is a choice
        return {"missing": places["missing"], "a folder for a file": places["folder"],
                "unreadable (symlink loop)": places["loop"], "empty": ""}
    if name in OUT_DIRS:
        figures = a.metavar == "FIGDIR"  # a folder of figures may hold other files
        return {**({} if figures else {"non-empty folder that is no run": places["folder"]}),"an existing file for a folder": places["file"], "read-only /proc": "/proc/lowprof-x",
                "read-only /sys": "/sys/lowprof-x", "empty": "", "under a file": places["file"] + "/x"}
    if name in OUT_FILES:
        return {"a folder for a file": places["folder"], "read-only /proc": "/proc/lowprof-x/f",
                "read-only /sys": "/sys/lowprof-x", "empty": ""}
    if a.choices:
        return {"not a choice": "no-such-choice", "empty": ""}
    return {"empty": ""}


def _absent_pid() -> int:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    for pid in range(pid_max - 1, 1, -1):
        if not Path(f"/proc/{pid}").exists():
            return pid
    raise AssertionError("no free PID")


def _cases(places: dict) -> list[tuple[str, list[str]]]:
    """(case name, argv): for each verb, each argument taking a value, each bad value; the verb's other
    required arguments get good values. Options come first, then '--', then positionals (or the command)."""
    cases = []
    for verb, p in _verbs(build_parser()):
        acts = _value_actions(p)
        for a in acts:
            for what, bad in _bad_values(a, places).items():
                n = len(cases)
                opts, pos = [], []
                for other in acts:
                    if other is a:
                        continue
                    if other.required or not other.option_strings:
                        (opts if other.option_strings else pos).extend(
                            v for v in _good(verb, other, places, n) if v != "--")
                if a.option_strings:
                    opts.append(f"{a.option_strings[0]}={bad}")
                else:
                    pos.append(bad)
                if a.dest == "command" or any(o.dest == "command" for o in acts):
                    # `run [opts] -- CMD`: the command is the positional; others (none) precede it
                    argv = [*verb, *opts, "--", *pos]
                else:
                    argv = [*verb, *opts, "--", *pos] if pos else [*verb, *opts]
                cases.append((f"{' '.join(verb)} {a.dest}: {what}", argv))
    return cases


def _start(argv: list[str], cwd: str):
    """Fork a child that runs ``lowprof ARGV`` as ``python -m lowprof`` would, its stdout/stderr in files."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            os.chdir(cwd)
            os.setsid()
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            sys.argv = ["lowprof", *argv]
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:  # noqa: BLE001 - what would reach the user as a traceback
                import traceback

                traceback.print_exc()
                code = 98
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code if isinstance(code, int) else 1)
    return pid, out, err


def _warm() -> None:
    """Import here what the verbs import on their way to an error (numpy, pandas, pyarrow, rich, matplotlib for
    plot, the recorder, the analyses), so that each forked child starts with it: what this process happened to
    import before (other tests on this worker) no longer decides it, and ~100 children do not import pandas anew."""
    warm("pickle", "sqlite3", "numpy", "pandas", "pyarrow", "pyarrow.parquet", "psutil", "rich.console", "rich.text",
         "rich.table", "lowprof.record", "lowprof.spawn", "lowprof.inventory", "lowprof.metrics", "lowprof.rundir.many",
         "lowprof.tracers.importer", analyses=True)  # plots imports matplotlib (Agg)


def _run_all(cases, cwd: str, timeout_s: float = 120, parallel: int = 2) -> dict:
    results, pending, running = {}, list(cases), {}
    while pending or running:
        while pending and len(running) < parallel:
            name, argv = pending.pop(0)
            running[_start(argv, cwd)] = (name, argv, time.monotonic())
        for key in list(running):
            pid, out, err = key
            name, argv, t0 = running[key]
            done, status = os.waitpid(pid, os.WNOHANG)
            if not done and time.monotonic() - t0 > timeout_s:
                os.killpg(pid, signal.SIGKILL)
                done, status = os.waitpid(pid, 0)
                status = -1
            if done:
                del running[key]
                out.seek(0)
                err.seek(0)
                code = os.waitstatus_to_exitcode(status) if status != -1 else "hang"
                results[name] = (argv, code, out.read().decode(errors="replace"), err.read().decode(errors="replace"))
        time.sleep(0.005)
    return results


def test_every_verb_bad_inputs_one_line_no_traceback(places):
    cases = _cases(places)
    verbs = {" ".join(v) for v, _ in _verbs(build_parser())}
    assert {"run", "attach", "import", "report", "compare", "plot", "export", "bench tlb"} <= verbs
    assert len(cases) > 100
    _warm()
    results = _run_all(cases, cwd=places["tmp"])
    bad = []
    for name, (argv, code, out, err) in sorted(results.items()):
        lines = [ln for ln in err.splitlines() if ln.strip()]
        if code == 0 or code == "hang" or len(lines) != 1 or "Traceback" in err + out:
            bad.append(f"{name}: lowprof {' '.join(argv)} -> exit {code}, stderr {err[-600:]!r}")
    assert not bad, f"{len(bad)} of {len(results)} cases:\n" + "\n".join(bad)


def test_microbench_show_on_a_run_without_bench_results(places):
    """``python -m lowprof.cli.bench_show`` on a run that holds no bench results (a TLB run, a plain run)."""
    for target in (places["run"], places["missing"], places["file"]):
        p = subprocess.run([sys.executable, "-m", "lowprof.cli.bench_show", target], capture_output=True, text=True,
                           timeout=120)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert p.returncode != 0 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr

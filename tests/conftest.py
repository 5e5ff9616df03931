"""Shared test helpers: run the real CLI (in this process, or in a subprocess where the process itself is the
subject), find the real traces kept in the repository, the session's recorded runs."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import pytest

# A manifest written against its declaration (lowprof.rundir.sections) is a lowprof bug: under the tests the
# write raises (in this process and in every CLI subprocess, which inherits the environment).
os.environ["LOWPROF_STRICT_MANIFEST"] = "1"

REPO = Path(__file__).resolve().parents[1]
# Real traces recorded by other people (MIT/BSD, licence files beside them; see its README.md), copied from
# the project's shared folder so that a fresh clone tests on them too.
TRACES = REPO / "tests" / "data" / "traces"

# Verbs that start and watch a workload (or a benchmark's own worker processes, or time the machine): a test
# of one of them runs `lowprof` as its own process, as a user would (its signal handlers, its resource usage
# and the workload's exit status are the subject). Every other verb only reads and writes files: it runs in
# this process through lowprof.cli.main (the ~1 s of imports is paid once per session, not once per call).
PROCESS_VERBS = frozenset({"run", "attach", "sweep", "bench"})

# A pytest-xdist worker starts with COLUMNS (and LINES) set to the controller's terminal size; lowprof's consoles
# take their width from $COLUMNS when they are made (at import, during collection): without this, a test would
# see 80-column tables under `make test` and 250-column ones under a plain `pytest`.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)


def requires(module: str):
    """Skip unless ``module`` is installed, without importing it into this process (torch costs seconds to
    import; the tests that need it run it in their workload's own process)."""
    import importlib.util

    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=f"{module} is not installed")


def lowprof_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lowprof", *map(str, args)]


def _env(extra: dict | None) -> dict:
    return os.environ | {"COLUMNS": "200", "PYTHONUNBUFFERED": "1"} | (extra or {})


def run_cli_subprocess(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run ``lowprof ARGS`` as its own process, as a user would; capture text output."""
    env = _env(kw.pop("env", None))
    return subprocess.run(lowprof_cmd(*args), capture_output=True, text=True, timeout=timeout, env=env, **kw)


def _parse_only(argv: list[str]) -> bool:
    """True when argparse alone answers ``argv`` (a bad flag, --help, --version): no workload is started."""
    from lowprof.cli import build_parser

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            return True
    return False


@contextlib.contextmanager
def _fd_captured():
    """stdout and stderr of this process, at the file-descriptor level (what a child process inherits writes
    there too), into two temporary files; yields a function that returns their text."""
    files = [tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace", buffering=1)
             for _ in range(2)]
    saved_py = sys.stdout, sys.stderr
    for s in saved_py:
        with contextlib.suppress(Exception):
            s.flush()
    saved_fd = [os.dup(1), os.dup(2)]
    try:
        os.dup2(files[0].fileno(), 1)
        os.dup2(files[1].fileno(), 2)
        sys.stdout, sys.stderr = files

        def text() -> tuple[str, str]:
            got = []
            for f in files:
                with contextlib.suppress(ValueError):
                    f.flush()
                f.seek(0)
                got.append(f.read())
            return got[0], got[1]

        yield text
    finally:
        sys.stdout, sys.stderr = saved_py
        os.dup2(saved_fd[0], 1)
        os.dup2(saved_fd[1], 2)
        for fd in saved_fd:
            os.close(fd)
        for f in files:
            with contextlib.suppress(Exception):
                f.close()


def _console_widths(columns: str | None):
    """The CLI's rich consoles take their width from $COLUMNS when they are made; in this process they are
    made once, so each call sets the width its own $COLUMNS asks for (as a fresh process would get)."""
    from lowprof.cli import _ui

    width = int(columns) if columns and columns.isdigit() else None
    consoles = [c for c in (getattr(_ui, "out", None), getattr(_ui, "err", None)) if hasattr(c, "width")]
    saved = [(c, c.__dict__.get("_width"), c.__dict__.get("_color_system")) for c in consoles]
    for c in consoles:
        if width is not None:
            c.width = width
        c._color_system = None  # output to a file: no colour codes, as rich decides for a pipe
    return saved


@contextlib.contextmanager
def _as_a_fresh_process(env: dict, cwd):
    """What a fresh `lowprof` process would start with and leave behind: its environment, its working
    directory, Python's default warning filters, this process's signal handlers (restored after)."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                                                 signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE)}
    os.environ.clear()
    os.environ.update(env)
    try:
        if cwd is not None:
            os.chdir(cwd)
        with warnings.catch_warnings():
            warnings.resetwarnings()  # Python's own defaults, not pytest's (each call shows its warnings again)
            for cat in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", cat)
            warnings.showwarning = warnings._showwarning_orig  # to stderr, not into pytest's record
            yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for s, h in handlers.items():
            if h is not None and signal.getsignal(s) is not h:
                signal.signal(s, h)


def run_cli_in_process(*args: str, env: dict | None = None, cwd=None, **_ignored) -> subprocess.CompletedProcess:
    """``lowprof ARGS`` through lowprof.cli.main in this process, as ``python -m lowprof ARGS`` would run it:
    exit status (argparse's SystemExit gives the code; an exception that escapes is a traceback and exit 1),
    stdout and stderr as text."""
    from lowprof.cli import main

    argv = [str(a) for a in args]
    full_env = _env(env)
    with _as_a_fresh_process(full_env, cwd), _fd_captured() as text:
        saved = _console_widths(full_env.get("COLUMNS"))
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001 - what the interpreter would print, and its exit status
            traceback.print_exc()
            code = 1
        finally:
            for c, w, cs in saved:
                c._width, c._color_system = w, cs
        out, err = text()
    return subprocess.CompletedProcess(["lowprof", *argv], int(code or 0), out, err)


_zygote: list = []  # [(the zygote's Popen, its socket path, its environment)] once started, one per test process
_SESSION_ENV = dict(os.environ)  # the zygote's: not whatever the test that first needs it has set
# What an interpreter (or the loader, or libc) reads when it starts: a forked child cannot get these from its
# environment, so a call whose environment differs from the zygote's there runs as a fresh process.
_STARTUP_ENV = ("PYTHON", "LD_", "MALLOC_", "GLIBC_TUNABLES", "LC_", "LANG")
_CHILD_ENV_OK = frozenset({"PYTHONUNBUFFERED", "PYTHONIOENCODING"})  # _zygote.py applies these itself


def _startup_env(env: dict) -> dict:
    return {k: v for k, v in env.items() if k.startswith(_STARTUP_ENV) and k not in _CHILD_ENV_OK}


def _zygote_for(env: dict) -> str | None:
    """The socket of this process's zygote, started on first use; None where ``env`` needs a fresh process."""
    if not _zygote or _zygote[0][0].poll() is not None:
        import atexit

        d = tempfile.mkdtemp(prefix="lowprof-zygote-")
        path = os.path.join(d, "s")
        zenv = _SESSION_ENV
        proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "_zygote.py"), path], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=zenv, cwd=REPO)
        assert proc.stdout.readline().strip() == "ready", "tests/_zygote.py did not start"
        _zygote[:] = [(proc, path, zenv)]

        def stop(proc=proc, path=path, d=d):
            proc.stdin.close()  # its stdin closes: it ends
            proc.stdout.close()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:  # still waiting on a child: not left behind the session
                proc.kill()
                proc.wait()
            with contextlib.suppress(OSError):
                os.unlink(path)
                os.rmdir(d)
        atexit.register(stop)
    _, path, zenv = _zygote[0]
    return path if _startup_env(env) == _startup_env(zenv) else None


def run_cli_forked(*args: str, timeout: float = 120, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """``lowprof ARGS`` as its own process, forked from a warm interpreter (tests/_zygote.py: pandas, pyarrow,
    numpy and rich imported once, ~0.45 s of each fresh `lowprof run`) instead of a fresh ``python -m lowprof``:
    its own pid, signal handlers, rusage and exit status, this process's environment (with ``env``), working
    directory and stdin; stdout and stderr as text, as ``subprocess.run(..., text=True)`` gives them. A fresh
    process where ``env`` changes what an interpreter reads at its start (_STARTUP_ENV)."""
    import array
    import json
    import locale
    import socket

    argv = [str(a) for a in args]
    req = {"argv": argv, "env": _env(env), "cwd": str(cwd) if cwd is not None else os.getcwd()}
    path = _zygote_for(req["env"])
    if path is None:  # e.g. PYTHONPATH or LD_PRELOAD for lowprof itself
        return run_cli_subprocess(*argv, timeout=timeout, env=env, cwd=cwd)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, open(os.devnull, "rb") as null, \
            socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        def answer() -> int:  # one line of the zygote's: the child's pid, then its wait status
            line = b""
            with contextlib.suppress(ConnectionResetError):  # (or end of file): the zygote is gone
                line = s.recv(64)
            if not line:  # the next call starts another (this one may not be reaped yet: poll() would not know)
                _zygote.clear()
                raise RuntimeError("tests/_zygote.py ended during the call (its error is on this test's stderr)")
            return int(line)

        try:
            os.fstat(0)
            stdin = 0
        except OSError:
            stdin = null.fileno()
        s.settimeout(timeout)  # the zygote answers one call at a time: a call never waits on it without end
        s.connect(path)
        s.sendmsg([json.dumps(req).encode()],
                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [stdin, out.fileno(), err.fileno()]))])
        pid = answer()
        timed_out = False
        try:
            status = answer()
        except (TimeoutError, RuntimeError) as e:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if isinstance(e, RuntimeError):
                raise  # the zygote is gone: its child is killed, not left running
            timed_out = True
            s.settimeout(None)
            status = answer()
        code = os.waitstatus_to_exitcode(status)

        def text(f) -> str:
            f.seek(0)
            return f.read().decode(locale.getpreferredencoding(False)).replace("\r\n", "\n").replace("\r", "\n")

        cmd = lowprof_cmd(*argv)
        if timed_out:
            raise subprocess.TimeoutExpired(cmd, timeout, text(out), text(err))
        return subprocess.CompletedProcess(cmd, code, text(out), text(err))


def run_cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run ``lowprof ARGS`` as a user would; capture text output. In this process unless the verb starts a
    workload (PROCESS_VERBS, where only what argparse alone answers runs here): then as its own process, forked
    from a warm interpreter (run_cli_forked), or a fresh one where the call feeds stdin or
    LOWPROF_TEST_FRESH_PROCESS=1 is set."""
    argv = [str(a) for a in args]
    verb = next((a for a in argv if not a.startswith("-")), None)
    if "input" in kw or "stdin" in kw:
        return run_cli_subprocess(*argv, timeout=timeout, **kw)
    if verb in PROCESS_VERBS and not _parse_only(argv):
        if os.environ.get("LOWPROF_TEST_FRESH_PROCESS") or set(kw) - {"env", "cwd"}:
            return run_cli_subprocess(*argv, timeout=timeout, **kw)
        return run_cli_forked(*argv, timeout=timeout, **kw)
    return run_cli_in_process(*argv, **kw)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def traces() -> Path:
    return TRACES


@pytest.fixture(scope="session")
def shared_runs(tmp_path_factory):
    """The real runs the analysis tests share (tests/_analysis_runs.py), each recorded once per session."""
    from tests._analysis_runs import SharedRuns

    root = tmp_path_factory.getbasetemp() / "analysis-runs"
    root.mkdir(exist_ok=True)
    return SharedRuns(root)



# `make test` runs under pytest-xdist's --dist loadgroup: a test is its own unit of work (a worker that is free
# takes the next one, so that no worker idles while another ends a long file) unless it shares a recording or a
# build: every test of a file that defines a module-scoped fixture is in that file's group (the fixture is made
# once, on one worker, as under --dist loadfile), and every test of the files that use the session's shared runs
# is in one group, so that each shared run is recorded once in the session instead of once per worker. The groups
# are given by the scheduler below, from the files' text: xdist 3.8 groups by a suffix it writes into each node
# id (xdist_group marks), which pytest 9.2's node ids no longer take.
_MODULE_FIXTURE = re.compile(r"""@pytest\.fixture\([^)]*scope=["'](module|class|package)["']""")


def _file_groups() -> dict[str, str]:
    """tests/test_X.py -> its group (its own path, or "shared_runs"), for the files whose tests share state."""
    groups = {}
    for f in sorted((REPO / "tests").glob("test_*.py")):
        text = f.read_text(encoding="utf-8")
        rel = f"tests/{f.name}"
        if re.search(r"\bshared_runs\b", text):
            groups[rel] = "shared_runs"
        elif _MODULE_FIXTURE.search(text):
            groups[rel] = rel
    return groups


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    groups = _file_groups()

    class SharedStateGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            if scope != nodeid:  # an xdist_group mark (where the node id carries it)
                return scope
            return groups.get(nodeid.split("::", 1)[0], nodeid)

    return SharedStateGroups(config, log)

"""A warm interpreter that forks one `lowprof` process per request (tests/conftest.py ``run_cli_forked``).

    python tests/_zygote.py SOCKET

pandas, pyarrow, numpy and rich are imported once here (~0.45 s of each `lowprof run`'s start-up); lowprof
itself is not: each child imports it fresh and runs ``python -m lowprof ARGS`` (runpy, its __main__) with the
caller's argv, environment, working directory and stdin/stdout/stderr (passed as file descriptors). The child
is a process of its own (its pid, signal handlers, rusage, exit status), as a fresh `lowprof` would be.
Protocol, per connection: the request (JSON: argv, env, cwd) with three descriptors; the answer is the child's
pid, then its wait status, one line each. The zygote ends when its stdin (a pipe from the tests) closes.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import select
import socket
import sys


def _child(req: dict, fds: list[int]) -> None:
    """In the forked child: become `python -m lowprof ARGV`; never returns."""
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.environ.clear()
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        sys.path[0] = os.getcwd()  # as `python -m` puts it (here it was this file's folder)
        import io
        import runpy
        import tempfile

        tempfile.tempdir = None  # found again from this environment's TMPDIR

        unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
        enc = os.environ.get("PYTHONIOENCODING") or sys.stdout.encoding
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=enc)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=enc, write_through=unbuffered,
                                      line_buffering=False)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=enc, errors="backslashreplace",
                                      write_through=True)
        sys.argv = ["lowprof", *req["argv"]]
        try:
            runpy.run_module("lowprof", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: BLE001 - what the interpreter would print, and its exit status
            import traceback

            traceback.print_exc()
            code = 1
        # what the interpreter does at its exit: wait for the non-daemon threads, run the atexit functions
        import atexit
        import threading

        try:
            threading._shutdown()
        except Exception:  # noqa: BLE001
            pass
        atexit._run_exitfuncs()
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except Exception:  # noqa: BLE001
                pass
    finally:
        os._exit(code & 0xFF)


def main() -> None:
    import numpy  # noqa: F401 - the warm part: what every `lowprof` process imports
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import rich.console  # noqa: F401
    import rich.text  # noqa: F401

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(sys.argv[1])
    srv.listen(8)
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([srv, sys.stdin], [], [])
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 1):
            return  # the tests ended
        if srv not in ready:
            continue
        conn, _ = srv.accept()
        with conn:
            fds = array.array("i")
            msg, anc, _, _ = conn.recvmsg(1 << 20, socket.CMSG_SPACE(3 * fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
            req = json.loads(msg)
            pid = os.fork()
            if pid == 0:
                srv.close()
                conn.close()
                _child(req, list(fds))
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):  # a caller gone (a test interrupted) leaves no zombie nor ends this
                conn.sendall(f"{pid}\n".encode())
            _, status = os.waitpid(pid, 0)
            with contextlib.suppress(OSError):
                conn.sendall(f"{status}\n".encode())


if __name__ == "__main__":
    main()

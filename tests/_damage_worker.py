"""Run `lowprof report`, `lowprof export --csv` and `lowprof.load` in-process on each damaged run directory
listed in a JSON file ([case, "run" | "sweep", path] items; one JSON line per case and verb on stdout).

    python tests/_damage_worker.py OUT_DIR CASES.json Used by tests/test_damaged_runs.py.

Each call runs in a child forked from this warm interpreter (~190 calls in seconds, not the minutes of a
fresh `lowprof` each): one that blocks or spins is killed after TIMEOUT_S and reported as a hang, one
killed by a signal as a crash, and anything but a LowprofError is reported with its traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import select
import signal
import sys
import time
import traceback
from pathlib import Path

TIMEOUT_S = 20


def _call(fn) -> dict:
    """``fn()`` in a forked child: a hang is stopped after TIMEOUT_S, a crash (signal) is seen as one,
    memory is capped at 4 GiB (RLIMIT_AS) so that reading without end fails instead of swapping."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, write the result, exit without cleanup
        os.close(r)
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        out, err = io.StringIO(), io.StringIO()
        res: dict = {}
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                res["rc"] = fn()
        except SystemExit as e:
            res["rc"] = e.code
        except BaseException as e:  # noqa: BLE001 - the point: report what escaped
            from lowprof.errors import LowprofError

            if isinstance(e, LowprofError):
                res["rc"], res["error"] = "error", str(e)
            else:
                res["rc"], res["crash"] = None, traceback.format_exc(limit=8)
        res["stdout"], res["stderr"] = out.getvalue()[-4000:], err.getvalue()[-4000:]
        with os.fdopen(w, "w") as f:
            f.write(json.dumps(res, default=str))
        os._exit(0)
    os.close(w)
    chunks, deadline = [], time.monotonic() + TIMEOUT_S
    with os.fdopen(r, "rb") as f:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([f], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return {"rc": None, "crash": f"hang: no answer after {TIMEOUT_S} s", "stdout": "", "stderr": ""}
            data = os.read(f.fileno(), 1 << 20)
            if not data:
                break
            chunks.append(data)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"rc": None, "crash": f"killed by signal {os.WTERMSIG(status)}", "stdout": "", "stderr": ""}
    return json.loads(b"".join(chunks))


def _load(path: str, many: bool) -> int:
    import lowprof

    runs = [m.run for m in lowprof.load_many(path)] if many else [lowprof.load(path)]
    for run in runs:
        run.state, run.complete, run.unreadable
        for t in run.tables:
            len(run[t])
    return 0


def _warm() -> None:
    """Import now what the calls import, so that each forked child starts with it."""
    import importlib

    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from lowprof.analysis.summary import SECTIONS
    from lowprof.cli import build_parser

    build_parser()
    for mod in ["lowprof.analysis.export_csv", "lowprof.analysis.metrics", "lowprof.analysis.compare",
                *(ref.partition(":")[0] for ref in SECTIONS)]:
        importlib.import_module(mod)


def main() -> None:
    from lowprof.cli import main as cli

    _warm()

    out_root = Path(sys.argv[1])
    for i, (case, kind, path) in enumerate(json.loads(Path(sys.argv[2]).read_text())):
        verbs = {"export": lambda: cli(["export", path, "--csv", str(out_root / f"csv{i}"), "--quiet"]),
                 "load": lambda: _load(path, kind == "sweep")}
        if kind == "run":
            verbs["report"] = lambda: cli(["report", path])
        for verb, fn in verbs.items():
            print(json.dumps({"case": case, "verb": verb} | _call(fn)), flush=True)


if __name__ == "__main__":
    main()

"""Run `lowprof report`, `lowprof export --csv` and `lowprof.load` in-process on each damaged run directory
listed in a JSON file ([case, "run" | "sweep", path] items; one JSON line per case and verb on stdout).

    python tests/_damage_worker.py OUT_DIR CASES.json Used by tests/test_damaged_runs.py.

Each call runs in a child forked from this warm interpreter (tests/_forked.py: ~190 calls in seconds, not
the minutes of a fresh `lowprof` each): one that blocks or spins is killed after TIMEOUT_S and reported
as a hang, one killed by a signal as a crash, and anything but a LowprofError comes back as a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

from _forked import in_child
from _warm import warm

TIMEOUT_S = 20


def _call(fn) -> dict:
    """``fn()`` in a forked child (see _forked.py), its output captured and its outcome classified."""
    res = {"rc": None, "stdout": "", "stderr": ""} | in_child(lambda: _captured(fn), TIMEOUT_S, 4 << 30)
    return res


def _captured(fn) -> dict:
    from lowprof.errors import LowprofError

    out, err = io.StringIO(), io.StringIO()
    res: dict = {}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            res["rc"] = fn()
    except SystemExit as e:
        res["rc"] = e.code
    except LowprofError as e:
        res["rc"], res["error"] = "error", str(e)
    res["stdout"], res["stderr"] = out.getvalue()[-4000:], err.getvalue()[-4000:]
    return res


def _load(path: str, many: bool) -> int:
    import lowprof

    runs = [m.run for m in lowprof.load_many(path)] if many else [lowprof.load(path)]
    for run in runs:
        run.state, run.complete, run.unreadable
        for t in run.tables:
            len(run[t])
    return 0


def _warm() -> None:
    """Import now what the calls import, so that each forked child starts with it: the parser, report's sections
    and the metrics' owners, and what report's tables and export's CSV import on first use (~25 ms of each of
    ~190 children)."""
    from lowprof.cli import build_parser

    build_parser()
    warm("pandas", "pyarrow.parquet", "lowprof.metrics", "rich.console", "rich.text", "rich.table",
         "pandas.io.formats.csvs", "pandas.core.methods.to_dict", "pyarrow.pandas_compat", analyses=True)


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

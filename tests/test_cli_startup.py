"""The command line starts at once (issue 16): ``lowprof --help`` and every verb's ``--help`` import none of
the heavy packages. Which modules a start-up imports is what decides its time and, unlike a time, it cannot
flake on a busy machine; the seconds themselves are printed by bench/startup.py.

One child interpreter (nothing imported but lowprof.cli) forks once per case, so that each case starts from
the same light state and nothing one case imports is seen by the next.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lowprof.cli import VERBS, bench, build_parser, main

HEAVY = ("pandas", "pyarrow", "numpy", "rich", "psutil", "matplotlib", "torch", "cupy")
# The recording verbs' flags come from the probes and the recorder (helper "feat" declares them as light
# features); until then their --help, and the whole parser, import the recorder.
RECORDING = {"run"}

CASES = {"lowprof --help": ["--help"], "lowprof": []}
for _verb in VERBS:
    CASES[f"lowprof {_verb} --help"] = [_verb, "--help"]
for _suite in bench.SUITES:
    CASES[f"lowprof bench {_suite} --help"] = ["bench", _suite, "--help"]

_CHILD = r"""
import contextlib, io, json, os, sys
import lowprof.cli
cases = json.loads(sys.argv[1])
heavy = json.loads(sys.argv[2])
found = {}
for name, argv in cases.items():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = None
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                if argv == "build_parser":
                    lowprof.cli.build_parser()
                else:
                    try:
                        code = lowprof.cli.main(argv)
                    except SystemExit as e:
                        code = e.code
        except BaseException as e:
            code = repr(e)
        os.write(w, json.dumps({"heavy": [m for m in heavy if m in sys.modules], "code": code}).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        found[name] = json.loads(f.read() or b"{}")
    os.waitpid(pid, 0)
print(json.dumps({"before": [m for m in heavy if m in sys.modules], "cases": found}))
"""


@pytest.fixture(scope="module")
def imported() -> dict:
    """case -> {"heavy": the heavy packages in sys.modules after it, "code": its exit status}."""
    cases = dict(CASES, **{"build_parser()": "build_parser"})
    p = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(cases), json.dumps(HEAVY)], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout.splitlines()[-1])
    assert doc["before"] == [], f"import lowprof.cli alone imports {doc['before']}"
    return doc["cases"]


@pytest.mark.parametrize("case", [c for c in CASES if c.split()[1:2] == [] or c.split()[1] not in RECORDING])
def test_help_imports_nothing_heavy(imported, case):
    got = imported[case]
    assert got["code"] in (0, 2), got  # --help: 0; bare `lowprof`: its help and 2
    assert got["heavy"] == [], f"{case} imports {got['heavy']}"


@pytest.mark.parametrize("case", ["build_parser()", *(c for c in CASES if c.split()[1:2] and c.split()[1] in RECORDING)])
def test_recording_verbs_help_imports_nothing_heavy(imported, case):
    assert imported[case]["heavy"] == [], f"{case} imports {imported[case]['heavy']}"


def _subparsers(p: argparse.ArgumentParser) -> dict:
    return next(a.choices for a in p._actions if isinstance(a, argparse._SubParsersAction))


@pytest.mark.parametrize("verb", list(VERBS))
def test_verb_help_is_the_full_parsers(verb, capsys):
    """main() builds only the verb argv names: its --help is word for word the one of the parser with every verb."""
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    assert capsys.readouterr().out == _subparsers(build_parser())[verb].format_help()


def test_top_help_is_the_full_parsers(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out == build_parser().format_help()
    assert list(_subparsers(build_parser(only=""))) == list(VERBS)


def test_unknown_verb_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["no-such-verb"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and "invalid choice" in err


def test_microbench_has_no_command_line():
    """microbench/ holds the experiments; their command lines live in cli/ (bench_gpu, bench_host, bench_show)."""
    bad = []
    for path in sorted((Path(__file__).resolve().parents[1] / "lowprof" / "microbench").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.name}:{node.lineno} imports {n}" for n in names
                    if n == "argparse" or n == "lowprof.cli" or n.startswith("lowprof.cli.")]
    assert not bad, bad

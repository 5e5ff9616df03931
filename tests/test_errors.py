"""Every exception class lowprof defines lives in lowprof/errors.py, and what reaches the CLI is one line."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import lowprof.errors as E
from lowprof.cli import guarded

ROOT = Path(E.__file__).resolve().parent


def _is_exception_class(node: ast.ClassDef, known: set[str]) -> bool:
    names = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases}
    return any(n in known or n.endswith(("Error", "Exception", "Warning")) for n in names)


def test_no_exception_class_outside_errors_py():
    known = {n for n, c in vars(E).items() if inspect.isclass(c) and issubclass(c, BaseException)}
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == ROOT / "errors.py" or "workloads" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and _is_exception_class(node, known):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert found == []


def test_every_class_in_errors_is_a_lowprof_error_and_listed():
    classes = {n for n, c in vars(E).items() if inspect.isclass(c) and c.__module__ == E.__name__}
    assert classes == set(E.__all__)
    assert all(issubclass(getattr(E, n), E.LowprofError) for n in classes)


def test_dual_classes_keep_python_semantics_and_read_as_one_line():
    with pytest.raises(KeyError):
        raise E.MissingTable("no table 'x'; this run has ['system']")
    assert str(E.MissingTable("no table 'x'")) == "no table 'x'"  # not KeyError's quoted repr
    assert issubclass(E.InputError, ValueError) and issubclass(E.MissingTable, E.RunDirError)


@pytest.mark.parametrize("exc, code", [(E.InputError("step 'a': no GPU end time"), 1),
                                       (E.MissingTable("no table 'launches'"), 1), (E.UsageError("--x: bad"), 2),
                                       (E.SqlError("syntax", syntax=True), 2)])
def test_guarded_prints_one_line(exc, code, capsys):
    def boom():
        raise exc

    assert guarded(boom) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lowprof: error: ") and "unexpected" not in err

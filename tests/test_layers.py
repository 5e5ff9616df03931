"""The data contract lives in lowprof.rundir, and the layers import only downwards.

- ``lowprof.rundir`` (specs, readers, manifest) is light: importing it, or making a mark inside a workload,
  loads no pandas, pyarrow or numpy;
- every table is declared in ``lowprof.rundir.specs`` and nowhere else;
- ``lowprof.analysis`` reads runs through ``lowprof.rundir`` and never imports a recorder (tracers, probes,
  marks, native, microbench), not even inside a function: a reader follows data from a probe to a report
  by its imports alone.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lowprof.rundir.catalog import all_specs
from lowprof.rundir.spec import Column, TableSpec
from lowprof.rundir.specs import TABLES
from tests.conftest import REPO

PKG = REPO / "lowprof"
HEAVY = ("pandas", "pyarrow", "numpy")


def _loaded_after(code: str, env: dict | None = None) -> list[str]:
    """Run ``code`` in a fresh interpreter; which of HEAVY it left in sys.modules."""
    probe = code + f"\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO,
                       env=os.environ | (env or {}))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_rundir_imports_no_pandas_pyarrow_or_numpy():
    mods = ["lowprof.rundir", "lowprof.rundir.spec", "lowprof.rundir.specs", "lowprof.rundir.tables",
            "lowprof.rundir.manifest", "lowprof.rundir.many", "lowprof.rundir.query"]
    mods += [f"lowprof.rundir.specs.{p.stem}" for p in sorted((PKG / "rundir" / "specs").glob("*.py"))
             if p.stem != "__init__"]
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in mods)
    # every spec's manifest entry is built without pyarrow too
    code += "from lowprof.rundir.specs import TABLES\nfor t in TABLES: t.describe()\n"
    assert _loaded_after(code) == []


def test_a_mark_inside_a_workload_imports_no_pandas_or_pyarrow(tmp_path):
    from lowprof.clock import ENV_ORIGIN
    from lowprof.rundir import ENV_RUN_DIR

    code = "import lowprof\nlowprof.mark('x')\nwith lowprof.mark('y'):\n    pass\n"
    assert _loaded_after(code, {ENV_RUN_DIR: str(tmp_path), ENV_ORIGIN: "0:0"}) == []
    lines = [json.loads(line) for line in (tmp_path / "marks.jsonl").read_text().splitlines()]
    assert [(m["name"], m["kind"]) for m in lines] == [("x", "instant"), ("y", "instant"), ("y", "begin"),
                                                       ("y", "end")]


def test_a_schema_still_has_its_arrow_types_and_units():
    from lowprof.rundir.specs.host import RAPL

    schema = RAPL.schema()
    assert [f.name for f in schema] == [c.name for c in RAPL.columns]
    assert str(schema.field("energy_j").type) == "double" and str(schema.field("t_ns").type) == "int64"
    assert schema.field("energy_j").metadata[b"unit"] == b"J"
    with pytest.raises(ValueError, match="unknown type"):
        TableSpec("bad", 1, (Column("x", "float16"),)).schema()


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, at any depth (inside functions too); ``from lowprof import
    x`` gives ``lowprof.x`` (or ``lowprof`` for a name that is not a module); relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                is_module = (REPO / sub.replace(".", "/")).with_suffix(".py").exists() or \
                    (REPO / sub.replace(".", "/")).is_dir()
                out.append((node.lineno, sub if is_module else base))
    return out


# What each layer may import from lowprof (prefixes). ``lowprof`` itself: the package's own names
# (``__version__``), never a submodule not listed. ``lowprof.intervals``: numpy interval helpers that import
# nothing of lowprof (shared with the importers), at the bottom like errors and clock. lowprof.feature: the
# declaration type (standard library only), with which an analysis area that only reports (launches, power)
# declares its feature.
ANALYSIS_MAY = ("lowprof.analysis", "lowprof.rundir", "lowprof.errors", "lowprof.clock", "lowprof.intervals",
                "lowprof.feature")
RUNDIR_MAY = ("lowprof.rundir", "lowprof.errors", "lowprof.clock")


def _breaches(path: Path, allowed: tuple[str, ...]) -> list[str]:
    bad = []
    for line, mod in _imports(path):
        if mod == "lowprof" or not mod.startswith("lowprof."):
            continue
        if not any(mod == a or mod.startswith(a + ".") for a in allowed):
            bad.append(f"{path.relative_to(REPO)}:{line} imports {mod}")
    return bad


def test_analysis_never_imports_a_recorder():
    files = sorted((PKG / "analysis").glob("*.py"))
    assert len(files) > 10
    bad = [b for f in files for b in _breaches(f, ANALYSIS_MAY)]
    assert bad == [], "analysis/ reads runs through lowprof.rundir only:\n" + "\n".join(bad)


def test_rundir_imports_nothing_above_it():
    # catalog.py lists the tables of the declared features: it reads the feature list, above rundir.
    files = [f for f in sorted((PKG / "rundir").rglob("*.py")) if f.name != "catalog.py"]
    bad = [b for f in files for b in _breaches(f, RUNDIR_MAY)]
    assert bad == [], "lowprof.rundir is the bottom layer:\n" + "\n".join(bad)


def test_the_layer_check_sees_imports_inside_functions(tmp_path, monkeypatch):
    """The checker is not blind: recorders imported inside a function, relatively or as ``from lowprof import``
    are named; rundir, errors and ``__version__`` pass."""
    target = tmp_path / "lowprof" / "analysis" / "x.py"
    target.parent.mkdir(parents=True)
    target.write_text("from lowprof.rundir import load\nfrom lowprof import errors, __version__\n"
                      "def f():\n    from lowprof.marks import mark\n    from .. import tracers\n"
                      "    import lowprof.probes.nvml\n")
    (tmp_path / "lowprof" / "errors.py").write_text("")
    (tmp_path / "lowprof" / "tracers").mkdir()
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    got = [b.split(" imports ")[1] for b in _breaches(target, ANALYSIS_MAY)]
    assert got == ["lowprof.marks", "lowprof.tracers", "lowprof.probes.nvml"]


def test_every_table_is_declared_in_rundir_specs_and_only_there():
    names = [t.name for t in TABLES]
    assert len(names) == len(set(names))
    assert {n: s for n, s in all_specs().items()} == {t.name: t for t in TABLES}
    outside = []
    for f in sorted(PKG.rglob("*.py")):
        if (PKG / "rundir") in f.parents:
            continue
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "TableSpec":
                outside.append(f"{f.relative_to(REPO)}:{node.lineno}")
    assert outside == [], "declare tables in lowprof/rundir/specs/: " + ", ".join(outside)


def test_nothing_below_cli_imports_cli_or_argparse():
    """argparse and lowprof.cli are the command line's: no module below cli/ imports them, at any depth
    (lowprof/workloads/ holds example workloads, programs of their own, and __main__ is the entry point)."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).as_posix()
        if rel.startswith(("lowprof/cli/", "lowprof/workloads/")) or rel == "lowprof/__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad += [f"{rel}:{node.lineno} imports {n}" for n in names
                    if n == "argparse" or n == "lowprof.cli" or n.startswith("lowprof.cli.")]
    assert not bad, "\n".join(bad)

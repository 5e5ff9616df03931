"""manifest.json declared like the tables (lowprof.rundir.sections): every top-level member a section with an
owner; the check on read derived from it; every write checked; readers get typed values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import lowprof
from lowprof.errors import ManifestContractError, RunDirError
from lowprof.rundir import RunWriter
from lowprof.rundir.manifest import ENV_STRICT, read_manifest
from lowprof.rundir.schema import MANIFEST_SCHEMA, errors
from lowprof.rundir.sections import SECTIONS, Manifest, manifest_schema, write_problems
from tests.conftest import REPO

UNITS = {"", "s", "ns", "B", "W", "Hz", "%", "ms", "clock ticks"}


def _walk(fields, where):
    for f in fields:
        yield f"{where}.{f.name}", f
        yield from _walk(f.fields, f"{where}.{f.name}")


def test_every_section_has_an_owner_a_version_and_fields_with_si_units():
    assert SECTIONS and all(name == s.name for name, s in SECTIONS.items())
    for s in SECTIONS.values():
        assert s.owner and s.version >= 1 and s.doc, s.name
        for where, f in _walk(s.fields, s.name):
            assert f.unit in UNITS, f"{where}: unit {f.unit!r}"
            if f.unit == "ns":
                assert f.name.endswith("_ns"), where  # as in the tables: the unit is in the name


def test_the_check_on_read_is_the_sections_one():
    assert MANIFEST_SCHEMA == manifest_schema()
    assert manifest_schema() is manifest_schema() and manifest_schema(read=False) is manifest_schema(read=False)  # built once
    assert set(MANIFEST_SCHEMA["properties"]) == {n for n, s in SECTIONS.items() if s.read_check}
    assert MANIFEST_SCHEMA["required"] == ["schema", "kind", "status"]


def test_a_fresh_run_directory_is_as_declared(tmp_path: Path):
    rd = RunWriter(tmp_path / "r", kind="run")
    rd.finish()
    m = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert write_problems(m) == [] and errors(m, manifest_schema(read=False)) == []


def test_a_write_against_the_declaration_raises_under_the_tests(tmp_path: Path):
    rd = RunWriter(tmp_path / "r", kind="run")
    rd.manifest["not_a_section"] = 1
    with pytest.raises(ManifestContractError, match="not_a_section: not a declared manifest section"):
        rd.save()
    rd.manifest.pop("not_a_section")
    rd.manifest["workload"] = {"pid": "12"}  # declared int
    with pytest.raises(ManifestContractError, match="workload.pid: expected integer or null"):
        rd.save()


def test_outside_the_tests_it_is_written_and_said_once(tmp_path: Path):
    """What was recorded is never lost: the manifest is written all the same, with one warning line."""
    code = ("import sys; from pathlib import Path; from lowprof.rundir.manifest import write_manifest\n"
            "m = {'schema': 1, 'kind': 'run', 'status': 'complete', 'mystery': [1]}\n"
            "write_manifest(Path(sys.argv[1]), m); write_manifest(Path(sys.argv[1]), m)\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != ENV_STRICT}
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env,
                       cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lowprof: warning:") and "mystery" in lines[0], p.stderr
    assert read_manifest(tmp_path)["mystery"] == [1]  # written, and it reads (undeclared members are free)


def test_an_older_manifest_still_reads_and_its_views_say_none_where_types_differ(tmp_path: Path):
    """Fields declared after manifests were written (read_check=False) are not refused on read."""
    rd = RunWriter(tmp_path / "r", kind="run")
    rd.finish()
    path = tmp_path / "r" / "manifest.json"
    m = json.loads(path.read_text())
    m["pystacks_timeline"] = {"status": "ok", "rate_hz": "100"}  # rate_hz: a number since it was declared
    m["sampler"] = {"ticks": "many"}
    path.write_text(json.dumps(m))
    run = lowprof.load(tmp_path / "r")
    assert run.section("pystacks_timeline").status == "ok" and run.section("pystacks_timeline").rate_hz is None
    assert run.section("sampler").ticks is None and "ticks" in run.section("sampler")
    m["workload"] = {"pid": "12"}  # declared in schema 1: refused, as before
    path.write_text(json.dumps(m))
    with pytest.raises(RunDirError, match="workload.pid: expected integer or null"):
        lowprof.load(tmp_path / "r")


def test_views_are_typed_with_none_for_what_is_missing():
    m = Manifest({"schema": 1, "kind": "run", "status": "complete", "workload": {"pid": 42, "exit_code": None},
                  "probes": {"nvml": {"status": "ok", "devices": [{"index": 0, "name": "H100"}, "junk"]},
                             "odd": 3},
                  "tables": {"system": {"rows": 7, "columns": {"t_ns": {"type": "int64", "unit": "ns"}}}}})
    assert m.kind == "run" and m.section("kind") == "run"
    w = m.workload
    assert w.pid == 42 and w.exit_code is None and "exit_code" in w and w.signal is None and "signal" not in w
    assert not m.sampler and m.sampler.ticks is None and m.host.cpu_model is None  # missing: an empty view
    assert m.command is None and m.env == {} and m.clock.trace_clock.precision_ns is None
    nvml = m.probes["nvml"]
    assert nvml.status == "ok" and [(d.index, d.name) for d in nvml.devices] == [(0, "H100")]
    assert m.probes["odd"].status is None and m.probes.entry("absent").reason is None
    assert m.tables["system"].rows == 7 and m.tables["system"].columns["t_ns"].unit == "ns"
    assert m.tables.entry("launches").rows is None
    with pytest.raises(AttributeError, match="declares no field 'pidd'"):
        w.pidd  # noqa: B018 - a typo is an error, not a None
    with pytest.raises(KeyError, match="not a declared manifest section"):
        m.section("nope")


def test_every_top_level_member_lowprof_writes_is_declared():
    """Each top-level key written anywhere in lowprof (``manifest["key"] =``, ``m["key"] =`` on a manifest)
    names a declared section: the declaration is the whole list."""
    import re

    written = set()
    for path in (REPO / "lowprof").rglob("*.py"):
        text = path.read_text()
        written |= set(re.findall(r'manifest\["([a-z_]+)"\] *= ', text))
        if re.search(r"\bm = (rec\.|self\.)?(run|writer)\.manifest|\b(m|man) = read_manifest", text):
            written |= set(re.findall(r'\b(?:m|man)\["([a-z_]+)"\] *= ', text))
    assert written and written <= set(SECTIONS), sorted(written - set(SECTIONS))


def _type_words():
    """Every type word the sections declare, with the item words inside list[...] and map[...]."""
    words = set()
    for s in SECTIONS.values():
        stack = [s.type] + [f.type for _, f in _walk(s.fields, s.name)]
        while stack:
            w = stack.pop()
            words.add(w)
            base = w.rstrip("?")
            if "[" in base:
                stack.append(base[base.index("[") + 1:-1])
    return words


# What each base word admits, written from Field's docstring (not from the code): an int is not a bool, a
# float is any number, a list a JSON array, an object or map a JSON object.
_SAMPLES = (None, True, False, 0, -3, 2**40, 1.5, "", "1", [], {})
_ADMITS = {"int": {0, -3, 2**40}, "float": {0, -3, 2**40, 1.5}, "str": {"", "1"}, "bool": {True, False}}


def _admitted(word: str) -> list:
    base = word.rstrip("?")
    if base == "any":
        return list(_SAMPLES)
    out = [None] if word.endswith("?") else []
    if base.startswith("list["):
        return out + [[]]
    if base.startswith("map[") or base == "object":
        return out + [{}]
    return out + [v for v in _SAMPLES if v is not None and not isinstance(v, (list, dict))
                  and any(v == a and type(v) is type(a) for a in _ADMITS[base])]


def test_the_write_check_the_read_schema_and_the_views_admit_the_same_values_for_every_declared_type():
    """One definition of what a type word accepts: for every declared word, the write schema, the read schema
    and the typed views accept exactly the values the word admits (and a list or map view keeps exactly the
    items its item type's schema accepts)."""
    from lowprof.rundir.sections import Field, _matches, _type_schema, _typed

    words = _type_words()
    assert {"int", "float?", "str", "bool", "object", "list[str]", "map[object]", "map[map[str]]?", "any"} <= words
    for word in sorted(words):
        node = Field("x", word)  # no fields: an object's members are not the point here
        write, read = _type_schema(word, node, read=False), _type_schema(word, node, read=True)
        want = _admitted(word)
        for v in _SAMPLES:
            expect = any(v == w and type(v) is type(w) for w in want)
            assert (errors(v, write) == []) == expect, (word, v, "write")
            assert (errors(v, read) == []) == expect, (word, v, "read")
            assert _matches(word, v) == expect, (word, v, "view")
        base = word.rstrip("?")
        if "[" in base and base[base.index("[") + 1:-1] not in ("object", "any"):
            inner = base[base.index("[") + 1:-1]
            items = [v for v in _SAMPLES if not isinstance(v, dict)]
            value = items if base.startswith("list[") else {str(i): v for i, v in enumerate(items)}
            kept = _typed(node, value)
            kept = kept if base.startswith("list[") else list(kept.values())
            assert kept == [v for v in items if errors(v, _type_schema(inner, node, read=True)) == []], word

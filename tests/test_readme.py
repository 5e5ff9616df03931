"""README.md stays true: its table reference is the code's, and it shows the two commands."""

from __future__ import annotations

import re

from lowprof.rundir.catalog import all_specs, markdown
from tests.conftest import REPO


def test_readme_table_reference_matches_code():
    text = (REPO / "README.md").read_text()
    m = re.search(r"<!-- tables:begin -->\n(.*?)<!-- tables:end -->", text, re.S)
    assert m, "README lacks the tables:begin/end markers"
    assert m.group(1).strip() == markdown().strip(), (
        "README's table reference is stale: regenerate with `python -m lowprof.rundir.catalog`")


def test_every_column_with_a_unit_names_it():
    """Units live in names: a column with a unit has the unit's word in its name (``_ns``, ``ns_per_access``)."""
    word = {"ns": "ns", "s": "s", "B": "bytes", "W": "w", "J": "j", "Hz": "hz", "%": "percent"}
    for spec in all_specs().values():
        for c in spec.columns:
            if c.unit in word:
                assert word[c.unit] in c.name.split("_"), f"{spec.name}.{c.name} has unit {c.unit!r}"


def test_readme_shows_the_two_commands_and_ci_runs_the_test_one():
    text = (REPO / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    assert "make test" in (REPO / ".ci/run").read_text()


def test_readme_manifest_reference_matches_code():
    from lowprof.rundir.sections import markdown as manifest_markdown

    text = (REPO / "README.md").read_text()
    m = re.search(r"<!-- manifest:begin -->\n(.*?)<!-- manifest:end -->", text, re.S)
    assert m, "README lacks the manifest:begin/end markers"
    assert m.group(1).strip() == manifest_markdown().strip(), (
        "README's manifest reference is stale: regenerate with `python -m lowprof.rundir.sections`")

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


def test_every_column_has_a_unit_suffix_or_is_unitless():
    """Units live in names: a column with a unit ends in a suffix naming it."""
    suffix = {"ns": "_ns", "s": "_s", "B": "_bytes", "W": "_w", "J": "_j", "Hz": "_hz", "%": "_percent"}
    for spec in all_specs().values():
        for c in spec.columns:
            if c.unit in suffix:
                ok = c.name.endswith(suffix[c.unit]) or c.name == suffix[c.unit][1:]
                assert ok, f"{spec.name}.{c.name} has unit {c.unit!r}"


def test_readme_shows_the_two_commands_and_ci_runs_the_test_one():
    text = (REPO / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    assert "make test" in (REPO / ".ci/run").read_text()

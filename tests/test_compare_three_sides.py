"""`compare A B C`: each side's columns hold that side's figures (the text table against --json)."""

from __future__ import annotations

import json

import pytest

from lowprof.cli.compare import fmt_value


@pytest.mark.slow
def test_every_side_has_its_own_columns(tmp_path, cli):
    runs = []
    for i, s in enumerate(("0.1", "0.4", "0.8")):
        p = cli("run", "-q", "--out", tmp_path / f"r{i}", "--", "sleep", s)
        assert p.returncode == 0, p.stderr
        runs.append(tmp_path / f"r{i}")
    js = json.loads(cli("compare", *runs, "--force", "--metrics", "duration_s", "--json").stdout)
    row = next(r for r in js["rows"] if r["metric"] == "duration_s")
    text = cli("compare", *runs, "--force", "--metrics", "duration_s", env={"COLUMNS": "200"}).stdout
    cells = next([c.strip() for c in ln.strip("│").split("│")] for ln in text.splitlines()
                 if ln.startswith("│ duration_s"))
    assert cells[1:] == [fmt_value(row["A"], "s"), fmt_value(row["B"], "s"), f"{row['B/A']:.3g}x", row["better_B"],
                         fmt_value(row["C"], "s"), f"{row['C/A']:.3g}x", row["better_C"]], (cells, row)

"""Tables print figures positionally, never in e-notation (`compare`, `export --latex`, `report`): a peak RSS
of 426246144 B in a paper table is 426200000, not 4.262e+08; each keeps 4 significant figures."""

from __future__ import annotations

import re
import sys

import pandas as pd
import pytest

from lowprof.analysis.export_csv import latex_table
from lowprof.cli.compare import fmt_value
from lowprof.cli.report import _fmt

E = re.compile(r"\d[eE][+-]?\d")
VALUES = [426246144.0, 12345.0, 65536.0, 2.5961e9, 0.00001234, 3.5e-5, 1.0, 0.707]


@pytest.mark.parametrize("v", VALUES)
def test_compare_and_report_cells_are_positional_with_4_figures(v):
    for text in (fmt_value(v, "pages"), _fmt("x", v)):
        assert not E.search(text), text
        shown = float(text.split()[0])
        assert shown == pytest.approx(v, rel=5e-4), (text, v)  # 4 significant figures


def test_latex_table_has_no_e_notation():
    df = pd.DataFrame({"run": ["a", "b"], "machine": ["m", "m"], "metric": ["workload_rss_peak_bytes"] * 2,
                       "value": [426246144.0, 0.00001234], "unit": ["B", "B"], "better": ["lower"] * 2})
    tex = latex_table(df)
    assert not E.search(tex), tex
    assert "426200000" in tex and "0.00001234" in tex


def test_report_of_a_real_run_has_no_e_notation(tmp_path):
    from tests.conftest import run_cli

    p = run_cli("run", "-q", "--out", tmp_path / "r", "--", sys.executable, "-c", "pass")
    assert p.returncode == 0, p.stderr
    out = run_cli("report", tmp_path / "r").stdout
    assert not E.search(out.replace(str(tmp_path), "")), out

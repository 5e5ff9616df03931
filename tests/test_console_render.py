"""What a person reads (issue 11): names from traces and users print literally (never as markup), and at
80 columns no figure is cut while distinct names stay distinct. Rendered for real, through the CLI."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from collections import Counter

import pytest

from tests.conftest import TRACES

KINETO = TRACES / "kineto"
TABLE_TRACES = ["critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz",
                "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz",
                "amd_trace__mi250_minitoy_train_ROCm6_2_kineto.json.gz"]
CELL_NUMBER = re.compile(r"^-?\d[\d,.]*(\s?\S{1,4})?(/-?\d[\d,.]*(\s?\S{1,4})?)*( \(\d+%\))?$")


def _renamed_trace(tmp_path, names: list[str]):
    """A real Kineto trace whose first kernels are renamed to ``names`` (each one every launch of it)."""
    doc = json.loads(gzip.open(KINETO / TABLE_TRACES[0]).read())
    kernels = list(dict.fromkeys(e["name"] for e in doc["traceEvents"] if e.get("cat") == "kernel"))
    mapping = dict(zip(kernels, names))
    for e in doc["traceEvents"]:
        if e.get("name") in mapping:
            e["name"] = mapping[e["name"]]
    out = tmp_path / "renamed.json"
    out.write_text(json.dumps(doc))
    return out


def test_trace_and_user_names_are_data_not_markup(tmp_path, cli):
    names = ["attn[bold]x[/bold]", "layer[3]", "k[red]"]
    trace = _renamed_trace(tmp_path, names)
    assert cli("import", trace, "--out", tmp_path / "t", "-q").returncode == 0
    text = cli("launches", tmp_path / "t", "--top", "200").stdout
    for n in names:
        assert n in text, text
    # a run directory and a phase named with brackets, in the lines lowprof prints about them
    marks = tmp_path / "m.jsonl"
    marks.write_text('{"name": "layer[3]", "kind": "begin", "t_s": 0}\n{"name": "layer[3]", "kind": "sideways"}\n')
    out = tmp_path / "[red]x[/red]"
    p = cli("run", "--out", out, "--marks", marks, "--", "true")
    assert f"into {out}" in p.stderr and "layer[3]" in p.stderr, p.stderr
    r = cli("report", out, env={"COLUMNS": "250"})
    assert str(out) in r.stdout and "layer[3]" in r.stdout, r.stdout


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is importable here")
def test_install_hint_keeps_its_brackets(tmp_path, cli):
    p = cli("bench", "gpu", "--out", tmp_path / "g")
    assert p.returncode != 0 and "pip install 'lowprof[gpu]'" in p.stderr, p.stderr


def _cells(text: str) -> list[list[str]]:
    """Table body rows of rich's output: the cells between the vertical rules, stripped."""
    return [[c.strip() for c in ln.strip().strip("│").split("│")] for ln in text.splitlines()
            if ln.startswith("│") and ln.rstrip().endswith("│")]


def _number_cells(text: str) -> Counter:
    return Counter(c for row in _cells(text) for c in row if CELL_NUMBER.match(c))


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    from tests.conftest import run_cli

    d = tmp_path_factory.mktemp("r80")
    runs = []
    for i, name in enumerate(TABLE_TRACES):
        p = run_cli("import", KINETO / name, "--out", d / f"t{i}", "-q")
        assert p.returncode == 0, p.stderr
        runs.append(d / f"t{i}")
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["report", "launches", "compare"])
def test_at_80_columns_no_figure_is_cut(imported, cli, verb):
    """Every figure a wide terminal shows (250 columns, nothing squeezed) is in the 80-column output whole,
    no table line is wider than 80, and each kernel's name stays distinct."""
    targets = [[imported[0], imported[1], "--force"], [imported[1], imported[2], "--force"]] if verb == "compare" \
        else [[r] for r in imported]
    for t in targets:
        wide = cli(verb, *t, env={"COLUMNS": "250"})
        narrow = cli(verb, *t, env={"COLUMNS": "80"})
        assert wide.returncode == narrow.returncode == 0, narrow.stderr
        want, got = _number_cells(wide.stdout), _number_cells(narrow.stdout)
        assert want, wide.stdout
        missing = want - got
        assert not missing, f"{verb} {t}: cut or lost at 80 columns: {dict(missing)}\n{narrow.stdout}"
        cut = [c for row in _cells(narrow.stdout) for c in row if "…" in c and re.match(r"^-?\d[\d.,]*…", c)]
        assert not cut, cut
        table_lines = [ln for ln in narrow.stdout.splitlines() if ln[:1] in "┏┃┡│└"]
        assert table_lines and max(map(len, table_lines)) <= 80
        if verb == "launches":
            js = json.loads(cli("launches", *t, "--json").stdout)
            for key, title in (("top_by_time", "by GPU time"), ("top_by_count", "by count")):
                names = {r["name"] for r in js[key]}
                block = narrow.stdout.split(title, 1)[1].split("└", 1)[0]
                shown = [row[0] for row in _cells(block) if row[0]]
                assert len(set(shown)) == len(names) == len(shown), shown
                counts = Counter(str(r["count"]) for r in js[key])  # the --json figures, whole in the text
                assert not counts - Counter(row[1] for row in _cells(block)), block

"""`lowprof compare A1 A2 -- B1 B2`: means, Welch 95 % interval and significance, checked against a hand
computation (statistics module, the t quantile from SciPy when installed, else mpmath, else pyperf's table)
and against pyperf's own t-test functions on the same samples."""

from __future__ import annotations

import csv
import json
import math
import statistics
from io import StringIO

import pytest
from pyperf._utils import is_significant, tdist95conf_level, tscore

import lowprof
from lowprof.metrics import better_of, compare, params_key, run_metrics
from lowprof.analysis.stats import t_cdf, t_ppf, welch
from tests import _analysis_runs as R


@pytest.fixture(scope="module")
def root(shared_runs):
    return shared_runs.root


def _t975(df: float) -> float:
    """The reference 0.975 quantile of Student's t: SciPy, else mpmath, else pyperf's 3-digit table."""
    try:
        from scipy import stats

        return float(stats.t.ppf(0.975, df))
    except ImportError:
        pass
    try:
        import mpmath

        f = lambda x: mpmath.betainc(df / 2, 0.5, 0, df / (df + x * x), regularized=True) / 2 - 0.025  # noqa: E731
        return float(mpmath.findroot(f, 2.0))
    except ImportError:
        return tdist95conf_level(df)


def _hand_welch(a: list[float], b: list[float]) -> dict:
    """Welch's test written out from its textbook definition."""
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    diff = statistics.mean(b) - statistics.mean(a)
    half = _t975(df) * se
    return {"diff": diff, "t": diff / se, "df": df, "lo": diff - half, "hi": diff + half}


def test_t_quantile_and_cdf_match_the_reference():
    for df in (1, 2, 3, 4.6, 7, 12.3, 29, 61, 250):
        assert t_ppf(0.975, df) == pytest.approx(_t975(df), rel=1e-9)
        assert t_cdf(t_ppf(0.975, df), df) == pytest.approx(0.975, abs=1e-12)
    for df in range(1, 31):  # pyperf's table, rounded to 3 decimals
        assert round(t_ppf(0.975, df), 3) == pytest.approx(tdist95conf_level(df), abs=1e-3)
    assert t_cdf(0.0, 5) == 0.5 and t_ppf(0.025, 5) == pytest.approx(-t_ppf(0.975, 5))


def test_welch_equals_the_hand_computation_and_pyperf_on_the_same_samples():
    a, b = [10.1, 9.8, 10.4, 10.0, 9.9], [10.9, 11.2, 10.6, 11.0, 10.8]
    w, ref = welch(a, b), _hand_welch(a, b)
    assert (w.diff, w.t, w.df) == pytest.approx((ref["diff"], ref["t"], ref["df"]), rel=1e-12)
    assert (w.ci_low, w.ci_high) == pytest.approx((ref["lo"], ref["hi"]), rel=1e-9)
    # pyperf: Student's pooled test; with equal sizes its t is Welch's t (B - A: pyperf's tscore(b, a))
    assert w.t == pytest.approx(tscore(b, a), rel=1e-12)
    assert w.significant == is_significant(b, a)[0] is True
    near = [10.2, 9.7, 10.5, 9.9, 10.0]  # within the noise of a
    assert welch(a, near).significant == is_significant(near, a)[0] is False
    try:
        from scipy import stats
    except ImportError:
        return
    r = stats.ttest_ind(b, a, equal_var=False)
    assert w.t == pytest.approx(r.statistic) and w.p == pytest.approx(r.pvalue)


def _per_run(paths, names=None) -> list[dict]:
    """Each run's own metric rows, straight from run_metrics: (metric, params) -> value."""
    out = []
    for p in paths:
        df = run_metrics(lowprof.load(p), names)
        out.append({(r.metric, params_key(r.params)): float(r.value) for r in df.itertuples()})
    return out


def test_repeated_runs_mean_interval_and_verdict_equal_a_hand_computation(shared_runs):
    a = [shared_runs.demo("demo-t1", 1), shared_runs.demo("demo-t1-again", 1)]
    b = [shared_runs.demo("demo-t2", 2), shared_runs.demo("demo-t2-again", 2)]
    cmp = compare([a, b], force=True)
    assert set(cmp.differences) == {"B1", "B2"} and cmp.method["min_change_pct"] is None
    ra, rb = _per_run(a), _per_run(b)
    assert len(cmp.table) >= 4
    for row in cmp.table.to_dict(orient="records"):
        key = (row["metric"], row["params"])
        xa, xb = [r[key] for r in ra], [r[key] for r in rb]
        assert row["A"] == pytest.approx(statistics.mean(xa)) and row["B"] == pytest.approx(statistics.mean(xb))
        assert row["n_A"] == row["n_B"] == 2 and row["sd_A"] == pytest.approx(statistics.stdev(xa))
        if statistics.variance(xa) + statistics.variance(xb) == 0:
            continue
        ref = _hand_welch(xa, xb)
        assert row["ci_low_B"] == pytest.approx(ref["lo"], rel=1e-9, abs=1e-12)
        assert row["ci_high_B"] == pytest.approx(ref["hi"], rel=1e-9, abs=1e-12)
        assert row["t_B"] == pytest.approx(tscore(xb, xa), rel=1e-9)  # pyperf's t on the same samples
        significant = not (ref["lo"] <= 0 <= ref["hi"])
        assert row["significant_B"] == significant
        assert row["verdict_B"] == ("significant" if significant else "not significant")
        assert row["better_B"] == (better_of(row["better"], row["A"], row["B"]) if significant else "")


def test_a_difference_within_the_noise_is_never_marked_better(shared_runs, capsys):
    """The same two runs on both sides: one-run compare calls one of them better; as sides of repeats
    the difference of the means is 0 with a spread, and every row says Not significant."""
    r1, r2 = shared_runs.demo("demo-t1", 1), shared_runs.demo("demo-t1-again", 1)
    single = compare([r1, r2])
    assert set(single.table["better_B"]) & {"A", "B"}  # today's one-run verdicts
    cmp = compare([[r1, r2], [r2, r1]])
    assert (cmp.table["B"] == cmp.table["A"]).all()
    spread = cmp.table[cmp.table.sd_A > 0]
    assert len(spread) >= 3 and (spread["verdict_B"] == "not significant").all()
    assert (cmp.table["better_B"] == "").all() and not cmp.table["significant_B"].any()
    rc, out, err = R.lowprof_main(capsys, "compare", r1, r2, "--", r2, r1)
    assert rc == 0, err
    assert out.count("Not significant") == len(cmp.table) and " better" not in out
    assert "Welch t-interval" in out and "95 % CI" in out


def test_imported_traces_deterministic_significance_and_min_change(shared_runs):
    """Imported traces give the same figures every time: a fixed set of significant rows, each marked
    by its direction; --min-change above every change turns them all into 'below min change'."""
    a = [shared_runs.imported("job/rank0", "timeline_analysis__sampled_rank-0.json.gz"),
         shared_runs.imported("job/rank1", "trace_filter__sampled_rank-1.json.gz")]
    b = [shared_runs.imported("alexnet", "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"),
         shared_runs.imported("simple-add", "critical_path__simple_add__benchmark_result_493459_1694039959_trace.json.gz")]
    cmp = compare([a, b])
    ra, rb = _per_run(a), _per_run(b)
    sig = cmp.table[cmp.table.significant_B == True]  # noqa: E712 - the column holds None too
    assert len(sig) >= 1, cmp.table[["metric", "A", "B", "ci_low_B", "ci_high_B"]]
    for row in cmp.table.to_dict(orient="records"):
        key = (row["metric"], row["params"])
        xa, xb = [r[key] for r in ra], [r[key] for r in rb]
        if statistics.variance(xa) + statistics.variance(xb) == 0:
            continue
        ref = _hand_welch(xa, xb)
        assert row["significant_B"] == (not (ref["lo"] <= 0 <= ref["hi"]))
    for row in sig.to_dict(orient="records"):
        assert row["better_B"] == better_of(row["better"], row["A"], row["B"])
    top = float(cmp.table["change_pct_B"].abs().max()) + 1
    capped = compare([a, b], min_change_pct=top)
    assert not capped.table["significant_B"].any() and (capped.table["better_B"] == "").all()
    assert set(capped.table.loc[sig.index, "verdict_B"]) == {"below min change"}


def test_sweep_folders_per_side_match_by_parameters(shared_runs, root):
    sweep = shared_runs.pass_sweep()
    s2, s3 = R.copy_of(sweep, root / "sweep-rep2"), R.copy_of(sweep, root / "sweep-rep3")
    cmp = compare([[sweep, s2], [s3, sweep, s2]], names=["phase_time_s"])
    step = cmp.table[cmp.table.params.str.contains("phase=pass")]
    assert list(step["params"]) == ["batch=1,phase=pass", "batch=4,phase=pass"]
    assert list(step["n_A"]) == [2, 2] and list(step["n_B"]) == [3, 3]
    assert (step["verdict_B"] == "not significant").all() or (step["sd_A"] == 0).all()
    assert cmp.sides[1].paths == [s3, sweep, s2] and cmp.sides[0].kind == "sweep"


def test_one_run_per_side_with_min_change_is_not_marked_better(shared_runs):
    a, b = shared_runs.demo("demo-t1", 1), shared_runs.demo("demo-t1-again", 1)
    plain = compare([a, b]).table
    cut = compare([a, b], min_change_pct=5).table
    assert list(plain.columns) == [c for c in cut.columns if not c.startswith("below_min_change")]
    for p, c in zip(plain.to_dict(orient="records"), cut.to_dict(orient="records")):
        small = abs(p["B"] / p["A"] - 1) * 100 < 5 if p["A"] else False
        assert c["below_min_change_B"] == small
        assert c["better_B"] == ("" if small else p["better_B"])


def _strict(text: str):
    def refuse(c):
        raise ValueError(f"not strict JSON: {c}")
    return json.loads(text, parse_constant=refuse)


def test_json_and_csv_are_strict_and_the_table_keeps_every_figure(shared_runs, capsys, cli):
    a = [shared_runs.demo("demo-t1", 1), shared_runs.demo("demo-t1-again", 1)]
    b = [shared_runs.demo("demo-t2", 2), shared_runs.demo("demo-t2-again", 2)]
    args = [*a, "--", *b, "--force"]
    rc, out, err = R.lowprof_main(capsys, "compare", *args, "--json")
    assert rc == 0, err
    doc = _strict(out)
    assert [s["paths"] for s in doc["sides"]] == [[str(x) for x in a], [str(x) for x in b]]
    assert "Welch" in doc["method"]["interval"]
    rows = {r["metric"]: r for r in doc["rows"]}
    rc, out, err = R.lowprof_main(capsys, "compare", *args, "--csv", "-")
    got = list(csv.DictReader(StringIO(out)))
    assert len(got) == len(rows)
    for r in got:
        ref = rows[r["metric"]]
        for col in ("A", "B", "ci_low_B", "ci_high_B", "p_B"):
            assert (r[col] == "") == (ref[col] is None)
            if ref[col] is not None:
                assert float(r[col]) == pytest.approx(ref[col])
        assert r["verdict_B"] == ref["verdict_B"]
    p = cli("compare", *args, env={"COLUMNS": "60"})  # a narrow terminal: columns split, figures whole
    assert p.returncode == 0, p.stderr
    from lowprof.cli.compare import fmt_value

    for r in doc["rows"]:
        for x in ("A", "B"):
            assert fmt_value(r[x], r["unit"]) in p.stdout
        assert f"{r['change_pct_B']:+.3g} %" in p.stdout
        if r["p_B"] is not None:
            lo, hi = (r[c] / abs(r["A"]) * 100 for c in ("ci_low_B", "ci_high_B"))
            assert f"[{lo:+.3g} %, {hi:+.3g} %]" in p.stdout and f" {r['p_B']:.2g} " in p.stdout


@pytest.mark.parametrize("argv, says", [
    (["{a}", "--"], "no run on one side"),
    (["--", "{a}", "{a}"], "no run on one side"),
    (["{a}", "{a}", "--min-change", "-3"], "--min-change -3"),
    (["{a}", "{a}", "--", "{a}", "--", ], "no run on one side"),
    (["{a}", "{a}", "--", "{a}"], "side A names"),
])
def test_bad_sides_are_one_line_errors(shared_runs, capsys, argv, says):
    a = str(shared_runs.demo("demo-t1", 1))
    rc, out, err = R.lowprof_main(capsys, "compare", *[x.format(a=a) for x in argv])
    assert rc == 1 and says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_run_alone_on_its_side_has_no_verdict(shared_runs):
    a, b = shared_runs.demo("demo-t1", 1), shared_runs.demo("demo-t1-again", 1)
    cmp = compare([[a, b], [b]])
    assert (cmp.table["verdict_B"] == "too few runs").all() and (cmp.table["better_B"] == "").all()
    assert cmp.table["ci_low_B"].isna().all()


def test_sides_without_spread_differ_exactly(shared_runs, root):
    """Copies of one imported trace give one figure exactly: no noise, so any difference is significant
    (and marked by its direction) and an equal figure is not; t and df are null, the interval a point."""
    r0 = shared_runs.imported("job/rank0", "timeline_analysis__sampled_rank-0.json.gz")
    r1 = shared_runs.imported("job/rank1", "trace_filter__sampled_rank-1.json.gz")
    a, b = [r0, R.copy_of(r0, root / "rank0-copy")], [r1, R.copy_of(r1, root / "rank1-copy")]
    cmp = compare([a, b])
    one = compare([r0, r1]).table.set_index(["metric", "params"])
    for row in cmp.table.to_dict(orient="records"):
        same = row["A"] == row["B"]
        assert row["sd_A"] == row["sd_B"] == 0 and math.isnan(row["t_B"])
        assert row["ci_low_B"] == row["ci_high_B"] == pytest.approx(row["B"] - row["A"])
        assert row["significant_B"] == (not same)
        assert row["better_B"] == ("" if same else one.loc[(row["metric"], row["params"]), "better_B"])
    assert cmp.table["significant_B"].sum() >= 5

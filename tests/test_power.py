"""Power report figures against values computed by hand on a 5-reading trace."""

from __future__ import annotations

import json

import pytest

from lowprof.analysis.power import (energy_between, phase_breakdown, phase_intervals, section_power,
                                    summarize_power)
from lowprof.rundir.specs.marks import MARKS
from lowprof.rundir.specs.nvml import GPU_POWER, decode_reasons
from lowprof.rundir import RunWriter, load

S = 1_000_000_000


def _gpu_rows(power, energy, reasons, limit=400.0, gpu=0):
    return [{"t_ns": i * S, "gpu": gpu, "power_w": p, "energy_j": e, "power_limit_w": limit,
             "clock_event_reasons": r} for i, (p, e, r) in enumerate(zip(power, energy, reasons))]


@pytest.fixture
def small_run(tmp_path):
    run = RunWriter(tmp_path / "r", kind="test")
    run.table(GPU_POWER).extend(_gpu_rows([100, 200, 300, 200, 100], [0, 160, 410, 660, 810], [1, 0, 4, 4, 0]))
    run.write_frame(MARKS, __import__("pandas").DataFrame(
        {"t_ns": [S // 2, 5 * S // 2, 3 * S], "name": ["a", "a", "x"], "kind": ["begin", "end", "instant"],
         "pid": [7, 7, 7]}))
    run.finish()
    run.manifest["end_t_ns"] = 4 * S
    run.save()
    return load(run.path)


def test_device_figures_match_hand_computation(small_run):
    s = summarize_power(small_run)["gpu0"]
    # trapezoid: (150 + 250 + 250 + 150) W * 1 s
    assert s["energy_integrated_j"] == pytest.approx(800)
    assert s["energy_counter_j"] == pytest.approx(810)
    assert (s["energy_j"], s["energy_method"]) == (pytest.approx(810), "counter")  # the counter wherever there is one
    assert s["energy_disagreement_percent"] == pytest.approx(100 * (800 - 810) / 810)
    assert s["mean_w"] == pytest.approx(810 / 4)  # counter energy / span
    assert s["signal"] == "driver average (window unknown)"  # no instantaneous power, no manifest facts
    assert s["median_w"] == pytest.approx(200)
    assert s["p95_w"] == pytest.approx(280)  # sorted 100,100,200,200,300: rank 3.8 -> 200 + 0.8 * 100
    assert s["p99_w"] == pytest.approx(296)
    assert (s["peak_w"], s["peak_at_s"], s["peak_window_s"]) == (300, 2.0, 0.0)
    assert s["headroom_p99_w"] == pytest.approx(104) and s["headroom_p99_percent"] == pytest.approx(26)
    assert s["headroom_peak_w"] == pytest.approx(100) and s["headroom_peak_percent"] == pytest.approx(25)
    # reasons hold until the next reading: idle [0,1], power cap [2,3] and [3,4]
    assert s["throttled_s"] == pytest.approx(2) and s["sw_power_cap_s"] == pytest.approx(2)
    assert s["gpu_idle_s"] == pytest.approx(1)


def test_windowed_peak(small_run):
    s = summarize_power(small_run, window_s=2.0)["gpu0"]
    # trailing 2 s means: at 2 s (150+250)/2, at 3 s (250+250)/2, at 4 s (250+150)/2
    assert (s["peak_w"], s["peak_at_s"], s["peak_window_s"]) == (pytest.approx(250), 3.0, 2.0)


def test_phases_from_begin_end_and_instant_marks(small_run):
    ph = phase_breakdown(small_run).set_index("phase")
    a, x = ph.loc["a"], ph.loc["x"]
    # a = [0.5, 2.5] s: 0.5 * (150+200)/2 + 250 + 0.5 * (300+250)/2 ; counter interpolated 535 - 80
    assert a.energy_integrated_j == pytest.approx(87.5 + 250 + 137.5)
    assert a.energy_counter_j == pytest.approx(455)
    assert (a.energy_j, a.energy_method) == (pytest.approx(455), "counter")
    assert a.mean_w == pytest.approx(455 / 2)
    # instant x at 3 s runs to the end of the run (4 s): (200 + 100) / 2 integrated, 810 - 660 by the counter
    assert x.energy_integrated_j == pytest.approx(150) and x.duration_s == pytest.approx(1)
    assert x.energy_j == pytest.approx(150)


def test_phase_intervals_nesting_and_unmatched_begin():
    import pandas as pd

    m = pd.DataFrame({"t_ns": [0, 1, 2, 3, 5], "name": ["o", "i", "i", "o", "u"],
                      "kind": ["begin", "begin", "end", "end", "begin"], "pid": [1, 1, 1, 1, 2]})
    iv = phase_intervals(m, end_ns=9)
    assert sorted(map(tuple, iv[["name", "start_ns", "end_ns"]].values.tolist())) == [("i", 1, 2), ("o", 0, 3), ("u", 5, 9)]


def test_energy_between_interpolates_the_ends():
    assert energy_between([0, 2 * S], [0, 200], 0.5 * S, 1.5 * S) == pytest.approx(100)  # 50..150 W over 1 s


def test_decode_reasons():
    assert decode_reasons(0x44) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert decode_reasons(0) == []
    assert decode_reasons(0x400) == ["bit_0x400"]


def test_report_section_and_cli(small_run, cli):
    sec = section_power(small_run)
    assert sec["gpu0 energy_counter_j"] == pytest.approx(810)
    r = cli("power", small_run.path, "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["devices"]["gpu0"]["p99_w"] == pytest.approx(296)
    assert {p["phase"] for p in got["phases"]} == {"a", "x"}
    r = cli("power", small_run.path)
    assert r.returncode == 0 and "Energy (J)" in r.stdout and "sw_power_cap" in r.stdout, r.stdout + r.stderr
    r = cli("report", small_run.path, "--json")
    assert json.loads(r.stdout)["power"]["gpu0 p99_w"] == pytest.approx(296)


def test_power_on_run_without_power_tables_is_one_line_error(tmp_path, cli):
    run = RunWriter(tmp_path / "e", kind="test")
    run.finish()
    r = cli("power", run.path)
    assert r.returncode == 1 and "no power readings" in r.stderr and "Traceback" not in r.stderr


def test_incomplete_run_uses_streamed_rows_and_marks_jsonl(tmp_path):
    """A recorder killed mid-run: tables are Arrow streams, marks only in marks.jsonl."""
    run = RunWriter(tmp_path / "cut", kind="test")
    run.table(GPU_POWER).extend(_gpu_rows([100, 300, 300], [0, 200, 500], [0, 0, 0]))
    run.flush()
    run.save()
    (run.path / "marks.jsonl").write_text(
        '{"t_ns": 1000000000, "name": "hot", "kind": "instant", "pid": 3, "id": 1}\n{"t_ns": 15')
    r = load(run.path)
    assert not r.complete
    ph = phase_breakdown(r).set_index("phase")
    # "hot" from 1 s to the last reading (2 s, the run has no end time): 300 W for 1 s
    assert ph.loc["hot"].energy_integrated_j == pytest.approx(300)
    assert ph.loc["hot"].energy_counter_j == pytest.approx(300)


def test_an_instant_phase_ends_at_the_next_mark_of_any_kind():
    """`mark("warmup")` then `with mark("main")`: warmup ends where main begins (it used to run to the end of
    the run, overlapping main); an instant inside a with-block ends at the block's end."""
    import pandas as pd

    m = pd.DataFrame({"t_ns": [0, 10, 20, 30, 50], "name": ["warmup", "main", "step", "main", "tail"],
                      "kind": ["instant", "begin", "instant", "end", "instant"], "pid": [1, 1, 1, 1, 1]})
    iv = phase_intervals(m, end_ns=100)
    got = sorted(map(tuple, iv[["name", "start_ns", "end_ns"]].values.tolist()))
    assert got == [("main", 10, 30), ("step", 20, 30), ("tail", 50, 100), ("warmup", 0, 10)]


def test_short_windows_take_the_counter_not_the_lagging_1s_average(tmp_path):
    """An H100-like trace (SYNTHETIC, known truth): 700 W bursts of 0.05-1.5 s from 70 W idle, read every
    ~10 ms; field 185 is the mean of the last 1 s, the counter integrates the true power. Integrating the
    1 s average loses 28-90 % of each burst's energy; the counter interpolated at the burst's edges is off by
    at most what one sample interval can hide at each edge (ΔP * Δt / 4 per edge)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    durations = [0.05, 0.1, 0.25, 0.5, 1.0, 1.5]
    starts = 1.0 + 3.0 * np.arange(len(durations)) + rng.uniform(0, 0.01, len(durations))
    bp = np.sort(np.concatenate([[0.0], starts, starts + durations, [starts[-1] + 4.0]]))
    pw = np.where(np.isin(bp[:-1], starts), 700.0, 70.0)
    cum = np.concatenate([[0.0], np.cumsum(pw * np.diff(bp))])
    t = np.arange(0, bp[-1], 0.01) + rng.uniform(0, 0.001, len(np.arange(0, bp[-1], 0.01)))

    def energy(x):
        return np.interp(x, bp, cum)

    run = RunWriter(tmp_path / "r", kind="test")
    run.write_frame(GPU_POWER, pd.DataFrame({"t_ns": (t * S).astype(int), "gpu": 0, "energy_j": energy(t),
                                             "power_w": energy(t) - energy(np.maximum(t - 1, 0))}))
    run.manifest["probes"]["nvml"] = {"devices": [{"index": 0, "power_w": {"averaging": "1s"}}]}
    marks = pd.DataFrame({"t_ns": np.round(np.concatenate([starts, starts + durations]) * S).astype(int),
                          "name": [f"burst{d}" for d in durations] * 2, "kind": ["begin"] * 6 + ["end"] * 6, "pid": 1})
    run.write_frame(MARKS, marks.sort_values("t_ns"))
    run.finish()
    ph = phase_breakdown(load(run.path)).set_index("phase")
    for d in durations:
        truth = 700.0 * d
        r = ph.loc[f"burst{d}"]
        assert r.energy_method == "counter"
        assert abs(r.energy_j - truth) <= 2 * 630 * 0.011 / 4 + 1e-6
        assert -0.90 <= (r.energy_integrated_j - truth) / truth <= -0.28


def test_json_is_strict_where_a_figure_does_not_exist(small_run, cli):
    """No counter in a window, a peak window longer than the run: null, never NaN (which is not JSON)."""
    import math

    def no_nan(c):
        raise AssertionError(f"{c} in --json output")

    r = cli("power", small_run.path, "--json", "--window", "10")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout, parse_constant=no_nan)
    assert got["devices"]["gpu0"]["peak_w"] is None
    r = cli("power", small_run.path, "--json", "--average")
    assert all(not isinstance(v, float) or math.isfinite(v) for p in json.loads(r.stdout, parse_constant=no_nan)["phases"]
               for v in p.values())


def test_phases_show_the_disagreement_of_the_two_energies(small_run, cli):
    """Where a device has both a counter and a power signal, a phase shows both and their disagreement, as the
    whole-run table does: phase a = [0.5, 2.5] s, counter 455 J, integrated 475 J: (475 - 455) / 455."""
    ph = phase_breakdown(small_run).set_index("phase")
    assert ph.loc["a"].energy_disagreement_percent == pytest.approx(100 * (475 - 455) / 455)
    got = json.loads(cli("power", small_run.path, "--json").stdout)
    a = next(p for p in got["phases"] if p["phase"] == "a")
    assert a["energy_disagreement_percent"] == pytest.approx(100 * 20 / 455)
    r = cli("power", small_run.path)
    assert f"{100 * 20 / 455:+.2f}%" in r.stdout.split("By phase")[1], r.stdout


def test_each_gpu_signal_is_integrated_on_its_own_field_timestamps(tmp_path):
    """The 1 s average (field 185) and the instantaneous power (186) carry their own driver timestamps; the
    average integrated beside the counter is placed at its own (here 0.5 s earlier), not at the instantaneous
    field's. Average readings (-0.5, 100) (0.5, 100) (1.5, 300) (2.5, 300) over the span [0, 3] s of the
    instantaneous signal, clipped to its own readings [0, 2.5]: 0.5 * 100 + (100 + 300) / 2 + 300 = 550 J
    (at the instantaneous field's times it would be 600 J)."""
    import pandas as pd

    run = RunWriter(tmp_path / "r", kind="test")
    t = [0, S, 2 * S, 3 * S]
    run.write_frame(GPU_POWER, pd.DataFrame({
        "t_ns": t, "gpu": 0, "power_w": [100.0, 100.0, 300.0, 300.0], "power_t_ns": [x - S // 2 for x in t],
        "power_instant_w": [100.0, 200.0, 300.0, 300.0], "power_instant_t_ns": t,
        "energy_j": [0.0, 150.0, 400.0, 700.0], "energy_t_ns": t}))
    run.manifest["probes"]["nvml"] = {"devices": [{"index": 0, "power_w": {"averaging": "1s"}}]}
    run.finish()
    s = summarize_power(load(run.path))["gpu0"]
    assert s["signal"] == "instant"
    assert s["energy_integrated_average_j"] == pytest.approx(550)
    assert s["energy_integrated_instant_j"] == pytest.approx(150 + 250 + 300)


def test_a_phase_outside_the_readings_has_no_energy_not_zero(tmp_path, cli):
    """Readings 0-4 s at 100 W (counter 100 J/s). Phase 'half' = [3, 6] s: only 1 s of it was measured (it said
    100 J, 33 W); phase 'after' = [7, 9] s: nothing was measured (it said 0 J, 0 W). Both have no energy now,
    with the share covered; a phase inside the readings keeps its figures."""
    import pandas as pd

    run = RunWriter(tmp_path / "cov", kind="test")
    run.write_frame(GPU_POWER, pd.DataFrame({"t_ns": [i * S for i in range(5)], "gpu": 0, "power_w": [100.0] * 5,
                                             "energy_j": [100.0 * i for i in range(5)]}))
    run.write_frame(MARKS, pd.DataFrame({"t_ns": [1 * S, 2 * S, 3 * S, 6 * S, 7 * S, 9 * S],
                                         "name": ["in", "in", "half", "half", "after", "after"],
                                         "kind": ["begin", "end"] * 3, "pid": 1}))
    run.finish()
    run.manifest["end_t_ns"] = 10 * S
    run.save()
    ph = phase_breakdown(load(run.path)).set_index("phase")
    assert ph.loc["in"].energy_j == pytest.approx(100) and ph.loc["in"].mean_w == pytest.approx(100)
    assert ph.loc["in"].covered_percent == pytest.approx(100)
    for name, covered in (("half", 100 / 3), ("after", 0)):
        r = ph.loc[name]
        assert r.covered_percent == pytest.approx(covered)
        assert all(r[c] != r[c] for c in ("energy_j", "energy_counter_j", "energy_integrated_j", "mean_w")), r
    out = cli("power", run.path)
    assert out.returncode == 0 and "half" in out.stdout and "33%" in out.stdout, out.stdout + out.stderr


def test_a_phase_one_sample_interval_past_the_readings_keeps_its_energy(tmp_path):
    """The recorder's last reading comes up to one sample interval before the run's end: a last phase that runs
    to the end keeps its energy (of what was measured) rather than losing it."""
    import pandas as pd

    run = RunWriter(tmp_path / "r", kind="test")
    run.write_frame(GPU_POWER, pd.DataFrame({"t_ns": [i * S // 10 for i in range(21)], "gpu": 0, "power_w": 100.0,
                                             "energy_j": [10.0 * i for i in range(21)]}))
    run.write_frame(MARKS, pd.DataFrame({"t_ns": [S], "name": ["tail"], "kind": ["instant"], "pid": [1]}))
    run.finish()
    run.manifest["end_t_ns"] = 2 * S + S // 20  # 50 ms after the last reading (interval 100 ms)
    run.save()
    r = phase_breakdown(load(run.path)).set_index("phase").loc["tail"]
    assert r.energy_j == pytest.approx(100) and r.covered_percent == pytest.approx(100 / 1.05)
    assert r.mean_w == pytest.approx(100)  # over the second that was measured, not the 1.05 s phase

"""POLCA-style oversubscription on traces whose answers can be worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lowprof.analysis.polca import ServerTrace, exceed_fraction, oversubscription, server_trace
from lowprof.errors import LowprofError
from lowprof.rundir.specs.nvml import GPU_POWER
from lowprof.rundir import RunWriter, load


def test_exceed_fraction_by_hand():
    a, b = np.array([100, 300]), np.array([300, 100])
    assert exceed_fraction([a, b], 350, [0, 0]) == 1.0   # sums 400, 400
    assert exceed_fraction([a, b], 350, [0, 1]) == 0.5   # b rolled: 100+100, 300+300
    assert exceed_fraction([a, a], 600, [0, 0]) == 0.0   # 600 is not above 600


def _srv(p, limit=500.0):
    return ServerTrace("s", np.asarray(p, dtype=float), 0.1, limit)


def test_constant_servers():
    r = oversubscription([_srv([200] * 10)], budget_w=1000, risk=0.0, trials=0)
    assert (r.servers_by_limit, r.servers_by_p99, r.servers_by_peak, r.servers_at_risk) == (2, 5, 5, 5)
    assert r.extra_servers_vs_limit == 3


def test_in_phase_alternating_servers_with_and_without_cap():
    s = _srv([100, 300] * 5)
    # all in phase (no shifts): n servers draw 100n / 300n half the time each
    r = oversubscription([s], budget_w=1000, risk=0.1, trials=0, cap_w=200)
    assert r.servers_at_risk == 3          # 300 * 4 > 1000 half the time
    assert r.servers_by_peak == 3
    assert r.servers_at_risk_capped == 5   # capped at 200: 200 * 5 = 1000
    assert r.capped_time_fraction == 0.5
    r = oversubscription([s], budget_w=1000, risk=0.5, trials=0)
    assert r.servers_at_risk == 10         # over budget half the time until 100 * 11 > 1000


def test_random_shifts_allow_at_least_the_in_phase_count():
    s = _srv([100, 300] * 50)
    aligned = oversubscription([s], budget_w=2000, risk=0.05, trials=0).servers_at_risk
    shifted = oversubscription([s], budget_w=2000, risk=0.05, trials=100, seed=1)
    assert shifted.servers_at_risk >= aligned
    assert shifted.exceed_fraction_at_risk <= 0.05


def test_bad_budget_and_risk():
    with pytest.raises(LowprofError, match="-5"):
        oversubscription([_srv([1, 2])], budget_w=-5)
    with pytest.raises(LowprofError, match="1.5"):
        oversubscription([_srv([1, 2])], budget_w=5, risk=1.5)


def _gpu_run(path, powers, limit=700.0):
    run = RunWriter(path, kind="test")
    rows = [{"t_ns": int(i * 1e8), "gpu": g, "power_w": p[i], "power_limit_w": limit}
            for g, p in enumerate(powers) for i in range(len(p))]
    run.write_frame(GPU_POWER, pd.DataFrame(rows))
    run.finish()
    return load(path)


def test_server_trace_sums_gpus_and_limits(tmp_path):
    run = _gpu_run(tmp_path / "a", [[100, 200, 300], [50, 50, 50]])
    s = server_trace(run, step_s=0.1)
    assert s.power_w.tolist() == [150, 250, 350] and s.limit_w == 1400


def test_cli_budget(tmp_path, cli):
    a = _gpu_run(tmp_path / "a", [[300, 500] * 20])
    b = _gpu_run(tmp_path / "b", [[500, 300] * 20])
    r = cli("power", a.path, b.path, "--budget-w", "3000", "--risk", "0", "--trials", "0", "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["servers_by_limit"] == 4 and got["servers_by_peak"] == 6
    # cycled a, b, a, b...: in-phase sums alternate; a+b pairs draw 800 W each, 3 pairs = 2400, 4 = 3200
    assert got["servers_at_risk"] == 7  # 4 a (300) + 3 b (500) = 2700 and 4*500+3*300 = 2900 <= 3000
    r = cli("power", a.path, "--budget-w", "3000")
    assert r.returncode == 0 and "Servers that fit" in r.stdout, r.stdout + r.stderr


def _instant_run(path, avg, inst, limit=700.0):
    """A one-GPU Hopper-like run: the driver's 1 s average (power_w) and the instantaneous field (186)."""
    run = RunWriter(path, kind="test")
    run.write_frame(GPU_POWER, pd.DataFrame({"t_ns": [int(i * 1e8) for i in range(len(avg))], "gpu": 0,
                                             "power_w": avg, "power_instant_w": inst, "power_limit_w": limit}))
    run.manifest["probes"]["nvml"] = {"status": "ok", "devices": [{"index": 0, "power_w": {"averaging": "1s"}}]}
    run.finish()
    return load(path)


def test_budget_uses_instantaneous_power_and_honours_the_flags(tmp_path, cli):
    """The 1 s average hides the peaks a budget must hold: 300 W on average, 100/500 W instantaneous.
    --budget-w ignored --instant before; now the instantaneous power is the default where recorded, and
    --average / --instant choose."""
    run = _instant_run(tmp_path / "a", [300.0] * 40, [100.0, 500.0] * 20)
    args = ["power", run.path, "--budget-w", "2000", "--risk", "0", "--trials", "0", "--json"]
    got = {flag: json.loads(cli(*args, *([flag] if flag else [])).stdout) for flag in ("", "--instant", "--average")}
    assert got[""]["servers_by_peak"] == got["--instant"]["servers_by_peak"] == 4   # 2000 / 500
    assert got["--average"]["servers_by_peak"] == 6                                # 2000 / 300
    assert got[""]["servers"][0]["signals"] == ["gpu0: instant"]
    assert got["--average"]["servers"][0]["signals"] == ["gpu0: 1 s average"]


def test_instant_is_refused_where_a_gpu_has_none(tmp_path, cli):
    run = _gpu_run(tmp_path / "a", [[300, 500] * 5])
    r = cli("power", run.path, "--instant")
    assert r.returncode == 1 and "no instantaneous power recorded for gpu0" in r.stderr and "Traceback" not in r.stderr
    r = cli("power", run.path, "--budget-w", "3000", "--instant")
    assert r.returncode == 1 and "gpu0" in r.stderr


def test_in_phase_bound_beside_the_independent_estimate():
    """Two half-duty servers: in phase they all peak together (n * 300 W), shifted they interleave."""
    s = _srv([100, 300] * 50)
    r = oversubscription([s], budget_w=2000, risk=0.0, trials=50, seed=2)
    assert r.servers_in_phase == 6 and r.exceed_fraction_in_phase == 0.0   # 6 * 300 = 1800 <= 2000 < 2100
    assert r.servers_at_risk >= r.servers_in_phase


def test_server_power_adds_recorded_host_power_and_the_stated_base(tmp_path):
    """A server = its GPUs + the RAPL package recorded beside them + a stated base; the core subzone is
    inside the package and not added again."""
    from lowprof.rundir.specs.host import RAPL

    run = RunWriter(tmp_path / "s", kind="test")
    run.write_frame(GPU_POWER, pd.DataFrame({"t_ns": [int(i * 1e8) for i in range(11)], "gpu": 0,
                                             "power_w": [400.0] * 11, "power_limit_w": 700.0}))
    run.write_frame(RAPL, pd.DataFrame(
        [{"t_ns": int(i * 1e8), "zone": z, "domain": d, "energy_j": w * i / 10, "power_w": None if i == 0 else w}
         for z, d, w in (("intel-rapl:0", "package-0", 150.0), ("intel-rapl:0:0", "core", 90.0)) for i in range(11)]))
    run.finish()
    s = server_trace(load(run.path), server_base_w=200.0)
    assert s.devices == ["gpu0", "rapl:intel-rapl:0:package-0"]
    assert s.power_w[1:].tolist() == pytest.approx([400 + 150 + 200] * (len(s.power_w) - 1))
    assert s.limit_w == pytest.approx(700 + 150 + 200)  # GPU limit + the package's recorded peak + base
    assert "gpu0 limit 700 W" in s.limit_from and "base 200 W" in s.limit_from
    gpu_only = server_trace(load(run.path), devices="gpu")
    assert gpu_only.devices == ["gpu0"] and gpu_only.power_w.max() == 400


def _gh200_run(path):
    """A GH200: NVML's GPU scope (fields 185/186/83) and module scope (scopeId 1: GPU + Grace + memory)."""
    S = 1_000_000_000
    run = RunWriter(path, kind="test")
    run.write_frame(GPU_POWER, pd.DataFrame({
        "t_ns": [0, S, 2 * S], "gpu": 0, "power_w": 300.0, "power_instant_w": [290.0, 310.0, 300.0],
        "energy_j": [0.0, 300.0, 600.0], "module_power_w": 450.0, "module_power_instant_w": [440.0, 470.0, 450.0],
        "module_energy_j": [10.0, 465.0, 915.0], "power_limit_w": 900.0}))
    run.finish()
    return load(path)


def test_a_grace_hopper_module_is_not_called_gpu_power_only(tmp_path, cli):
    """`--budget-w` on a GH200 sums the module (GPU + Grace CPU + memory), which is not 'GPU power only';
    before, every device whose name starts with 'gpu' (gpu0:module too) made the output say so."""
    run = _gh200_run(tmp_path / "gh")
    r = cli("power", run.path, "--budget-w", "5000")
    assert r.returncode == 0, r.stderr
    assert "gpu0:module" in r.stdout and "GPU power only" not in r.stdout
    r = cli("power", run.path, "--budget-w", "5000", "--devices", "gpu")
    assert r.returncode == 0 and "GPU power only" in r.stdout, r.stdout + r.stderr
    got = json.loads(cli("power", run.path, "--budget-w", "5000", "--json").stdout)
    assert got["servers"][0]["gpu_only"] is False and got["servers"][0]["peak_w"] == 470.0


def test_budget_csv_names_the_signal(tmp_path, cli):
    """`--budget-w --csv` is one row of results: it names the power signal each server's devices were read with
    (the text and JSON outputs did; the CSV did not)."""
    import csv
    import io

    run = _instant_run(tmp_path / "a", [300.0] * 40, [100.0, 500.0] * 20)
    for flag, want in (("--instant", "gpu0: instant"), ("--average", "gpu0: 1 s average")):
        r = cli("power", run.path, "--budget-w", "2000", "--trials", "0", "--csv", flag)
        assert r.returncode == 0, r.stderr
        (row,) = list(csv.DictReader(io.StringIO(r.stdout)))
        assert row["signals"] == f"{run.path}: {want}"


def test_peak_and_p99_are_of_the_recorded_readings_not_the_resampling_grid(tmp_path, cli):
    """A 20 ms spike to 700 W between the 0.1 s grid's points: 'by observed peak' must divide by the recorded
    peak (700 W: 3 servers in 2100 W) and say 0 time over budget only of what was recorded. Before, the peak
    was of the trace resampled on the grid (about 300 W: 7 servers, each of which really drew 700 W)."""
    t = [round(k * 0.01, 2) for k in range(400)]
    p = [700.0 if 1.01 <= x <= 1.02 else 300.0 for x in t]
    run = RunWriter(tmp_path / "a", kind="test")
    run.write_frame(GPU_POWER, pd.DataFrame({"t_ns": [round(x * 1e9) for x in t], "gpu": 0, "power_instant_w": p,
                                             "power_w": 300.0, "power_limit_w": 700.0}))
    run.manifest["probes"]["nvml"] = {"status": "ok", "devices": [{"index": 0, "power_w": {"averaging": "1s"}}]}
    run.finish()
    got = json.loads(cli("power", run.path, "--budget-w", "2100", "--trials", "0", "--json").stdout)
    assert got["servers"][0]["peak_w"] == 700.0 and got["servers_by_peak"] == 3
    assert got["servers"][0]["p99_w"] == pytest.approx(np.percentile(p, 99))
    assert got["servers_by_p99"] == int(2100 // np.percentile(p, 99))

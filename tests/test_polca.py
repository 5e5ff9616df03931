"""POLCA-style oversubscription on traces whose answers can be worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lowprof.analysis.polca import ServerTrace, exceed_fraction, oversubscription, server_trace
from lowprof.errors import LowprofError
from lowprof.probes.nvml import GPU_POWER
from lowprof.rundir import RunDir, load


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
    run = RunDir(path, kind="test")
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

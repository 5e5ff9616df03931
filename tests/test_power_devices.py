"""One device-selection policy for every power and energy figure: which devices a sum takes, and that a
reading already inside another (a RAPL subzone in its package, a Grace rail in its module) is never added
to it."""

from __future__ import annotations

import pandas as pd
import pytest

from lowprof.analysis.metrics import run_metrics
from lowprof.probes.rapl import RAPL
from lowprof.rundir import RunDir, load
from lowprof.tracers.launches import STEPS

S = 1_000_000_000


def _cpu_run(path, zones):
    """A CPU-only run: RAPL zones (zone, domain, watts) read each second for 6 s, and passes [1,2], [3,5] s."""
    run = RunDir(path, kind="test")
    rows = []
    for zone, domain, watts in zones:
        for k in range(7):
            rows.append({"t_ns": k * S, "zone": zone, "domain": domain, "energy_j": watts * k,
                         "power_w": None if k == 0 else float(watts)})
    run.write_frame(RAPL, pd.DataFrame(rows))
    run.write_frame(STEPS, pd.DataFrame({"name": ["pass#1", "pass#2"], "pid": [1, 1], "tid": [1, 1],
                                         "start_ns": [1 * S, 3 * S], "end_ns": [2 * S, 5 * S]}))
    run.finish()
    return load(path)


def _metric(run, name):
    m = run_metrics(run, [name])
    return dict(zip(m["params"].map(lambda p: tuple(sorted(p.items()))), m["value"]))


def test_energy_per_pass_does_not_add_the_core_subzone_to_its_package(tmp_path):
    """Issue 11: a CPU-only run with a RAPL package zone and its core subzone summed both in
    energy_per_pass_j. The core (PP0) is part of the package (PKG): the package alone is the CPU's energy."""
    run = _cpu_run(tmp_path / "r", [("intel-rapl:0", "package-0", 40.0), ("intel-rapl:0:0", "core", 25.0)])
    got = _metric(run, "energy_per_pass_j")
    # passes of 1 s and 2 s at the package's 40 W: median of 40 J and 80 J, from the package's counter
    assert got == {(("devices", "cpu"), ("from", "counter")): pytest.approx(60.0)}

"""One device-selection policy for every power and energy figure: which devices a sum takes, and that a
reading already inside another (a RAPL subzone in its package, a Grace rail in its module) is never added
to it."""

from __future__ import annotations

import pandas as pd
import pytest

from lowprof.metrics import run_metrics
from lowprof.rundir.specs.host import RAPL
from lowprof.rundir import RunWriter, load
from lowprof.rundir.specs.launches import STEPS

S = 1_000_000_000


def _cpu_run(path, zones):
    """A CPU-only run: RAPL zones (zone, domain, watts) read each second for 6 s, and passes [1,2], [3,5] s."""
    run = RunWriter(path, kind="test")
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


def test_grace_hopper_module_scope_contains_the_gpu(tmp_path):
    """GH200: NVML's module scope (GPU + Grace + memory) is its own device with its own energy counter, and the
    GPU is inside it: 'all' takes the module once, the default (the GPUs) the GPU alone."""
    from lowprof.analysis.devices import choose_devices
    from lowprof.analysis.power import power_traces, summarize_power
    from lowprof.errors import LowprofError
    from lowprof.rundir.specs.nvml import GPU_POWER

    run = RunWriter(tmp_path / "gh", kind="test")
    run.write_frame(GPU_POWER, pd.DataFrame({
        "t_ns": [0, S, 2 * S], "gpu": 0, "power_w": 300.0, "power_instant_w": [290.0, 310.0, 300.0],
        "energy_j": [0.0, 300.0, 600.0], "module_power_w": 450.0, "module_power_instant_w": [440.0, 470.0, 450.0],
        "module_energy_j": [10.0, 465.0, 915.0], "power_limit_w": 900.0}))
    run.finish()
    r = load(run.path)
    df = power_traces(r)
    assert dict(zip(df.device, df.inside)) == {"gpu0": "gpu0:module", "gpu0:module": ""}
    assert choose_devices(df).devices == ["gpu0"] and choose_devices(df, "all").devices == ["gpu0:module"]
    with pytest.raises(LowprofError, match="inside 'gpu0:module'"):
        choose_devices(df, "gpu0,gpu0:module")
    s = summarize_power(r)
    assert (s["gpu0:module"]["energy_j"], s["gpu0:module"]["energy_method"]) == (pytest.approx(905.0), "counter")
    assert s["gpu0:module"]["peak_w"] == 470.0 and s["gpu0:module"]["signal"] == "instant"


def test_rapl_nesting_psys_dram_and_packages(tmp_path):
    """The package's core and uncore planes are inside it; DRAM is a separate RAPL domain (the package excludes
    it), so 'all' adds it; psys (the platform) contains packages and DRAM."""
    from lowprof.analysis.devices import choose_devices
    from lowprof.analysis.power import power_traces

    zones = [("intel-rapl:0", "package-0", 40.0), ("intel-rapl:0:0", "core", 25.0), ("intel-rapl:0:1", "uncore", 5.0),
             ("intel-rapl:0:2", "dram", 8.0), ("intel-rapl:1", "package-1", 30.0)]
    df = power_traces(_cpu_run(tmp_path / "a", zones))
    inside = dict(zip(df.device, df.inside))
    assert inside["rapl:intel-rapl:0:0:core"] == inside["rapl:intel-rapl:0:1:uncore"] == "rapl:intel-rapl:0:package-0"
    assert inside["rapl:intel-rapl:0:2:dram"] == ""
    assert sorted(choose_devices(df, "all").devices) == ["rapl:intel-rapl:0:2:dram", "rapl:intel-rapl:0:package-0",
                                                         "rapl:intel-rapl:1:package-1"]
    assert choose_devices(df).devices == ["rapl:intel-rapl:0:package-0", "rapl:intel-rapl:1:package-1"]
    laptop = power_traces(_cpu_run(tmp_path / "b", [("intel-rapl:0", "package-0", 10.0), ("intel-rapl:1", "psys", 25.0)]))
    assert dict(zip(laptop.device, laptop.inside))["rapl:intel-rapl:0:package-0"] == "rapl:intel-rapl:1:psys"
    assert choose_devices(laptop, "all").devices == ["rapl:intel-rapl:1:psys"]


def test_module_scope_is_labelled_in_lowprof_power(tmp_path, cli):
    """GH200: the module row says what it measures (NVML scopeId 1: GPU + Grace CPU + memory) and that the GPU
    row is inside it, rather than a bare 'gpu0:module'."""
    from lowprof.rundir.specs.nvml import GPU_POWER

    run = RunWriter(tmp_path / "gh", kind="test")
    run.write_frame(GPU_POWER, pd.DataFrame({
        "t_ns": [0, S, 2 * S], "gpu": 0, "power_w": 300.0, "energy_j": [0.0, 300.0, 600.0],
        "module_power_w": 450.0, "module_energy_j": [10.0, 465.0, 915.0], "power_limit_w": 900.0}))
    run.finish()
    r = cli("power", run.path)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "scopeId 1" in ln)
    assert "gpu0:module" in line and "Grace" in line and "gpu0 is inside it" in line


def test_one_devices_flag_selects_the_same_devices_on_every_verb(tmp_path, cli):
    """``--devices`` means the same on every verb (lowprof.analysis.devices): ``lowprof power DIR --devices cpu``
    shows only what that selection takes (here the package, not its core subzone inside it) with the same
    figures as without the flag; ``auto`` is the default; a name the run lacks is one line."""
    import json

    from lowprof.analysis.devices import AUTO, choose_devices
    from lowprof.analysis.power import power_traces, summarize_power

    run = _cpu_run(tmp_path / "r", [("intel-rapl:0", "package-0", 40.0), ("intel-rapl:0:0", "core", 25.0)])
    df = power_traces(run)
    assert choose_devices(df, AUTO) == choose_devices(df) == choose_devices(df, "cpu")
    every = summarize_power(run)
    assert sorted(every) == ["rapl:intel-rapl:0:0:core", "rapl:intel-rapl:0:package-0"]
    r = cli("power", run.path, "--devices", "cpu", "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)["devices"]
    assert list(got) == ["rapl:intel-rapl:0:package-0"]
    assert got["rapl:intel-rapl:0:package-0"]["energy_j"] == pytest.approx(every["rapl:intel-rapl:0:package-0"]["energy_j"])
    # 40 W over the span of its power readings (1 s to 6 s: the first reading has no power), from the counter
    assert got["rapl:intel-rapl:0:package-0"]["energy_j"] == pytest.approx(200.0)
    bad = cli("power", run.path, "--devices", "gpu0")
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "no power readings for ['gpu0']" in bad.stderr

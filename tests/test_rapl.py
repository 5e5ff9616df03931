"""The rapl probe on fake powercap trees: units, wrap-around, and unreadable counters."""

from __future__ import annotations

import shutil

import pytest

from lowprof.probes.base import ProbeContext
from lowprof.probes.rapl import RaplProbe, unwrap_uj
from lowprof.clock import RunClock
from tests._fake_sysfs import rapl_tree, run_as_nobody, set_uj, world_dir

MAX = 262_143_328_850


def _ctx():
    return ProbeContext(clock=RunClock.start())


def test_energy_and_power_with_a_wrap(tmp_path):
    root = rapl_tree(tmp_path, package_uj=MAX - 2_000_000, dram_uj=10_000_000)
    assert RaplProbe.available(root) is None
    p = RaplProbe(root)
    p.start(_ctx())
    first = {r["domain"]: r for r in p.sample(0)["rapl"]}
    assert set(first) == {"package-0", "core", "dram"}
    assert first["dram"]["energy_j"] == 0 and first["dram"]["power_w"] is None
    set_uj(root, "intel-rapl:0", 3_000_000)            # wrapped: 2 J to the top, 3 J after
    set_uj(root, "intel-rapl:0/intel-rapl:0:1", 14_000_000)
    rows = {r["domain"]: r for r in p.sample(500_000_000)["rapl"]}
    assert rows["package-0"]["energy_j"] == pytest.approx(5.0)
    assert rows["package-0"]["power_w"] == pytest.approx(10.0)  # 5 J / 0.5 s
    assert rows["dram"]["energy_j"] == pytest.approx(4.0) and rows["dram"]["power_w"] == pytest.approx(8.0)
    assert p.facts()["wraps"] == {"intel-rapl:0": 1}
    assert rows["package-0"]["zone"] == "intel-rapl:0" and rows["dram"]["zone"] == "intel-rapl:0:1"


def test_unwrap_by_hand():
    assert unwrap_uj(100, 250, MAX) == 150
    assert unwrap_uj(MAX - 10, 5, MAX) == 15


def test_no_powercap_here_says_why(tmp_path):
    assert "no RAPL zones" in RaplProbe.available(tmp_path / "missing")


def _read_as_nobody(root):
    def fn():
        avail = RaplProbe.available(root)
        p = RaplProbe(root)
        p.start(_ctx())
        rows = p.sample(0)["rapl"]
        return {"avail": avail, "domains": sorted(r["domain"] for r in rows), "facts": p.facts()}
    return run_as_nobody(fn)


def test_unreadable_counters_give_the_reason_not_zero():
    root = rapl_tree(world_dir())
    try:
        (root / "intel-rapl:0" / "intel-rapl:0:1" / "energy_uj").chmod(0o000)  # dram: root-only
        got = _read_as_nobody(root)
        assert got["avail"] is None and got["domains"] == ["core", "package-0"]
        assert "permission denied" in got["facts"]["unreadable"]["intel-rapl:0:1"]
        for z in ("intel-rapl:0", "intel-rapl:0/intel-rapl:0:0"):
            (root / z / "energy_uj").chmod(0o000)
        reason = run_as_nobody(lambda: RaplProbe.available(root))
        assert "permission denied" in reason and "no RAPL counter readable" in reason
        with pytest.raises(AssertionError, match="PermissionError"):  # start() refuses rather than record zeros
            _read_as_nobody(root)
    finally:
        shutil.rmtree(root)


def test_a_zone_that_fails_one_read_is_read_again(tmp_path):
    """A counter that cannot be read once (the file gone for a moment) costs that zone one row; the probe goes
    on with every zone, and the energy across the gap is kept (the counter is cumulative)."""
    root = rapl_tree(tmp_path, package_uj=0, dram_uj=0)
    p = RaplProbe(root)
    p.start(_ctx())
    p.sample(0)
    f = root / "intel-rapl:0" / "energy_uj"
    f.rename(f.with_suffix(".away"))
    rows = {r["domain"]: r for r in p.sample(1_000_000_000)["rapl"]}
    assert "package-0" not in rows and "dram" in rows
    f.with_suffix(".away").rename(f)
    set_uj(root, "intel-rapl:0", 30_000_000)
    rows = {r["domain"]: r for r in p.sample(2_000_000_000)["rapl"]}
    assert rows["package-0"]["energy_j"] == pytest.approx(30.0) and rows["package-0"]["power_w"] == pytest.approx(15.0)
    assert p.facts()["read_errors"]["intel-rapl:0"]["count"] == 1

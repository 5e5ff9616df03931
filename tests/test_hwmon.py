"""The hwmon probe on a fake GH200 sysfs tree (Grace ACPI power meters) and a missing permission."""

from __future__ import annotations

import shutil

import pytest

from lowprof.clock import RunClock
from lowprof.probes.base import ProbeContext
from lowprof.probes.hwmon import HwmonProbe, find_sensors
from tests._fake_sysfs import grace_hwmon_tree, run_as_nobody, world_dir


def test_grace_meters_labels_and_units(tmp_path):
    root = grace_hwmon_tree(tmp_path)
    assert HwmonProbe.available(root) is None
    p = HwmonProbe(root)
    p.start(ProbeContext(clock=RunClock.start()))
    rows = {r["label"]: r for r in p.sample(123)["hwmon_power"]}
    assert rows["Module Power Socket 0"]["power_w"] == pytest.approx(812.0)
    assert rows["Grace Power Socket 0"]["power_w"] == pytest.approx(121.5)
    assert rows["CPU Power Socket 0"]["power_w"] == pytest.approx(80.25)
    assert rows["SysIO Power Socket 0"]["power_w"] == pytest.approx(25.0)
    assert rows["Module Power Socket 0"]["chip"] == "power_meter"
    assert rows["Module Power Socket 0"]["sensor"] == "hwmon0/device/power1_average"
    assert rows["PPT"]["power_w"] == pytest.approx(45.0) and rows["PPT"]["chip"] == "amdgpu"
    assert rows["Socket energy"]["energy_j"] == pytest.approx(3.0) and rows["Socket energy"]["power_w"] is None
    assert len(rows) == 6  # the nvme temperature chip has no power sensor
    assert all(r["t_ns"] == 123 for r in rows.values())


def test_sensor_that_disappears_is_noted_and_others_go_on(tmp_path):
    root = grace_hwmon_tree(tmp_path)
    p = HwmonProbe(root)
    p.start(ProbeContext(clock=RunClock.start()))
    (root / "hwmon4" / "power1_average").unlink()
    rows = p.sample(0)["hwmon_power"]
    assert len(rows) == 5 and "hwmon4/power1_average" in p.facts()["read_errors"]


def test_nothing_here(tmp_path):
    assert "does not exist" in HwmonProbe.available(tmp_path / "none")
    (tmp_path / "hwmon0").mkdir()
    (tmp_path / "hwmon0" / "name").write_text("nvme\n")
    assert "no hwmon power or energy sensors" in HwmonProbe.available(tmp_path)


def test_missing_permission_is_reported():
    root = grace_hwmon_tree(world_dir())
    try:
        (root / "hwmon0" / "device" / "power1_average").chmod(0o000)  # module meter unreadable

        def fn():
            s, bad = find_sensors(root)
            return {"labels": sorted(x["label"] for x in s), "bad": bad}

        got = run_as_nobody(fn)
        assert "Module Power Socket 0" not in got["labels"] and "Grace Power Socket 0" in got["labels"]
        assert got["bad"] == {"hwmon0/device/power1_average": "permission denied"}
        for f in root.rglob("*"):
            if f.name.startswith(("power1_average", "energy1_input")):
                f.chmod(0o000)
        reason = run_as_nobody(lambda: HwmonProbe.available(root))
        assert "no hwmon power sensor readable" in reason and "permission denied" in reason
    finally:
        shutil.rmtree(root)


def test_sampler_writes_rapl_and_hwmon_tables_that_lowprof_power_reads(tmp_path):
    from lowprof.analysis.power import summarize_power
    from lowprof.probes.rapl import RaplProbe
    from lowprof.probes.sampler import Sampler
    from lowprof.rundir import RunWriter, load
    from tests._fake_sysfs import rapl_tree, set_uj

    hw = grace_hwmon_tree(tmp_path / "hwmon")
    pc = rapl_tree(tmp_path / "powercap", package_uj=0)
    run = RunWriter(tmp_path / "run", kind="test")

    class StepClock:  # the sampler stamps rows with this clock: 0, 1, 2 s
        t = -10**9

        def t_ns(self):
            return self.t

    ctx = ProbeContext(clock=StepClock())
    s = Sampler(run, [HwmonProbe(hw), RaplProbe(pc)], ctx, interval_s=1.0)
    for k in range(3):
        ctx.clock.t += 10**9
        set_uj(pc, "intel-rapl:0", 50_000_000 * k)                # package: 50 W
        (hw / "hwmon5" / "energy1_input").write_text(f"{3_000_000 + 20_000_000 * k}\n")  # 20 W
        (hw / "hwmon0" / "device" / "power1_average").write_text(f"{(800 + 10 * k) * 10**6}\n")
        s.tick()
    s.stop()
    run.finish()
    got = summarize_power(load(run.path))
    assert got["rapl:intel-rapl:0:package-0"]["mean_w"] == pytest.approx(50)
    assert got["rapl:intel-rapl:0:package-0"]["energy_counter_j"] == pytest.approx(50)  # from its first power reading
    assert got["hwmon:Socket energy (hwmon5/energy1_input)"]["mean_w"] == pytest.approx(20)
    module = got["hwmon:Module Power Socket 0 (hwmon0/device/power1_average)"]
    assert (module["median_w"], module["peak_w"]) == (pytest.approx(810), pytest.approx(820))
    assert module["energy_integrated_j"] == pytest.approx((800 + 810) / 2 + (810 + 820) / 2)


def _grace_probe(root, monkeypatch):
    from tests._fake_sysfs import enodata_reads

    enodata_reads(monkeypatch)
    p = HwmonProbe(root)
    p.start(ProbeContext(clock=RunClock.start()))
    return p


def test_meters_follow_the_firmware_definitions(tmp_path, monkeypatch):
    """Labels, units and averaging intervals as NVIDIA's firmware defines the Grace meters (50 ms default,
    50 ms-1 s accepted, mW in firmware -> µW in sysfs); the interval is kept per sensor."""
    from tests._fake_sysfs import grace_meters

    p = _grace_probe(grace_hwmon_tree(tmp_path), monkeypatch)
    facts = {s["label"]: s for s in p.facts()["sensors"]}
    for m in grace_meters(0):
        assert facts[m["oem_info"]]["average_interval_ms"] == m["average_interval_ms"] == 50
    assert facts["PPT"].get("average_interval_ms") is None


@pytest.mark.parametrize("kernel", ["new", "old"])
def test_the_firmware_error_value_is_no_reading_and_the_sensor_stays(tmp_path, monkeypatch, kernel):
    """The firmware answers 0xFFFFFFFF when its telemetry is not valid: older kernels print it as
    4294967295000 µW, newer ones fail the read with ENODATA. Either way it is no reading (not 4.3 MW), and a
    meter that has no data at start or fails one read is sampled again, not dropped for the run."""
    from tests._fake_sysfs import set_meter

    root = grace_hwmon_tree(tmp_path, {"Module Power Socket 0": None}, kernel=kernel)
    p = _grace_probe(root, monkeypatch)
    assert "hwmon0/device/power1_average" not in p.facts()["unreadable"]
    first = {r["label"]: r for r in p.sample(0)["hwmon_power"]}
    assert "Module Power Socket 0" not in first and first["Grace Power Socket 0"]["power_w"] == pytest.approx(121.5)
    set_meter(root, "hwmon0", 700_000, kernel)
    second = {r["label"]: r for r in p.sample(1)["hwmon_power"]}
    assert second["Module Power Socket 0"]["power_w"] == pytest.approx(700.0)
    set_meter(root, "hwmon0", None, kernel)
    assert "Module Power Socket 0" not in {r["label"] for r in p.sample(2)["hwmon_power"]}
    set_meter(root, "hwmon0", 710_000, kernel)
    assert {r["label"]: r for r in p.sample(3)["hwmon_power"]}["Module Power Socket 0"]["power_w"] == pytest.approx(710.0)
    assert p.facts()["read_errors"]["hwmon0/device/power1_average"]["count"] == 2


def test_grace_rails_are_inside_their_module(tmp_path):
    """Module Power Socket N includes Grace Power Socket N, which includes the CPU and SysIO rails: a sum of
    'all' devices takes the module once, not its parts again."""
    from lowprof.analysis.devices import choose_devices
    from lowprof.analysis.power import power_traces
    from lowprof.probes.sampler import Sampler
    from lowprof.rundir import RunWriter, load

    hw = grace_hwmon_tree(tmp_path / "hwmon")
    run = RunWriter(tmp_path / "run", kind="test")

    class StepClock:
        t = 0

        def t_ns(self):
            return self.t

    ctx = ProbeContext(clock=StepClock())
    s = Sampler(run, [HwmonProbe(hw)], ctx, interval_s=1.0)
    for k in range(2):
        ctx.clock.t = k * 10**9
        s.tick()
    s.stop()
    run.finish()
    df = power_traces(load(run.path))
    inside = dict(zip(df.device, df.inside))
    module = "hwmon:Module Power Socket 0 (hwmon0/device/power1_average)"
    grace = "hwmon:Grace Power Socket 0 (hwmon1/device/power1_average)"
    assert inside[grace] == module and inside["hwmon:CPU Power Socket 0 (hwmon2/device/power1_average)"] == grace
    assert sorted(choose_devices(df, "all").devices) == sorted(
        [module, "hwmon:PPT (hwmon4/power1_average)", "hwmon:Socket energy (hwmon5/energy1_input)"])
    assert choose_devices(df, "cpu").devices == [grace]
    assert set(df[df.device == module].signal) == {"hwmon average 50 ms"}

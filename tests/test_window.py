"""`lowprof.window`: time and energy per device of a block of the caller's code while the sampler runs.

Energy is checked by hand on fake RAPL and hwmon trees (tests/_fake_sysfs.py) whose counters and power
readings the test sets between the sampler's ticks; the CPU-only cases on this VM's real (absent) probes."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import asdict, fields

import pytest

import lowprof
from lowprof.clock import ENV_ORIGIN
from lowprof.rundir.specs.marks import MARKS_FILE
from lowprof.probes.base import ProbeContext
from lowprof.probes.hwmon import HwmonProbe
from lowprof.rundir.specs.host import HWMON_POWER
from lowprof.probes.nvml import NvmlProbe
from lowprof.probes.nvml_record import ReplayNVML
from lowprof.probes.rapl import RaplProbe
from lowprof.probes.sampler import Sampler
from lowprof.rundir import ENV_RUN_DIR, RunWriter
from tests._fake_sysfs import grace_hwmon_tree, rapl_tree, set_meter, set_uj

PKG, DRAM = "rapl:intel-rapl:0:package-0", "rapl:intel-rapl:0:1:dram"
HWMON_TABLE = HWMON_POWER.name
MODULE = "hwmon:Module Power Socket 0 (hwmon0/device/power1_average)"


class FakeHost:
    """A run directory being recorded in this process, over fake RAPL and hwmon trees; the test ticks the
    sampler itself after setting the counters, so every reading's value is known."""

    def __init__(self, tmp_path, monkeypatch, nvml=None) -> None:
        self.pc = rapl_tree(tmp_path / "powercap", package_uj=1_000_000, dram_uj=500_000)
        self.hw = grace_hwmon_tree(tmp_path / "hwmon")
        self.run = RunWriter(tmp_path / "run", kind="run")
        probes = [RaplProbe(self.pc), HwmonProbe(self.hw)] + ([NvmlProbe(nvml=nvml)] if nvml is not None else [])
        self.sampler = Sampler(self.run, probes, ProbeContext(clock=self.run.clock), interval_s=1.0)
        self.run.save()  # what Sampler.start does: the probes' status reaches the manifest
        monkeypatch.setenv(ENV_RUN_DIR, str(self.run.path))
        monkeypatch.setenv(ENV_ORIGIN, self.run.clock.env_value())
        self.set_at: list[tuple[float, float, float]] = []  # (package J, dram J, module W) set before each tick

    def tick(self, package_j: float, dram_j: float, module_w: float) -> None:
        set_uj(self.pc, "intel-rapl:0", round(package_j * 1e6))
        set_uj(self.pc, "intel-rapl:0/intel-rapl:0:1", round(dram_j * 1e6))
        set_meter(self.hw, "hwmon0", round(module_w * 1000))
        self.set_at.append((package_j, dram_j, module_w))
        self.sampler.tick()
        self.run.flush()

    def times(self, table: str = "rapl", keep=lambda r: r["zone"] == "intel-rapl:0") -> list[int]:
        """The run-clock time of each tick's reading (default: the package's), read with pyarrow from the
        stream on disk."""
        import pyarrow as pa

        with open(self.run.path / "tables" / f"{table}.arrows", "rb") as f:
            t = pa.ipc.open_stream(f).read_all().to_pylist()
        return [r["t_ns"] for r in t if keep(r)]

    def tick_after_the_window_ends(self, values: tuple[float, float, float]) -> threading.Thread:
        """A tick made once the window's end mark is written (the window then waits for it)."""

        def later():
            marks = self.run.path / MARKS_FILE
            while not (marks.exists() and '"kind":"end"' in marks.read_text()):
                time.sleep(0.005)
            self.tick(*values)

        th = threading.Thread(target=later, daemon=True)
        th.start()
        return th


def _interp(t, ts, vs):
    """The piecewise-linear value at t through (ts, vs), by hand (t inside [ts[0], ts[-1]])."""
    for (t0, v0), (t1, v1) in zip(zip(ts, vs), zip(ts[1:], vs[1:])):
        if t0 <= t <= t1:
            return v0 + (t - t0) / (t1 - t0) * (v1 - v0)
    raise AssertionError(f"{t} outside {ts[0]}..{ts[-1]}")


def _trapezoid(a, b, ts, ps):
    """∫_a^b of the piecewise-linear power through (ts, ps), by hand: trapezoids between the readings inside,
    the power interpolated at a and b."""
    pts = [(a, _interp(a, ts, ps))] + [(t, p) for t, p in zip(ts, ps) if a < t < b] + [(b, _interp(b, ts, ps))]
    return sum((p0 + p1) / 2 * (t1 - t0) / 1e9 for (t0, p0), (t1, p1) in zip(pts, pts[1:]))


def test_energy_per_device_by_counter_and_by_integration(tmp_path, monkeypatch):
    host = FakeHost(tmp_path, monkeypatch)
    host.tick(1.0, 0.5, 800)
    time.sleep(0.02)
    host.tick(3.0, 0.5, 800)
    time.sleep(0.01)
    with lowprof.window("q17") as w:
        assert w.duration_s is None and w.energy_j == {}  # filled when the block ends
        time.sleep(0.02)
        host.tick(7.0, 1.5, 1000)
        time.sleep(0.02)
        th = host.tick_after_the_window_ends((8.0, 1.5, 1100))
    th.join(5)
    ts = host.times()
    assert len(ts) == 4 and ts[1] < w.start_t_ns < ts[2] < w.end_t_ns < ts[3]
    pkg, dram, module = ([v[i] for v in host.set_at] for i in range(3))
    a, b = w.start_t_ns, w.end_t_ns
    # The module's readings on their own times (the hwmon probe reads after RAPL: ms later on a busy VM).
    ts_module = host.times(HWMON_TABLE, lambda r: r["sensor"] == "hwmon0/device/power1_average")
    want = {PKG: _interp(b, ts, pkg) - _interp(a, ts, pkg), DRAM: _interp(b, ts, dram) - _interp(a, ts, dram),
            MODULE: _trapezoid(a, b, ts_module, module)}
    for dev, j in want.items():
        assert w.energy_j[dev] == pytest.approx(j, rel=1e-3), dev
        assert w.power_w[dev] == pytest.approx(w.energy_j[dev] / w.duration_s)
    assert w.energy_method[PKG] == w.energy_method[DRAM] == "counter"
    assert w.energy_method[MODULE].startswith("integrated hwmon average")
    assert w.duration_s == pytest.approx((b - a) / 1e9)
    # The CPU's figure is the package (core and dram are inside or beside it; GPUs: none here).
    assert w.total_devices == [PKG] and w.total_energy_j == pytest.approx(want[PKG], rel=1e-3)
    assert w.reason is None and w.run_dir == str(host.run.path) and w.name == "q17"
    json.dumps(asdict(w))  # plain data
    # Once the run is finished, `lowprof power`'s breakdown by phase sees the window as its mark, with its energy.
    from lowprof.analysis.power import phase_breakdown
    from lowprof.marks import write_marks_table

    host.sampler.stop()
    host.run.finish()
    write_marks_table(host.run.path)
    by_phase = phase_breakdown(lowprof.load(host.run.path)).set_index(["phase", "device"])
    # The window's edges are its marks' stamps (not taken beside them: on a busy VM they drifted apart by ms).
    assert by_phase.loc[("q17", PKG), "start_s"] * 1e9 == pytest.approx(w.start_t_ns, abs=1)
    assert by_phase.loc[("q17", PKG), "duration_s"] * 1e9 == pytest.approx(w.end_t_ns - w.start_t_ns, abs=1)
    for dev in want:
        assert by_phase.loc[("q17", dev), "energy_j"] == pytest.approx(w.energy_j[dev], rel=1e-3)


GPU_ENERGY_MJ = [1_000_000, 1_003_000, 1_011_000, 1_012_500]  # NVML total energy at each tick (mJ)


def _one_gpu_driver(path, ticks: int) -> ReplayNVML:
    """Recorded NVML answers of one V100-like GPU whose driver has only the classic calls (field values
    refused): energy from nvmlDeviceGetTotalEnergyConsumption, in mJ, stamped at the sampler's read."""
    per_tick = [("nvmlDeviceGetPowerUsage", [], [{"value": 300_000}] * ticks),
                ("nvmlDeviceGetTotalEnergyConsumption", [], [{"value": e} for e in GPU_ENERGY_MJ[:ticks]]),
                ("nvmlDeviceGetEnforcedPowerLimit", [], [{"value": 300_000}] * ticks),
                ("nvmlDeviceGetClockInfo", [1], [{"value": 1530}] * ticks),
                ("nvmlDeviceGetClockInfo", [2], [{"value": 877}] * ticks),
                ("nvmlDeviceGetUtilizationRates", [], [{"value": {"gpu": 100, "memory": 40}}] * ticks),
                ("nvmlDeviceGetTemperature", [0], [{"value": 60}] * ticks),
                ("nvmlDeviceGetCurrentClocksEventReasons", [], [{"value": 1}] * ticks)]
    once = [("nvmlDeviceGetName", [], [{"value": "Tesla V100-SXM2-16GB"}]), ("nvmlDeviceGetUUID", [], [{"value": "GPU-x"}]),
            ("nvmlDeviceGetPowerManagementLimitConstraints", [], [{"value": [150000, 300000]}]),
            ("nvmlDeviceGetPowerManagementDefaultLimit", [], [{"value": 300000}]),
            ("nvmlDeviceGetArchitecture", [], [{"value": 5}]), ("nvmlDeviceGetCudaComputeCapability", [], [{"value": [7, 0]}]),
            ("nvmlDeviceGetFieldValues", [[185, 186, 83]], [{"error": 13}]),
            ("nvmlDeviceGetFieldValues", [[[185, 1], [186, 1], [191, 1]]], [{"error": 13}])]
    lines = [{"format": "lowprof-nvml-replay", "version": 1, "synthetic": True, "source": "hand-written test file"},
             {"fn": "nvmlInit", "gpu": None, "args": [], "value": None},
             {"fn": "nvmlDeviceGetCount", "gpu": None, "args": [], "value": 1},
             {"fn": "nvmlDeviceGetHandleByIndex", "gpu": None, "args": [0], "value": {"handle": 0}}]
    lines += [{"fn": fn, "gpu": 0, "args": args} | a for fn, args, answers in once + per_tick for a in answers]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return ReplayNVML(path)


def test_gpu_energy_from_the_nvml_counter(tmp_path, monkeypatch):
    host = FakeHost(tmp_path, monkeypatch, nvml=_one_gpu_driver(tmp_path / "v100.jsonl", 4))
    host.tick(1.0, 0.5, 800)
    time.sleep(0.01)
    host.tick(3.0, 0.5, 800)
    with lowprof.window("q17") as w:
        time.sleep(0.02)
        host.tick(7.0, 1.5, 1000)
        time.sleep(0.02)
        th = host.tick_after_the_window_ends((8.0, 1.5, 1100))
    th.join(5)
    ts = host.times("gpu_power", lambda r: r["gpu"] == 0)
    e = [mj / 1e3 for mj in GPU_ENERGY_MJ]  # J
    want = _interp(w.end_t_ns, ts, e) - _interp(w.start_t_ns, ts, e)
    assert w.energy_j["gpu0"] == pytest.approx(want, rel=1e-6) and w.energy_method["gpu0"] == "counter"
    assert w.power_w["gpu0"] == pytest.approx(want / w.duration_s)
    # A GPU in the run: the default figure is the GPUs' (as in `lowprof power`), the host's devices beside it.
    assert w.total_devices == ["gpu0"] and w.total_energy_j == pytest.approx(want, rel=1e-6)
    assert PKG in w.energy_j and w.reason is None


def test_the_window_is_a_begin_end_mark_of_its_name(tmp_path, monkeypatch):
    from lowprof.rundir.specs.marks import read_marks_file

    host = FakeHost(tmp_path, monkeypatch)
    host.tick(1.0, 0.5, 800)
    w = lowprof.window("decode", wait_s=0)
    m = w.begin()
    time.sleep(0.01)
    assert w.end() is m
    marks = read_marks_file(host.run.path / MARKS_FILE)
    assert marks[["name", "kind"]].values.tolist() == [["decode", "begin"], ["decode", "end"]]
    assert marks.t_ns.iloc[0] <= m.start_t_ns and m.end_t_ns <= marks.t_ns.iloc[1]


def test_a_window_past_the_last_reading_says_its_energy_is_partial(tmp_path, monkeypatch):
    host = FakeHost(tmp_path, monkeypatch)
    host.tick(1.0, 0.5, 800)
    time.sleep(0.01)
    host.tick(2.0, 0.5, 800)
    with lowprof.window("late", wait_s=0.2) as w:  # no reading comes after it: the wait gives up
        time.sleep(0.01)
    assert w.energy_j[PKG] == 0.0  # the counter is known only up to the last reading, before the window
    assert "readings end" in w.reason and "before the window's end" in w.reason


def test_outside_a_recording_only_the_duration(monkeypatch):
    monkeypatch.delenv(ENV_RUN_DIR, raising=False)
    t0 = time.monotonic()
    with lowprof.window("q") as w:
        time.sleep(0.05)
    assert 0.05 <= w.duration_s <= time.monotonic() - t0
    assert w.energy_j == {} and w.start_t_ns is None and "not inside a lowprof recording" in w.reason


def test_bad_names_are_one_clear_error():
    with pytest.raises(lowprof.LowprofError, match="non-empty string"):
        lowprof.window("")
    with pytest.raises(lowprof.LowprofError, match="ended before it began"):
        lowprof.window("x").end()


def test_measurement_documents_every_unit():
    doc = lowprof.Measurement.__doc__
    for f in fields(lowprof.Measurement):
        assert f"``{f.name}``" in doc, f.name
    for unit in ("(s)", "(J)", "(W)", "ns since"):
        assert unit in doc


WORKLOAD = """
import json, sys
from dataclasses import asdict
import lowprof
with lowprof.window("q17") as w:
    sum(i * i for i in range(300_000))
print(json.dumps(asdict(w)))
"""


def test_cpu_only_lowprof_run_has_no_energy_and_says_why(tmp_path, cli):
    """On this VM (no NVML, RAPL or hwmon) a window inside `lowprof run` has its time, its marks, no energy."""
    p = cli("run", "-q", "--out", tmp_path / "run", "--", sys.executable, "-c", WORKLOAD)
    assert p.returncode == 0, p.stderr
    w = json.loads(p.stdout.strip().splitlines()[-1])
    run = lowprof.load(tmp_path / "run")
    probes = run.manifest["probes"]
    if any((probes.get(n) or {}).get("status") == "ok" for n in ("nvml", "rapl", "hwmon")):
        pytest.skip("this machine records power: the CPU-only case does not apply")
    assert w["energy_j"] == {} and w["power_w"] == {} and w["total_energy_j"] is None
    for n in ("nvml", "rapl", "hwmon"):
        assert f"{n}: {probes[n]['reason']}" in w["reason"]
    marks = run["marks"]
    assert marks[["name", "kind"]].values.tolist() == [["q17", "begin"], ["q17", "end"]]
    assert w["duration_s"] == pytest.approx((w["end_t_ns"] - w["start_t_ns"]) / 1e9)
    assert marks.t_ns.iloc[0] <= w["start_t_ns"] < w["end_t_ns"] <= marks.t_ns.iloc[1] <= run.manifest["end_t_ns"]


def test_inside_profile_without_power_probes(tmp_path):
    with lowprof.profile(out=tmp_path / "p", probes="system") as p:
        with lowprof.window("region") as w:
            time.sleep(0.02)
    assert w.energy_j == {} and w.reason == "no power probe in this recording (probes: system)"
    assert p.run["marks"][["name", "kind"]].values.tolist() == [["region", "begin"], ["region", "end"]]

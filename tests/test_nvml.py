"""The nvml probe driven through its own code path by recorded NVML answers (tests/data/power).

The fixture is SYNTHETIC (no GPU was available when it was made; see tests/data/power/README.md);
a file from ``python -m lowprof.cli._nvml_record`` on a GPU replays the same way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lowprof.errors import ProbeError
from lowprof.probes.nvml import NvmlProbe
from lowprof.probes.nvml_record import ReplayNVML, replay, replay_to_run

DATA = Path(__file__).resolve().parent / "data" / "power"
FIXTURE = DATA / "synthetic_h100x2.nvml.jsonl"


def _recorded(fn: str, gpu: int) -> list:
    """The recorded answers of one call, read straight from the file."""
    out = []
    for line in FIXTURE.read_text().splitlines()[1:]:
        r = json.loads(line)
        if r.get("fn") == fn and r.get("gpu") == gpu:
            out.append(r)
    return out


def test_replay_converts_units_and_keeps_every_sample():
    probe, tables = replay(FIXTURE)
    rows = tables["gpu_power"]
    src = ReplayNVML(FIXTURE)
    assert len(rows) == 2 * len(src.ticks)
    g0 = [r for r in rows if r["gpu"] == 0]
    fields = [r for r in _recorded("nvmlDeviceGetFieldValues", 0) if r["args"] == [[185, 186, 83]]]
    clocks = [r for r in _recorded("nvmlDeviceGetClockInfo", 0) if r["args"] == [1]]
    assert len(fields) == len(g0) == len(clocks)
    origin = src.header["origin_realtime_ns"]
    for row, fv, clk in zip(g0, fields, clocks):
        by_id = {v["fieldId"]: v for v in fv["value"]}
        assert row["power_w"] == by_id[185]["value"]["uiVal"] / 1e3          # mW -> W
        assert row["power_instant_w"] == by_id[186]["value"]["uiVal"] / 1e3
        assert row["energy_j"] == by_id[83]["value"]["ullVal"] / 1e3         # mJ -> J
        assert row["sm_clock_hz"] == clk["value"] * 1e6                      # MHz -> Hz
        # each field's own timestamp (µs since the epoch) on the run clock of the recording
        assert row["energy_t_ns"] == by_id[83]["timestamp"] * 1000 - origin
        assert row["power_instant_t_ns"] == by_id[186]["timestamp"] * 1000 - origin
    assert [r["t_ns"] for r in g0][:3] == pytest.approx(src.ticks[:3], abs=5e6)


MODULE_REFUSED = {f"module_{k}": {"0": "NotSupported", "1": "NotSupported"}
                  for k in ("power_average", "power_instant", "energy")}


def test_refused_reading_is_recorded_and_not_asked_again():
    probe, tables = replay(FIXTURE)
    # an H100 SXM board (not a Grace Hopper module) offers no module scope: refused once per GPU
    assert probe.facts()["refused"] == {"power_instant": {"1": "NotSupported"}} | MODULE_REFUSED
    g1 = [r for r in tables["gpu_power"] if r["gpu"] == 1]
    assert all(r["power_instant_w"] is None for r in g1) and all(r["power_w"] > 0 for r in g1)
    assert all(r["module_power_instant_w"] is None for r in tables["gpu_power"])
    # after the first refusal the probe asks GPU 1 for power average and energy only, and no module field
    asked = [r["args"][0] for r in _recorded("nvmlDeviceGetFieldValues", 1)]
    assert asked[0] == [185, 186, 83] and asked[1] == [[185, 1], [186, 1], [191, 1]]
    assert all(a == [185, 83] for a in asked[2:])


def test_what_power_w_means_comes_from_the_architecture():
    """NVML: nvmlDeviceGetPowerUsage / field 185 average over 1 s on Ampere (except GA100) and newer,
    instantaneous on GA100 and older."""
    from lowprof.probes.nvml import power_w_averaging

    probe, _ = replay(FIXTURE)
    d = probe.facts()["devices"][0]
    assert (d["architecture"], d["compute_capability"], d["power_w"]["averaging"]) == ("Hopper", "9.0", "1s")
    assert power_w_averaging(7, (8, 0))[0] == "none"     # A100 / A30 (GA100)
    assert power_w_averaging(7, (8, 6))[0] == "1s"       # A10, A40, RTX 30xx (GA10x)
    assert power_w_averaging(7, None)[0] == "unknown"
    assert power_w_averaging(5, (7, 0))[0] == "none"     # V100
    assert power_w_averaging(8, (8, 9))[0] == "1s"       # L4, L40S (Ada)
    assert power_w_averaging(None, None)[0] == "unknown"


def test_only_the_workload_processes_are_kept():
    _, tables = replay(FIXTURE)
    procs = tables["gpu_processes"]
    assert procs and {p["pid"] for p in procs} == {4242}
    assert {p["gpu"] for p in procs} == {0, 1}
    ts = sorted({p["t_ns"] for p in procs})
    assert all(b - a >= 0.5e9 for a, b in zip(ts, ts[1:]))  # read at most every 0.5 s


def test_power_limits_and_names_in_facts():
    probe, _ = replay(FIXTURE)
    d = probe.facts()["devices"][0]
    assert d["name"] == "NVIDIA H100 80GB HBM3"
    assert (d["power_limit_min_w"], d["power_limit_max_w"], d["power_limit_default_w"]) == (200, 700, 700)


def test_replay_runs_out_loudly(tmp_path):
    lines = FIXTURE.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    # drop every answer to the temperature call: the probe's first sample must fail, not invent one
    cut.write_text("\n".join(l for l in lines if '"nvmlDeviceGetTemperature"' not in l) + "\n")
    probe = NvmlProbe(nvml=ReplayNVML(cut))
    from lowprof.probes.nvml_record import _ReplayContext

    probe.start(_ReplayContext(set()))
    with pytest.raises(ProbeError, match="nvmlDeviceGetTemperature"):
        probe.sample(0)


def test_recorder_file_is_what_the_generator_makes(tmp_path):
    """The synthetic fixture regenerates byte for byte (the recorder path and format did not drift)."""
    script = DATA / "make_nvml_fixture.py"
    text = script.read_text().replace('OUT = HERE / "synthetic_h100x2.nvml.jsonl"', f'OUT = Path({str(tmp_path / "f.jsonl")!r})')
    (tmp_path / "gen.py").write_text(text)
    subprocess.run([sys.executable, str(tmp_path / "gen.py")], check=True, capture_output=True)
    assert (tmp_path / "f.jsonl").read_text() == FIXTURE.read_text()


def test_unavailable_here_with_one_line_reason():
    reason = NvmlProbe.available()
    if reason is None:
        pytest.skip("this machine has an NVIDIA GPU")
    assert "NVML" in reason and "\n" not in reason


def test_replayed_run_through_power_report(tmp_path, cli):
    path = replay_to_run(FIXTURE, tmp_path / "run")
    r = cli("power", path, "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    g0 = got["devices"]["gpu0"]
    # the synthetic model integrates its true power into the counter at 1 ms steps: integrating the
    # 100 ms readings of the lagging 1 s average must land near it
    assert abs(g0["energy_disagreement_percent"]) < 2
    assert g0["limit_w"] == 700 and g0["sw_power_cap_s"] == pytest.approx(0.6, abs=0.01)
    assert got["refused"] == {"power_instant": {"1": "NotSupported"}} | MODULE_REFUSED


@pytest.mark.gpu
@pytest.mark.skipif(NvmlProbe.available() is not None, reason="needs an NVIDIA GPU and driver")
def test_real_gpu_record_and_replay(tmp_path):
    out = tmp_path / "rec.jsonl"
    subprocess.run([sys.executable, "-m", "lowprof.cli._nvml_record", "--out", str(out), "--seconds", "1",
                    "--interval", "0.01"], check=True)
    probe, tables = replay(out)
    assert tables["gpu_power"] and all(r["power_w"] is None or r["power_w"] > 0 for r in tables["gpu_power"])


def _write_replay(path, calls, ticks):
    lines = [{"format": "lowprof-nvml-replay", "version": 1, "synthetic": True, "source": "hand-written test file"}]
    lines += [{"fn": "nvmlInit", "gpu": None, "args": [], "value": None},
              {"fn": "nvmlDeviceGetCount", "gpu": None, "args": [], "value": 1},
              {"fn": "nvmlDeviceGetHandleByIndex", "gpu": None, "args": [0], "value": {"handle": 0}},
              {"fn": "nvmlShutdown", "gpu": None, "args": [], "value": None}]
    for fn, args, answers in calls:
        lines += [{"fn": fn, "gpu": 0, "args": args} | a for a in answers]
    lines += [{"tick": t} for t in ticks]
    path.write_text("\n".join(json.dumps(l) for l in lines) + "\n")


def test_old_driver_without_field_values_uses_the_classic_calls(tmp_path):
    """A driver that refuses field values entirely (FunctionNotFound, 13) and the temperature
    (NotSupported, 3): power and energy come from the classic calls; refusals are asked once."""
    f = tmp_path / "old.jsonl"
    _write_replay(f, [
        ("nvmlDeviceGetName", [], [{"value": "Tesla V100-SXM2-16GB"}]),
        ("nvmlDeviceGetUUID", [], [{"value": "GPU-x"}]),
        ("nvmlDeviceGetPowerManagementLimitConstraints", [], [{"value": [150000, 300000]}]),
        ("nvmlDeviceGetPowerManagementDefaultLimit", [], [{"error": 3}]),
        ("nvmlDeviceGetArchitecture", [], [{"value": 5}]),
        ("nvmlDeviceGetCudaComputeCapability", [], [{"value": [7, 0]}]),
        ("nvmlDeviceGetFieldValues", [[185, 186, 83]], [{"error": 13}]),
        ("nvmlDeviceGetFieldValues", [[[185, 1], [186, 1], [191, 1]]], [{"error": 13}]),
        ("nvmlDeviceGetPowerUsage", [], [{"value": 61250}, {"value": 250500}]),
        ("nvmlDeviceGetTotalEnergyConsumption", [], [{"value": 1000000}, {"value": 1015575}]),
        ("nvmlDeviceGetEnforcedPowerLimit", [], [{"value": 300000}] * 2),
        ("nvmlDeviceGetClockInfo", [1], [{"value": 135}, {"value": 1530}]),
        ("nvmlDeviceGetClockInfo", [2], [{"value": 877}] * 2),
        ("nvmlDeviceGetUtilizationRates", [], [{"value": {"gpu": 0, "memory": 0}}, {"value": {"gpu": 100, "memory": 40}}]),
        ("nvmlDeviceGetTemperature", [0], [{"error": 3}]),
        ("nvmlDeviceGetCurrentClocksEventReasons", [], [{"value": 1}, {"value": 4}]),
    ], ticks=[0, 100_000_000])
    probe, tables = replay(f)
    a, b = tables["gpu_power"]
    assert (a["power_w"], b["power_w"]) == (61.25, 250.5)
    assert (a["energy_j"], b["energy_j"]) == (1000.0, 1015.575)
    assert b["sm_clock_hz"] == 1.53e9 and b["mem_clock_hz"] == 877e6 and b["gpu_util_percent"] == 100
    assert a["temperature_c"] is None and b["clock_event_reasons"] == 4
    assert probe.facts()["refused"] == {"power_limit_default": {"0": "NotSupported"},
                                        "field_values": {"0": "FunctionNotFound"},
                                        "module_field_values": {"0": "FunctionNotFound"},
                                        "temperature": {"0": "NotSupported"}}
    # a V100: the classic call's power is instantaneous, and no field gives the driver's own timestamps
    assert probe.facts()["devices"][0]["power_w"]["averaging"] == "none"
    assert a["energy_t_ns"] is None and a["power_t_ns"] is None


def test_module_scope_on_a_grace_hopper_module(tmp_path):
    """GH200: the GPU-scope fields exclude Grace; fields 185/186/191 at scopeId 1 give the module's power and
    energy, recorded beside the GPU's (hand-written answers in the layout pynvml returns)."""
    def fv(fid, scope, val, vt=1, ts=0):
        member = "ullVal" if vt == 3 else "uiVal"
        return {"fieldId": fid, "scopeId": scope, "timestamp": ts, "latencyUsec": 0, "valueType": vt,
                "nvmlReturn": 0, "value": {member: val}}

    f = tmp_path / "gh200.jsonl"
    _write_replay(f, [
        ("nvmlDeviceGetName", [], [{"value": "NVIDIA GH200 480GB"}]),
        ("nvmlDeviceGetUUID", [], [{"value": "GPU-x"}]),
        ("nvmlDeviceGetPowerManagementLimitConstraints", [], [{"value": [100000, 900000]}]),
        ("nvmlDeviceGetPowerManagementDefaultLimit", [], [{"value": 900000}]),
        ("nvmlDeviceGetArchitecture", [], [{"value": 9}]),
        ("nvmlDeviceGetCudaComputeCapability", [], [{"value": [9, 0]}]),
        ("nvmlDeviceGetFieldValues", [[185, 186, 83]], [
            {"value": [fv(185, 0, 300000), fv(186, 0, 310000), fv(83, 0, 5000000, 3)]},
            {"value": [fv(185, 0, 305000), fv(186, 0, 320000), fv(83, 0, 5031500, 3)]}]),
        ("nvmlDeviceGetFieldValues", [[[185, 1], [186, 1], [191, 1]]], [
            {"value": [fv(185, 1, 450000), fv(186, 1, 470000), fv(191, 1, 9000000, 3)]},
            {"value": [fv(185, 1, 455000), fv(186, 1, 480000), fv(191, 1, 9047500, 3)]}]),
        ("nvmlDeviceGetEnforcedPowerLimit", [], [{"value": 900000}] * 2),
        ("nvmlDeviceGetClockInfo", [1], [{"value": 1980}] * 2),
        ("nvmlDeviceGetClockInfo", [2], [{"value": 2619}] * 2),
        ("nvmlDeviceGetUtilizationRates", [], [{"value": {"gpu": 100, "memory": 40}}] * 2),
        ("nvmlDeviceGetTemperature", [0], [{"value": 50}] * 2),
        ("nvmlDeviceGetCurrentClocksEventReasons", [], [{"value": 0}] * 2),
    ], ticks=[0, 100_000_000])
    probe, tables = replay(f)
    a, b = tables["gpu_power"]
    assert (a["power_instant_w"], a["module_power_instant_w"], a["module_power_w"]) == (310.0, 470.0, 450.0)
    assert (b["energy_j"] - a["energy_j"], b["module_energy_j"] - a["module_energy_j"]) == pytest.approx((31.5, 47.5))
    assert probe.facts()["refused"] == {}


# ---------------------------------------------------------------- driver and binding mismatches (issue 14)
_BASE_CALLS = [
    ("nvmlDeviceGetName", [], [{"value": "NVIDIA A100-SXM4-80GB"}]),
    ("nvmlDeviceGetUUID", [], [{"value": "GPU-y"}]),
    ("nvmlDeviceGetPowerManagementLimitConstraints", [], [{"value": [100000, 400000]}]),
    ("nvmlDeviceGetPowerManagementDefaultLimit", [], [{"value": 400000}]),
    ("nvmlDeviceGetArchitecture", [], [{"value": 7}]),
    ("nvmlDeviceGetCudaComputeCapability", [], [{"value": [8, 0]}]),
    ("nvmlDeviceGetFieldValues", [[185, 186, 83]], [{"error": 13}]),
    ("nvmlDeviceGetFieldValues", [[[185, 1], [186, 1], [191, 1]]], [{"error": 13}]),
    ("nvmlDeviceGetPowerUsage", [], [{"value": 90000}, {"value": 350000}]),
    ("nvmlDeviceGetTotalEnergyConsumption", [], [{"value": 5000}, {"value": 40000}]),
    ("nvmlDeviceGetEnforcedPowerLimit", [], [{"value": 400000}] * 2),
    ("nvmlDeviceGetClockInfo", [1], [{"value": 210}, {"value": 1410}]),
    ("nvmlDeviceGetClockInfo", [2], [{"value": 1593}] * 2),
    ("nvmlDeviceGetUtilizationRates", [], [{"value": {"gpu": 0, "memory": 0}}, {"value": {"gpu": 99, "memory": 60}}]),
    ("nvmlDeviceGetTemperature", [0], [{"value": 31}, {"value": 55}]),
]


def test_driver_before_r535_falls_back_to_the_throttle_reasons_call(tmp_path):
    """nvmlDeviceGetCurrentClocksEventReasons exists from R535 on; an older libnvidia-ml has no such
    symbol and pynvml raises NVMLError_FunctionNotFound (13): the same bits come from
    nvmlDeviceGetCurrentClocksThrottleReasons (NVML API reference, both calls)."""
    f = tmp_path / "r470.jsonl"
    _write_replay(f, _BASE_CALLS + [
        ("nvmlDeviceGetCurrentClocksEventReasons", [], [{"error": 13}]),
        ("nvmlDeviceGetCurrentClocksThrottleReasons", [], [{"value": 1}, {"value": 0x44}]),
    ], ticks=[0, 100_000_000])
    probe, tables = replay(f)
    a, b = tables["gpu_power"]
    assert (a["clock_event_reasons"], b["clock_event_reasons"]) == (1, 0x44)
    assert "clock_event_reasons" not in probe.facts()["refused"]
    assert probe.facts()["clock_event_reasons_call"] == "nvmlDeviceGetCurrentClocksThrottleReasons"


def test_library_mismatch_does_not_stop_the_probe_and_the_v2_call_answers(tmp_path):
    import pynvml

    from lowprof.probes.nvml_record import _ReplayContext

    assert not issubclass(pynvml.NVMLLibraryMismatchError, pynvml.NVMLError)  # why the probe used to die
    f = tmp_path / "mismatch.jsonl"  # what RecordingNVML writes when pynvml raises the mismatch
    _write_replay(f, _BASE_CALLS + [
        ("nvmlDeviceGetCurrentClocksEventReasons", [], [{"value": 0}] * 2),
        ("nvmlDeviceGetComputeRunningProcesses", [], [{"error": "LibraryMismatch", "message": "Unversioned function "
                                                       "called and the pyNVML version does not match the NVML lib"}]),
        ("nvmlDeviceGetComputeRunningProcesses_v2", [], [{"value": [{"pid": 4242, "usedGpuMemory": 1 << 30}]}]),
    ], ticks=[0, 100_000_000])
    probe = NvmlProbe(nvml=ReplayNVML(f))
    probe.start(_ReplayContext({4242}))
    rows = [probe.sample(t) for t in probe.nvml.ticks]
    assert len([r for s in rows for r in s["gpu_power"]]) == 2  # both samples taken: the probe lives on
    procs = [r for s in rows for r in s["gpu_processes"]]
    assert procs == [{"t_ns": 0, "gpu": 0, "pid": 4242, "used_memory_bytes": 1 << 30}]
    assert probe.facts()["compute_processes_call"] == "nvmlDeviceGetComputeRunningProcesses_v2"


def _fake_proc(root, pid_ns: str, nspid: str, pids=()):
    """A /proc with self/status (its NSpid line), self/ns/pid (a link naming the namespace) and PID dirs."""
    import os

    (root / "self" / "ns").mkdir(parents=True)
    (root / "self" / "status").write_text(f"Name:\tpython\nPid:\t{nspid.split()[-1]}\nNSpid:\t{nspid}\n")
    os.symlink(pid_ns, root / "self" / "ns" / "pid")
    for p in pids:
        (root / str(p)).mkdir()
        (root / str(p) / "status").write_text(f"Name:\tpython\nNSpid:\t{p}\n")


def test_pid_namespace_from_nspid_and_the_namespace_link(tmp_path):
    from lowprof.probes.nvml import pid_namespace

    host = tmp_path / "host"
    _fake_proc(host, "pid:[4026531836]", "812")
    assert pid_namespace(host) == {"namespace": "pid:[4026531836]", "initial": True, "nspid": [812]}
    nested = tmp_path / "nested"  # procfs of an outer namespace shows both PIDs: 15433 outside, 7 inside
    _fake_proc(nested, "pid:[4026532711]", "15433\t7")
    assert pid_namespace(nested) == {"namespace": "pid:[4026532711]", "initial": False, "nspid": [15433, 7]}
    container = tmp_path / "container"  # a container's own procfs: one PID, but not the initial namespace
    _fake_proc(container, "pid:[4026532999]", "7")
    assert pid_namespace(container)["initial"] is False


def test_gpu_processes_in_a_container_say_why_they_are_empty(tmp_path):
    """NVML names processes by their PIDs in the initial namespace; from inside a container none of them is
    a PID there: the probe says so (refused + note) instead of writing an empty table silently."""
    from lowprof.probes.nvml_record import _ReplayContext

    proc = tmp_path / "proc"
    _fake_proc(proc, "pid:[4026532999]", "1", pids=(1, 7))
    f = tmp_path / "ctr.jsonl"
    _write_replay(f, _BASE_CALLS + [
        ("nvmlDeviceGetCurrentClocksEventReasons", [], [{"value": 0}] * 2),
        ("nvmlDeviceGetComputeRunningProcesses", [], [{"value": [{"pid": 2158771, "usedGpuMemory": 1 << 30}]}]),
    ], ticks=[0, 100_000_000])
    probe = NvmlProbe(nvml=ReplayNVML(f), proc=proc)
    probe.start(_ReplayContext({7}))
    procs = [r for t in probe.nvml.ticks for r in probe.sample(t)["gpu_processes"]]
    probe.stop()
    assert procs == []
    facts = probe.facts()
    assert facts["refused"]["gpu_processes"] == {"0": "OtherPIDNamespace"}
    note = facts["gpu_processes_note"]
    assert "pid:[4026532999]" in note and "2158771" in note and "\n" not in note


def test_gpu_processes_matched_through_nspid_when_procfs_shows_the_outer_pid(tmp_path):
    """The workload is PID 7 in its namespace and 15433 in the outer one that NVML reports."""
    from lowprof.probes.nvml_record import _ReplayContext

    proc = tmp_path / "proc"
    _fake_proc(proc, "pid:[4026532711]", "15433\t7")
    (proc / "7").mkdir()
    (proc / "7" / "status").write_text("Name:\tpython\nNSpid:\t15433\t7\n")
    f = tmp_path / "nested.jsonl"
    _write_replay(f, _BASE_CALLS + [
        ("nvmlDeviceGetCurrentClocksEventReasons", [], [{"value": 0}] * 2),
        ("nvmlDeviceGetComputeRunningProcesses", [], [{"value": [{"pid": 15433, "usedGpuMemory": 2 << 30}]}]),
    ], ticks=[0, 100_000_000])
    probe = NvmlProbe(nvml=ReplayNVML(f), proc=proc)
    probe.start(_ReplayContext({7}))
    procs = [r for t in probe.nvml.ticks for r in probe.sample(t)["gpu_processes"]]
    assert procs == [{"t_ns": 0, "gpu": 0, "pid": 7, "used_memory_bytes": 2 << 30}]
    assert "gpu_processes_note" not in probe.facts()


def test_module_fields_keep_their_own_timestamps(tmp_path):
    """Each module-scope field value (185, 186, 191 at scopeId 1) carries the driver's own timestamp, as the
    GPU-scope ones do; the module's energy counter is placed at field 191's time, not at field 186's (before:
    one module_t_ns, the instantaneous power's, for all three)."""
    def fv(fid, scope, val, ts, vt=1):
        member = "ullVal" if vt == 3 else "uiVal"
        return {"fieldId": fid, "scopeId": scope, "timestamp": ts, "latencyUsec": 0, "valueType": vt,
                "nvmlReturn": 0, "value": {member: val}}

    origin_us = 1_700_000_000_000_000
    f = tmp_path / "gh200.jsonl"
    _write_replay(f, [
        ("nvmlDeviceGetName", [], [{"value": "NVIDIA GH200 480GB"}]),
        ("nvmlDeviceGetUUID", [], [{"value": "GPU-x"}]),
        ("nvmlDeviceGetPowerManagementLimitConstraints", [], [{"value": [100000, 900000]}]),
        ("nvmlDeviceGetPowerManagementDefaultLimit", [], [{"value": 900000}]),
        ("nvmlDeviceGetArchitecture", [], [{"value": 9}]),
        ("nvmlDeviceGetCudaComputeCapability", [], [{"value": [9, 0]}]),
        ("nvmlDeviceGetFieldValues", [[185, 186, 83]], [
            {"value": [fv(185, 0, 300000, origin_us + 1000), fv(186, 0, 310000, origin_us + 2000),
                       fv(83, 0, 5000000, origin_us + 3000, 3)]},
            {"value": [fv(185, 0, 305000, origin_us + 101000), fv(186, 0, 320000, origin_us + 102000),
                       fv(83, 0, 5031500, origin_us + 103000, 3)]}]),
        ("nvmlDeviceGetFieldValues", [[[185, 1], [186, 1], [191, 1]]], [
            {"value": [fv(185, 1, 450000, origin_us + 4000), fv(186, 1, 470000, origin_us + 5000),
                       fv(191, 1, 9000000, origin_us - 20000, 3)]},
            {"value": [fv(185, 1, 455000, origin_us + 104000), fv(186, 1, 480000, origin_us + 105000),
                       fv(191, 1, 9047500, origin_us + 80000, 3)]}]),
        ("nvmlDeviceGetEnforcedPowerLimit", [], [{"value": 900000}] * 2),
        ("nvmlDeviceGetClockInfo", [1], [{"value": 1980}] * 2),
        ("nvmlDeviceGetClockInfo", [2], [{"value": 2619}] * 2),
        ("nvmlDeviceGetUtilizationRates", [], [{"value": {"gpu": 100, "memory": 40}}] * 2),
        ("nvmlDeviceGetTemperature", [0], [{"value": 50}] * 2),
        ("nvmlDeviceGetCurrentClocksEventReasons", [], [{"value": 0}] * 2),
    ], ticks=[0, 100_000_000])
    lines = f.read_text().splitlines()
    header = json.loads(lines[0]) | {"origin_realtime_ns": origin_us * 1000}
    f.write_text("\n".join([json.dumps(header)] + lines[1:]) + "\n")
    probe, tables = replay(f)
    a, b = tables["gpu_power"]
    assert (a["module_power_t_ns"], a["module_power_instant_t_ns"], a["module_energy_t_ns"]) == (4_000_000, 5_000_000, -20_000_000)
    assert b["module_energy_t_ns"] == 80_000_000
    run = replay_to_run(f, tmp_path / "run")
    from lowprof.analysis.power import power_traces
    from lowprof.rundir import load

    m = power_traces(load(run)).query("device == 'gpu0:module'")
    assert m.energy_t_ns.tolist() == [-20_000_000, 80_000_000] and m.t_ns.tolist() == [5_000_000, 105_000_000]

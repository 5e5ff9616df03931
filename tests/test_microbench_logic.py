"""Post-processing of lowprof.microbench that needs no timing: pointer-chase lists, latency-curve levels,
bank-conflict ways, occupancy, ILP x TLP and sub-core tables from stamps, clock summaries, references,
result rows, the suite registry and the one-line error without a GPU.

Fixtures marked CONSTRUCTED are made here from published figures (not measured on a GPU)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lowprof.errors import GPUUnavailable, LowprofError
from lowprof.microbench.benchmarks import instr, launch, memory, regs, sched, smem
from lowprof.microbench.chase import build_chase, footprint_grid, validate_chase, walk_chase
from lowprof.microbench.clockwatch import ClockWatch, summarize_clocks
from lowprof.microbench.curve import curve_levels
from lowprof.microbench.references import load_references, lookup
from lowprof.microbench.registry import BENCHMARKS, benchmark, parse_suite
from lowprof.microbench.results import Result, result_rows
from lowprof.rundir.specs.bench import BENCH_RESULTS
from lowprof.microbench.stats import cycles_to_ns, summarize


# ---------------------------------------------------------------- pointer chase
@pytest.mark.parametrize("slots,stride", [(2, 8), (97, 128), (4096, 128), (64, 2 << 20)])
def test_chase_is_one_cycle_through_every_slot(slots, stride):
    words = build_chase(slots, stride, seed=slots)
    assert words.size * 8 == slots * stride
    validate_chase(words, slots, stride)
    visited = walk_chase(words, 0, slots)
    assert sorted(visited // stride) == list(range(slots))


def test_chase_order_is_not_sequential():
    visited = walk_chase(build_chase(4096, 128, seed=1), 0, 4096) // 128
    sequential = np.mean(np.diff(visited) == 1)
    assert sequential < 0.01  # a stride prefetcher would see no pattern


def test_a_broken_chase_is_rejected():
    words = build_chase(64, 128, seed=3)
    words[0] = words[int(words[0]) // 8]  # skip a slot: a shorter cycle
    with pytest.raises(LowprofError, match="chase"):
        validate_chase(words, 64, 128)
    with pytest.raises(LowprofError, match="multiple of 8"):
        build_chase(10, 12)


def test_footprint_grid_doubles_per_octave():
    g = footprint_grid(4096, 1 << 20, per_octave=2)
    assert g[0] == 4096 and g[-1] == 1 << 20 and len(g) == 17
    assert all(1.3 < b / a < 1.6 for a, b in zip(g, g[1:]))


# ---------------------------------------------------------------- latency curve levels
def _constructed_h100_pcie_curve(seed: int = 0):
    """CONSTRUCTED: gpu-benches' H100 PCIe levels (L1 34, L2 near 265, L2 far 475, HBM 650 cycles) as
    plateaus with steps at 256 KiB (L1+smem), 25 MiB (near half of L2) and 50 MiB (L2), 3 % noise."""
    fp = np.array(footprint_grid(4 << 10, 1 << 30, per_octave=2), dtype=float)
    lat = np.where(fp <= 192 << 10, 34, np.where(fp <= 20 << 20, 265, np.where(fp <= 40 << 20, 475, 650))).astype(float)
    lat *= 1 + 0.03 * np.random.default_rng(seed).standard_normal(lat.size)
    return fp, lat


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_levels_and_knees_of_a_constructed_curve(seed):
    fp, lat = _constructed_h100_pcie_curve(seed)
    got = curve_levels(fp, lat)
    names = [lv["name"] for lv in got["levels"]]
    assert names == ["L1", "L2 near", "L2 far", "DRAM"]
    for lv, want in zip(got["levels"], (34, 265, 475, 650)):
        assert abs(lv["latency"] / want - 1) < 0.05
    knees = [k["knee_bytes"] for k in got["knees"]]
    for k, step in zip(knees, (192 << 10, 20 << 20, 40 << 20)):
        below, above = fp[fp <= step].max(), fp[fp > step].min()
        assert below <= k <= above  # between the last grid point on the lower plateau and the first above


def test_a_flat_curve_is_one_level():
    got = curve_levels([4096 * 2 ** k for k in range(10)], [30.0] * 10)
    assert [lv["name"] for lv in got["levels"]] == ["L1"] and got["knees"] == []


# ---------------------------------------------------------------- shared-memory bank conflicts
@pytest.mark.parametrize("stride", list(range(0, 65)))
def test_bank_ways_follow_gcd(stride):
    assert smem.ways(stride) == smem.expected_ways(stride)


def test_bank_ways_examples():
    assert [smem.ways(s) for s in (1, 2, 4, 8, 16, 32, 3, 6)] == [1, 2, 4, 8, 16, 32, 1, 2]


def test_conflict_fit_recovers_cycles_per_way():
    pts = [(w, 30 + 2 * (w - 1)) for w in (1, 2, 4, 8, 16, 32)]
    fit = smem.conflict_fit(pts)
    assert fit["slope"] == pytest.approx(2.0) and fit["intercept"] == pytest.approx(28.0)


# ---------------------------------------------------------------- occupancy
@pytest.mark.parametrize("regs_per_thread,threads,warps", [
    (32, 256, 64), (64, 256, 32), (96, 256, 16), (108, 256, 16), (128, 256, 16), (255, 256, 8), (40, 1024, 32),
    (16, 32, 32),  # 32 blocks/SM limit
])
def test_theoretical_occupancy_matches_the_cuda_calculator(regs_per_thread, threads, warps):
    # expected values from CUDA's occupancy rules: 64K registers, 256-register allocation unit per warp,
    # 64 warps and 32 blocks per SM (sm_90), worked by hand
    assert regs.theoretical_warps_per_sm(regs_per_thread, threads) == warps


# ---------------------------------------------------------------- instruction tables
def test_latency_and_throughput_from_stamps():
    steps = 256 * 32
    assert instr.chain_latency_cycles(np.array([1000, 1000 + 4 * steps]), steps) == 4.0
    # 4 warps issuing in parallel for 2 x steps cycles each, 10-cycle stagger: 4*32*steps / (2*steps + 30)
    st = np.array([[100 + 10 * w, 100 + 10 * w + 2 * steps] for w in range(4)]).ravel()
    assert instr.throughput_per_sm(st, 4, 1, steps) == pytest.approx(4 * 32 * steps / (2 * steps + 30))


def test_instr_converts_cycles_at_the_clock_its_kernels_ran_at():
    """The model GPU idles at 345 MHz (what NVML reads before any kernel) and runs its kernels at 1980 MHz:
    ns per FFMA must be 4 cycles / 1.98 GHz = 2.02 ns, not 4 / 0.345 GHz = 11.6 ns."""
    from tests._fake_gpu import IDLE_HZ, LATENCY, LOAD_HZ, FakeGpu

    rows = {r.metric: r for r in instr.measure(FakeGpu(), quick=False)}
    assert rows["latency FFMA ns"].value == pytest.approx(LATENCY["ffma"] / LOAD_HZ * 1e9, rel=0.02)
    clock = rows["sm clock FFMA"]
    err = clock.params["rel_error_max"]
    assert 0 < err <= 0.02 and clock.params["globaltimer_tick_ns"] == 1000
    assert clock.value * 1e6 == pytest.approx(LOAD_HZ, rel=err)
    assert clock.params["nvml_sm_clock_hz_before"] == IDLE_HZ  # kept beside it, not used
    assert rows["latency FFMA ns"].value == pytest.approx(LATENCY["ffma"] / LOAD_HZ * 1e9, rel=err)
    assert rows["latency FFMA"].sm_clock_hz == pytest.approx(LOAD_HZ, rel=err)  # bench_results.sm_clock_hz


def test_instr_reports_no_ns_where_the_timer_cannot_pin_the_clock():
    """Quick sizes: ~4 µs kernels against a 1 µs tick leave the clock uncertain by far more than 2 %."""
    from tests._fake_gpu import FakeGpu

    rows = {r.metric: r for r in instr.measure(FakeGpu(), quick=True)}
    assert rows["sm clock FFMA"].params["rel_error_max"] > 0.02
    assert "latency FFMA ns" not in rows and rows["latency FFMA"].value == 4.0


def test_cycles_to_ns_from_an_in_kernel_clock64_globaltimer_pair():
    """CONSTRUCTED pairs as gpu_checks.py's kernel_clock section records them: a 200,000-cycle spin at
    1980 MHz read against a 1 µs %globaltimer (both stamps floored to the tick)."""
    from lowprof.microbench.globaltimer import kernel_clock

    t0 = [1_700_000_000_000_417, 1_700_000_003_100_903, 1_700_000_007_777_001]
    cycles = [200_000, 200_000, 2_000_000]
    ns = [(int(t + c / 1.98) // 1000 - t // 1000) * 1000 for t, c in zip(t0, cycles)]  # hand-floored stamps
    got = kernel_clock(cycles, ns, tick_ns=1000)
    assert got["kernels"] == 3 and got["rel_error_max"] == pytest.approx(3 * 1000 / sum(ns))
    assert got["hz"] == pytest.approx(1.98e9, rel=got["rel_error_max"])
    assert cycles_to_ns(4, got["hz"]) == pytest.approx(4 / 1.98, rel=got["rel_error_max"])


def test_ilp_tlp_table_has_warps_down_and_ilp_across():
    rows = [{"op": "FFMA", "ilp": i, "warps": w, "per_sm": min(128.0, 32 * w * i / 4)} for i in (1, 2, 4) for w in (1, 4)]
    t = instr.ilp_tlp_table(rows)
    assert list(t.columns) == [1, 2, 4]
    assert t.loc[("FFMA", 4), 4] == 128.0 and t.loc[("FFMA", 1), 1] == 8.0


def test_cycles_convert_at_the_clock_read():
    assert cycles_to_ns(1980, 1.98e9) == pytest.approx(1000.0)
    with pytest.raises(LowprofError, match="None"):
        cycles_to_ns(10, None)


def test_summary_median_and_spread():
    s = summarize([1, 2, 3, 4, 100, float("nan")])
    assert s["n"] == 5 and s["median"] == 3 and s["max"] == 100 and s["p95"] > s["median"] > s["p5"]
    with pytest.raises(LowprofError):
        summarize([float("nan")])


# ---------------------------------------------------------------- sub-cores
def test_warp_table_groups_by_subcore():
    # CONSTRUCTED stamps for 8 warps in hardware slots 0..7: slots k and k+4 share sub-core k
    stamps = np.array([[1000 + w, 1000 + w + (2000 if w < 8 else 1000)] for w in range(8)]).ravel()
    ids = np.array([[w, 3] for w in range(8)]).ravel()
    df = sched.warp_table(stamps, ids)
    assert list(df.subcore) == [0, 1, 2, 3, 0, 1, 2, 3]
    assert set(df.sharing) == {2} and list(df.issue_rank) == list(range(8))
    s = sched.subcore_summary(df)
    assert s["warp_mod4_is_subcore"] == 1.0 and s["median_cycles_by_sharing"] == {2: 2000.0}
    ids_shifted = np.array([[w + 1, 3] for w in range(8)]).ravel()
    assert sched.subcore_summary(sched.warp_table(stamps, ids_shifted))["warp_mod4_is_subcore"] == 0.0


# ---------------------------------------------------------------- launch and memory helpers
def test_gpu_gaps_from_globaltimer_stamps():
    assert list(launch.gpu_gaps_us(np.array([0, 1500, 2700, 5000]))) == [1.5, 1.2, 2.3]
    assert launch.gpu_gaps_us(np.array([7])).size == 0


def test_globaltimer_tick_from_reads():
    from lowprof.microbench.globaltimer import tick_from_reads

    # a 1 µs timer read every 40 ns: each kept value is the next microsecond
    assert tick_from_reads([5_000, 6_000, 7_000, 8_000])["tick_ns"] == 1000
    # a 32 ns timer read every 50 ns: steps of 32 and 64 ns; the smallest is the tick
    reads = sorted({(t * 50) // 32 * 32 for t in range(200)})
    got = tick_from_reads(reads)
    assert got["tick_ns"] == 32 and 32 <= got["median_step_ns"] <= 64
    assert tick_from_reads([7])["tick_ns"] is None


def test_globaltimer_tick_measured_by_the_kernel():
    from tests._fake_gpu import FakeGpu

    assert FakeGpu(tick_ns=1000).globaltimer_tick()["tick_ns"] == 1000
    assert FakeGpu(tick_ns=32).globaltimer_tick()["tick_ns"] == 32


def _floored_starts(gap_ns: float, n: int, tick: int, t0: float = 1_700_000_000_000_123.0) -> np.ndarray:
    """CONSTRUCTED: kernels starting every gap_ns, stamped by a %globaltimer that is floored to tick."""
    return np.array([int((t0 + k * gap_ns) // tick * tick) for k in range(n)], dtype=np.int64)


def test_launch_gaps_are_reported_only_as_far_as_the_tick_resolves_them():
    from lowprof.microbench.globaltimer import gap_result
    from lowprof.microbench.stats import summarize

    coarse = _floored_starts(1200.0, 10_000, tick=1000)  # true gap 1.2 µs, 1 µs tick
    assert summarize(launch.gpu_gaps_us(coarse))["median"] == 1.0  # the median of quantised gaps: 17 % low
    r = gap_result("launch", "gpu gap stream", coarse, 1000)
    assert r.value == pytest.approx(1.2, abs=r.params["error_max_us"]) and r.p5 is None and r.p95 is None
    assert r.params["distribution"].startswith("not resolved: a 1000 ns tick")
    fine = _floored_starts(1200.0, 10_000, tick=32)  # the same gaps under a 32 ns tick
    r = gap_result("launch", "gpu gap stream", fine, 32)
    assert r.value == pytest.approx(1.2, abs=0.032) and r.p5 <= r.value <= r.p95
    assert "distribution" not in r.params and r.params["globaltimer_tick_ns"] == 32


def test_bandwidth_counts_reads_and_writes():
    assert [memory.bytes_moved(k, 1000) for k in ("read", "write", "copy", "triad")] == [1000, 1000, 2000, 3000]


# ---------------------------------------------------------------- clocks
def test_clock_summary_flags_throttling_not_idle():
    idle = [{"sm_clock_hz": 1.98e9, "mem_clock_hz": 2.6e9, "reasons": 0x1}]
    assert summarize_clocks(idle)["throttled"] is False
    hot = idle + [{"sm_clock_hz": 1.5e9, "mem_clock_hz": 2.6e9, "reasons": 0x4 | 0x40}]
    s = summarize_clocks(hot)
    assert s["throttled"] is True and s["reasons"] == ["gpu_idle", "sw_power_cap", "hw_thermal_slowdown"]
    assert s["sm_clock_hz_min"] == 1.5e9 and s["sm_clock_hz_median"] == pytest.approx(1.74e9)
    assert summarize_clocks([])["throttled"] is None


def test_clockwatch_samples_through_an_nvml_like_object():
    class FakeNVML:  # answers change per call, like a device whose clock drops
        NVML_CLOCK_SM, NVML_CLOCK_MEM = 1, 2

        def __init__(self):
            self.sm = iter(range(1980, 0, -10))

        def nvmlDeviceGetClockInfo(self, h, kind):
            return next(self.sm) if kind == 1 else 2619

        def nvmlDeviceGetCurrentClocksEventReasons(self, h):
            raise RuntimeError("NotSupported")

    w = ClockWatch(FakeNVML(), handle=0, interval_s=0.001)
    with w:
        pass
    s = w.summary()
    assert s["samples"] >= 2 and s["sm_clock_hz_max"] == 1.98e9 and s["sm_clock_hz_min"] < 1.98e9
    assert s["reasons"] == [] and s["throttled"] is False


def test_clockwatch_reads_throttle_reasons_on_drivers_before_r535():
    """No nvmlDeviceGetCurrentClocksEventReasons symbol (pynvml: NVMLError_FunctionNotFound): the same bits
    come from nvmlDeviceGetCurrentClocksThrottleReasons, so a power-capped benchmark is still flagged."""
    import pynvml

    class R470:
        NVML_CLOCK_SM, NVML_CLOCK_MEM = 1, 2
        NVMLError = pynvml.NVMLError

        def nvmlDeviceGetClockInfo(self, h, kind):
            return 1410 if kind == 1 else 1593

        def nvmlDeviceGetCurrentClocksEventReasons(self, h):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)

        def nvmlDeviceGetCurrentClocksThrottleReasons(self, h):
            return 0x4

    w = ClockWatch(R470(), handle=0, interval_s=0.001)
    with w:
        pass
    s = w.summary()
    assert s["reasons"] == ["sw_power_cap"] and s["throttled"] is True


# ---------------------------------------------------------------- references and rows
def test_every_reference_has_a_source_and_a_known_benchmark():
    refs = load_references()
    assert len(refs) >= 15
    for r in refs:
        assert r.source and r.unit and r.benchmark in set(BENCHMARKS) | {"host"}


def test_reference_lookup_prefers_the_most_specific_gpu():
    pcie = lookup("NVIDIA H100 PCIe", "memory", "latency L1")
    assert pcie and pcie.value == 34 and "gpu-benches" in pcie.source
    assert lookup("NVIDIA H100 80GB HBM3", "memory", "latency L1") is None  # SXM: no PCIe figure
    assert lookup("NVIDIA A100-SXM4-80GB", "instr", "throughput peak FFMA").value == 64
    assert lookup("NVIDIA H100 80GB HBM3", "instr", "throughput peak FFMA").value == 128
    assert lookup("anything", "instr", "latency FFMA", cc="8.6").value == 4  # Volta and later
    assert lookup("anything", "instr", "latency FFMA") is None  # an unknown board of unknown architecture


# NVML / CUDA device names as real tools wrote them: the first four from this repo's real traces (TraceLens's
# H100 Kineto traces and the nvfuser nsys export; pipit's Perlmutter nsys exports), the rest as NVML reports them
# on those boards (H200: seen on this project's lent machine; GH200: NVIDIA's GH200 documentation).
REAL_NAMES = {
    "NVIDIA H100 80GB HBM3": "H100 SXM", "NVIDIA A100-SXM4-80GB": "A100 SXM", "NVIDIA A100-SXM4-40GB": "A100 SXM",
    "Tesla V100-SXM2-16GB": None, "NVIDIA H100 PCIe": "H100 PCIe", "NVIDIA H100 NVL": "H100 NVL",
    "NVIDIA GH200 480GB": "GH200", "NVIDIA H200": "H200 SXM", "NVIDIA H200 NVL": "H200 NVL",
    "NVIDIA A100-PCIE-40GB": "A100 PCIe", "NVIDIA A100 80GB PCIe": "A100 PCIe", "NVIDIA RTX A2000 12GB": None,
}


def test_real_device_names_match_one_board_each():
    from lowprof.microbench.references import board_of

    assert {n: (b.name if b else None) for n, b in ((n, board_of(n)) for n in REAL_NAMES)} == REAL_NAMES
    assert board_of("nvidia h200").name == "H200 SXM"  # case-insensitive, whole name


def test_real_names_from_the_repos_traces_are_in_the_list(traces):
    """The names above marked as from real traces are what those files hold (not typed from memory)."""
    import gzip
    import sqlite3

    seen = set()
    for f in (traces / "tracelens" / "h100").glob("*.json.gz"):
        seen |= {d["name"] for d in json.load(gzip.open(f)).get("deviceProperties", [])}
    for f in (traces / "nsys").glob("*/*.sqlite"):
        try:
            seen |= {r[0] for r in sqlite3.connect(f).execute("SELECT name FROM TARGET_INFO_GPU")}
        except sqlite3.OperationalError:
            continue
    assert {"NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-40GB", "NVIDIA RTX A2000 12GB"} <= seen


def test_references_apply_to_the_boards_they_were_measured_on():
    # The H200's launch figures do not apply to a GH200 (a substring match of "H200" once said they did)
    assert lookup("NVIDIA GH200 480GB", "launch", "launch throughput graph") is None
    assert lookup("NVIDIA H200", "launch", "launch throughput graph").value == 1.25
    # H100 SXM boards are named "NVIDIA H100 80GB HBM3": the SXM figures reach them, and not the PCIe part
    assert lookup("NVIDIA H100 80GB HBM3", "memory", "bandwidth triad peak").value == 2950
    assert lookup("NVIDIA H100 PCIe", "memory", "bandwidth triad peak") is None
    assert lookup("NVIDIA H100 80GB HBM3", "h2d", "bandwidth pinned h2d peak").value == 64
    assert lookup("NVIDIA GH200 480GB", "h2d", "bandwidth pinned h2d peak").value == 450
    # per-SM-per-clock figures belong to a compute capability, whatever the board
    for name in ("NVIDIA H200", "NVIDIA GH200 480GB", "NVIDIA H100 PCIe"):
        assert lookup(name, "instr", "throughput peak FFMA").value == 128
    assert lookup("some future sm_90 board", "instr", "throughput peak DFMA", cc="90").value == 64
    assert lookup("some future sm_90 board", "instr", "throughput peak DFMA") is None


def test_a_reference_measured_another_way_says_what_differs():
    stream = lookup("NVIDIA H200", "launch", "launch throughput stream")
    assert stream.value == 2.4 and "CuPy" in stream.differs and "C++" in stream.differs
    assert lookup("NVIDIA H200", "launch", "launch throughput graph").differs is None  # one graph launch: like for like
    rows = result_rows([Result("launch", "launch throughput stream", 3.1, "us")], "NVIDIA H200")
    assert rows[0]["reference_value"] == 2.4 and rows[0]["reference_differs"] == stream.differs
    import pandas as pd

    from lowprof.microbench.show import markdown_table

    assert f"| {stream.differs} |" in markdown_table(pd.DataFrame(rows)).splitlines()[2]


def test_reference_file_without_a_source_or_with_an_unknown_board_is_refused(tmp_path):
    p = tmp_path / "refs.json"
    head = {"format": "lowprof-microbench-references", "version": 2, "boards": {"X": {"cc": "9.0", "names": ["X"]}}}
    p.write_text(json.dumps(head | {"references": [{"boards": ["X"], "benchmark": "memory", "metric": "m", "value": 1,
                                                    "unit": "u"}]}))
    with pytest.raises(LowprofError, match="no source"):
        load_references(p)
    p.write_text(json.dumps(head | {"references": [{"boards": ["Y"], "benchmark": "memory", "metric": "m", "value": 1,
                                                    "unit": "u", "source": "s"}]}))
    with pytest.raises(LowprofError, match=r"unknown boards \['Y'\]"):
        load_references(p)


def test_result_rows_carry_clocks_and_references(tmp_path):
    import lowprof
    from lowprof.rundir import RunWriter

    rs = [Result("memory", "latency L1", 33.0, "cycles", 32.0, 35.0, 3, {"from": "mean"}),
          Result("smem", "cycles per extra way", 2.0, "cycles")]
    clocks = summarize_clocks([{"sm_clock_hz": 1.755e9, "mem_clock_hz": 1.593e9, "reasons": 0x4}])
    rows = result_rows(rs, "NVIDIA H100 PCIe", clocks)
    run = RunWriter(tmp_path / "r", kind="bench")
    run.manifest["microbench"] = {"suite": "gpu", "gpu_name": "NVIDIA H100 PCIe", "compute_capability": "90",
                                  "sm_count": 114, "benchmarks": {"memory": {"status": "ok", "elapsed_s": 41.5,
                                                                             "clocks": clocks}}}
    run.table(BENCH_RESULTS).extend(rows)
    run.finish()
    df = lowprof.load(tmp_path / "r")["bench_results"]
    assert list(df.metric) == ["latency L1", "cycles per extra way"]
    assert df.reference_value.iloc[0] == 34 and df.reference_value.isna().iloc[1]
    assert df.throttled.all() and df.throttle_reasons.iloc[0] == "sw_power_cap"
    assert json.loads(df.params_json.iloc[0]) == {"from": "mean"} and df.sm_clock_hz.iloc[0] == 1.755e9
    from lowprof.microbench.report import section_microbench
    from lowprof.microbench.show import markdown_table

    sec = section_microbench(lowprof.load(tmp_path / "r"))
    assert sec["memory"] == "ok in 41.5 s, SM 1755 MHz, THROTTLED (sw_power_cap)"
    assert sec["memory latency L1"].startswith("33 cycles (p5-p95 32-35); reference 34 cycles (RRZE-HPC gpu-benches")
    assert "smem cycles per extra way" not in sec  # no reference: not in the report's comparison

    md = markdown_table(df).splitlines()
    assert len(md) == 4 and "| 33 cycles | 32-35 | 34 cycles | RRZE-HPC gpu-benches" in md[2] and md[2].endswith("| yes |")
    assert "nan" not in md[3] and "| 2 cycles |  |  |  |" in md[3]


# ---------------------------------------------------------------- registry and CLI
def test_every_benchmark_runs_alone_and_documents_its_time():
    assert parse_suite(None) == list(BENCHMARKS)
    assert parse_suite("memory,launch") == ["memory", "launch"]
    total = 0.0
    for name in BENCHMARKS:
        mod = benchmark(name)
        assert mod.NAME == name and mod.HELP and callable(mod.measure)
        total += mod.EXPECTED_S
    assert total < 300  # the default suite on an H100 stays under 5 minutes
    with pytest.raises(LowprofError, match="'nope'"):
        parse_suite("launch,nope")


def test_gpu_session_without_a_gpu_raises_gpu_unavailable():
    from lowprof.microbench.gpu import GpuSession, gpu_unavailable_reason

    if gpu_unavailable_reason() is None:
        pytest.skip("a GPU is present")
    with pytest.raises(GPUUnavailable, match="no usable CUDA GPU"):
        GpuSession()


def test_bench_gpu_without_a_gpu_prints_one_line_and_fails(tmp_path):
    from lowprof.microbench.gpu import gpu_unavailable_reason

    if gpu_unavailable_reason() is None:
        pytest.skip("a GPU is present")
    p = subprocess.run([sys.executable, "-m", "lowprof", "bench", "gpu", "--suite", "launch", "--out", str(tmp_path / "r")],
                       capture_output=True, text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no usable CUDA GPU" in lines[0] and "Traceback" not in p.stderr
    assert not (tmp_path / "r").exists()  # nothing half-made


def test_bench_gpu_list_needs_no_gpu():
    p = subprocess.run([sys.executable, "-m", "lowprof", "bench", "gpu", "--list", "--json"], capture_output=True, text=True)
    assert p.returncode == 0
    listed = json.loads(p.stdout)
    assert list(listed) == list(BENCHMARKS) and all(v["expected_s_h100"] > 0 for v in listed.values())

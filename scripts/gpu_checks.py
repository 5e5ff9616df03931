"""Device checks for lowprof's GPU-facing assumptions (from the GPU review; run by scripts/gpu_session.sh).

    python3 scripts/gpu_checks.py OUT.json
    python3 scripts/gpu_checks.py --summarize-traces RUN_DIR... OUT.json

Each section is independent (an exception is recorded, the rest still runs) and time-boxed by its own
loop bounds. Reads only: sets no clock, power limit or mode. Sections:

  versions      driver / NVML / CUDA / torch / cupy / cupti-python versions
  nvml_calls    every NVML call the nvml probe makes, once (and the older calls it falls back to): value or
                NVMLError code, latency (us); field values 185/186/83/191 at scope 0 (GPU) and 1 (module)
  pid_namespace does nvmlDeviceGetComputeRunningProcesses list this process's own PID? (and
                lowprof.probes.nvml.pid_namespace: which namespace lowprof thinks it is in)
  cadence       NVML polled every ~1 ms, 2.5 s idle then 2.5 s of bf16 matmuls: how often power_average,
                power_instant and the energy counter change (and their field timestamps); energy counter
                delta vs trapezoid of instantaneous power; SM clock / reasons at 10 ms
  clock_ramp    SM clock (NVML, 1 ms) after an idle second when a 100 ms spin kernel starts
  kernel_clock  clock64 cycles vs %globaltimer ns inside one spin kernel (effective SM Hz) beside the
                SM clock NVML reports, and the SM clock NVML reports just before (what instr.py used to use)
  globaltimer   the tick of %globaltimer: distinct increments seen by a thread reading it in a loop, beside
                lowprof.microbench.globaltimer.measure_tick's answer
  nvrtc_sass    the NVRTC cubins CuPy would build (same options as lowprof.microbench.gpu), disassembled:
                hot-loop opcode counts against lowprof.microbench.offline.EXPECTED_HOT_OPCODE
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

OUT: dict = {}


def section(fn):
    t0 = time.monotonic()
    try:
        OUT[fn.__name__] = fn()
    except Exception as e:  # noqa: BLE001 - record and go on
        OUT[fn.__name__] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=3)}
    OUT[fn.__name__ + "_s"] = round(time.monotonic() - t0, 3)
    print(f"gpu_checks: {fn.__name__} in {OUT[fn.__name__ + '_s']} s", flush=True)
    return fn


def _nvml():
    from lowprof import nvml_adapter

    pynvml = nvml_adapter.init()  # counted: the checks' many opens share one nvmlInit
    return pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)


def _enc(v):
    from lowprof.probes.nvml_record import _encode

    return _encode(v)


def _call(N, fn, *args):
    t0 = time.perf_counter_ns()
    try:
        v = {"ok": True, "value": _enc(fn(*args))}
    except N.NVMLError as e:
        v = {"ok": False, "error": int(e.value), "class": type(e).__name__}
    except N.NVMLLibraryMismatchError as e:
        v = {"ok": False, "error": "LibraryMismatch", "class": type(e).__name__, "message": str(e)}
    except Exception as e:  # noqa: BLE001
        v = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    v["us"] = round((time.perf_counter_ns() - t0) / 1e3, 1)
    return v


def versions():
    N, h = _nvml()
    out = {"nvml": _call(N, N.nvmlSystemGetNVMLVersion), "driver": _call(N, N.nvmlSystemGetDriverVersion),
           "cuda_driver": _call(N, N.nvmlSystemGetCudaDriverVersion_v2), "name": _call(N, N.nvmlDeviceGetName, h)}
    for m in ("torch", "cupy", "pynvml", "cupti", "numba", "pandas", "pyarrow", "numpy"):
        try:
            mod = __import__(m)
            out[m] = getattr(mod, "__version__", "?")
        except Exception as e:  # noqa: BLE001
            out[m] = f"missing: {e}"
    try:
        import torch

        out["torch_cuda"] = torch.version.cuda
        from torch.profiler import supported_activities

        out["torch_profiler_activities"] = sorted(a.name for a in supported_activities())
    except Exception as e:  # noqa: BLE001
        out["torch_cuda"] = str(e)
    try:
        from cupti import cupti

        out["cupti_version"] = cupti.get_version()
    except Exception as e:  # noqa: BLE001
        out["cupti_version"] = f"{type(e).__name__}: {e}"
    return out


def nvml_calls():
    N, h = _nvml()
    calls = {
        "field_values_probe": (N.nvmlDeviceGetFieldValues, h, [185, 186, 83]),
        "field_values_scopes": (N.nvmlDeviceGetFieldValues, h, [(185, 0), (185, 1), (186, 0), (186, 1), (186, 2),
                                                               (83, 0), (191, 0), (191, 1)]),
        "power_usage": (N.nvmlDeviceGetPowerUsage, h),
        "total_energy": (N.nvmlDeviceGetTotalEnergyConsumption, h),
        "enforced_limit": (N.nvmlDeviceGetEnforcedPowerLimit, h),
        "limit_constraints": (N.nvmlDeviceGetPowerManagementLimitConstraints, h),
        "default_limit": (N.nvmlDeviceGetPowerManagementDefaultLimit, h),
        "sm_clock": (N.nvmlDeviceGetClockInfo, h, N.NVML_CLOCK_SM),
        "mem_clock": (N.nvmlDeviceGetClockInfo, h, N.NVML_CLOCK_MEM),
        "max_sm_clock": (N.nvmlDeviceGetMaxClockInfo, h, N.NVML_CLOCK_SM),
        "utilization": (N.nvmlDeviceGetUtilizationRates, h),
        "temperature": (N.nvmlDeviceGetTemperature, h, 0),
        "reasons": (N.nvmlDeviceGetCurrentClocksEventReasons, h),
        "throttle_reasons": (N.nvmlDeviceGetCurrentClocksThrottleReasons, h),
        "supported_reasons": (N.nvmlDeviceGetSupportedClocksEventReasons, h),
        "compute_processes": (N.nvmlDeviceGetComputeRunningProcesses, h),
        "compute_processes_v2": (N.nvmlDeviceGetComputeRunningProcesses_v2, h),
        "memory": (N.nvmlDeviceGetMemoryInfo, h),
        "pcie_gen": (N.nvmlDeviceGetCurrPcieLinkGeneration, h),
        "pcie_width": (N.nvmlDeviceGetCurrPcieLinkWidth, h),
        "power_samples": (N.nvmlDeviceGetSamples, h, N.NVML_TOTAL_POWER_SAMPLES, 0),
    }
    return {k: _call(N, *v) for k, v in calls.items()}


def pid_namespace():
    import torch

    torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    N, h = _nvml()
    time.sleep(0.2)
    procs = N.nvmlDeviceGetComputeRunningProcesses(h)
    status = Path("/proc/self/status").read_text()
    nspid = [ln for ln in status.splitlines() if ln.startswith("NSpid")]
    from lowprof.probes.nvml import pid_namespace as lowprof_view

    return {"my_pid": os.getpid(), "nvml_pids": [int(p.pid) for p in procs],
            "used_memory": [p.usedGpuMemory for p in procs], "mine_listed": os.getpid() in {p.pid for p in procs},
            "nspid": nspid, "lowprof_pid_namespace": lowprof_view()}


def cadence():
    import numpy as np
    import torch

    N, h = _nvml()
    rows, stop = [], threading.Event()
    clk = []

    def poll():
        k = 0
        while not stop.is_set():
            t = time.monotonic_ns()
            try:
                fv = N.nvmlDeviceGetFieldValues(h, [185, 186, 83])
                r = [t]
                for f in fv:
                    r += [f.nvmlReturn, f.timestamp, (f.value.uiVal if f.valueType == 1 else f.value.ullVal)]
                rows.append(r)
            except N.NVMLError as e:
                rows.append([t, int(e.value)])
            if k % 10 == 0:
                try:
                    clk.append([t, N.nvmlDeviceGetClockInfo(h, N.NVML_CLOCK_SM),
                                N.nvmlDeviceGetCurrentClocksEventReasons(h)])
                except N.NVMLError:
                    pass
            k += 1
            time.sleep(0.001)

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    th = threading.Thread(target=poll, daemon=True)
    th.start()
    time.sleep(2.5)
    t_load0 = time.monotonic_ns()
    n = 0
    while time.monotonic_ns() - t_load0 < 2.5e9:
        for _ in range(10):
            a @ b
        torch.cuda.synchronize()
        n += 10
    t_load1 = time.monotonic_ns()
    time.sleep(1.5)
    stop.set()
    th.join()
    good = np.array([r for r in rows if len(r) == 10], dtype=np.float64)
    out = {"samples": len(rows), "load_matmuls": n, "load_window_ns": [t_load0, t_load1],
           "load_tflops": 2 * 8192 ** 3 * n / ((t_load1 - t_load0) / 1e9) / 1e12}
    names = {"power_average_mw": 1, "power_instant_mw": 4, "energy_mj": 7}
    for name, j in names.items():
        ret, ts, val = good[:, j], good[:, j + 1], good[:, j + 2]
        ok = ret == 0
        out[name] = {"ok_fraction": float(ok.mean()) if len(ok) else 0.0}
        if ok.sum() < 3:
            continue
        t, v, fts = good[ok, 0], val[ok], ts[ok]
        ch = np.flatnonzero(np.diff(v) != 0) + 1
        fch = np.flatnonzero(np.diff(fts) != 0) + 1
        out[name].update({
            "distinct_values": int(len(np.unique(v))),
            "value_change_interval_ms_median": float(np.median(np.diff(t[ch])) / 1e6) if len(ch) > 2 else None,
            "field_timestamp_change_interval_ms_median": float(np.median(np.diff(fts[fch])) / 1e3) if len(fch) > 2 else None,
            "read_minus_field_timestamp_ms_median": float(np.median(t / 1e6 - (fts / 1e3 - (time.time_ns() - time.monotonic_ns()) / 1e6))),
        })
    try:
        t = good[:, 0]
        load = (t >= t_load0) & (t <= t_load1) & (good[:, 4] == 0) & (good[:, 7] == 0)
        tt, p, e = t[load], good[load, 6] / 1e3, good[load, 9] / 1e3  # W, J
        trap = float(np.sum((p[1:] + p[:-1]) / 2 * np.diff(tt)) / 1e9)
        out["load_energy_counter_j"] = float(e[-1] - e[0])
        out["load_energy_trapezoid_instant_j"] = trap
        out["load_mean_instant_w"] = float(p.mean())
        pa = good[load, 3] / 1e3
        out["load_mean_average_w"] = float(pa.mean())
    except Exception as ex:  # noqa: BLE001
        out["load_energy_error"] = str(ex)
    try:  # the driver's own power-sample buffer: its real sampling cadence (cf. arXiv:2312.02741)
        from lowprof.probes.nvml_record import _VALUE_MEMBER

        vt, samples = N.nvmlDeviceGetSamples(h, N.NVML_TOTAL_POWER_SAMPLES, 0)
        member = _VALUE_MEMBER.get(int(vt), "uiVal")
        ts = np.array(sorted(int(s.timeStamp) for s in samples), dtype=np.int64)
        out["driver_power_samples"] = {
            "n": len(samples), "value_type": int(vt),
            "interval_ms_median": float(np.median(np.diff(ts)) / 1e3) if len(ts) > 2 else None,
            "span_s": float((ts[-1] - ts[0]) / 1e6) if len(ts) > 1 else None,
            "last_mw": [float(getattr(s.sampleValue, member)) for s in samples][-40:]}
    except Exception as ex:  # noqa: BLE001
        out["driver_power_samples"] = {"error": f"{type(ex).__name__}: {ex}"}
    out["sm_clock_10ms"] = clk
    out["raw_every_10th"] = [r for r in rows[::10]]
    return out


_SPIN = r"""
extern "C" __global__ void spin(long long* out, long long cycles) {
  long long c0 = clock64(); unsigned long long g0, g1;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g0));
  while (clock64() - c0 < cycles) { }
  long long c1 = clock64();
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g1));
  if (threadIdx.x == 0 && blockIdx.x == 0) { out[0] = c1 - c0; out[1] = (long long)(g1 - g0); }
}
extern "C" __global__ void gt_ticks(unsigned long long* out, int n) {
  for (int i = 0; i < n; ++i) { unsigned long long g; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g)); out[i] = g; }
}
"""


def _spin_module():
    import cupy

    return cupy, cupy.RawModule(code=_SPIN, backend="nvrtc")


def clock_ramp():
    cupy, mod = _spin_module()
    N, h = _nvml()
    spin = mod.get_function("spin")
    out = cupy.zeros(2, dtype=cupy.int64)
    spin((1,), (32,), (out, cupy.int64(1000)))  # load the module
    cupy.cuda.runtime.deviceSynchronize()
    time.sleep(1.0)
    idle = N.nvmlDeviceGetClockInfo(h, N.NVML_CLOCK_SM)
    samples = []
    t0 = time.monotonic_ns()
    spin((132,), (128,), (out, cupy.int64(200_000_000)))  # ~100 ms at 2 GHz
    while time.monotonic_ns() - t0 < 150e6:
        samples.append(((time.monotonic_ns() - t0) / 1e6, N.nvmlDeviceGetClockInfo(h, N.NVML_CLOCK_SM)))
        time.sleep(0.001)
    cupy.cuda.runtime.deviceSynchronize()
    c, g = (int(x) for x in out.get())
    return {"idle_sm_mhz": idle, "samples_ms_mhz": samples, "spin_cycles": c, "spin_ns": g,
            "effective_mhz": c / g * 1e3 if g else None}


def kernel_clock():
    """What instr.py does (NVML SM clock read before any kernel) vs the clock inside a kernel."""
    cupy, mod = _spin_module()
    N, h = _nvml()
    spin = mod.get_function("spin")
    out = cupy.zeros(2, dtype=cupy.int64)
    time.sleep(1.0)
    before = N.nvmlDeviceGetClockInfo(h, N.NVML_CLOCK_SM)
    res = []
    for cycles in (20_000, 200_000, 2_000_000, 20_000_000):  # ~10 us .. ~10 ms: instr.py's kernels are ~20 us
        spin((1,), (32,), (out, cupy.int64(cycles)))
        cupy.cuda.runtime.deviceSynchronize()
        c, g = (int(x) for x in out.get())
        res.append({"cycles": c, "ns": g, "effective_mhz": c / g * 1e3 if g else None,
                    "nvml_after_mhz": N.nvmlDeviceGetClockInfo(h, N.NVML_CLOCK_SM)})
    from lowprof.microbench.globaltimer import kernel_clock as lowprof_clock

    both = lowprof_clock([r["cycles"] for r in res], [r["ns"] for r in res], tick_ns=None)
    return {"nvml_sm_mhz_before_any_kernel": before, "spins": res, "lowprof_kernel_clock_mhz": (both["hz"] or 0) / 1e6}


def globaltimer():
    import numpy as np

    cupy, mod = _spin_module()
    f = mod.get_function("gt_ticks")
    n = 4096
    buf = cupy.zeros(n, dtype=cupy.uint64)
    f((1,), (1,), (buf, np.int32(n)))
    cupy.cuda.runtime.deviceSynchronize()
    f((1,), (1,), (buf, np.int32(n)))
    cupy.cuda.runtime.deviceSynchronize()
    v = buf.get().astype(np.int64)
    d = np.diff(v)
    nz = d[d > 0]
    out = {"reads": n, "span_ns": int(v[-1] - v[0]), "distinct_values": int(len(np.unique(v))),
           "increments_ns_seen": sorted({int(x) for x in nz})[:20], "min_increment_ns": int(nz.min()) if len(nz) else None,
           "zero_increments_fraction": float((d == 0).mean())}
    try:
        from lowprof.microbench.gpu import GpuSession

        out["lowprof_measure_tick"] = GpuSession(0).globaltimer_tick()
    except Exception as e:  # noqa: BLE001
        out["lowprof_measure_tick"] = {"error": f"{type(e).__name__}: {e}"}
    return out


def nvrtc_sass():
    import cupy
    from cupy.cuda import compiler

    from lowprof.microbench.offline import EXPECTED_HOT_OPCODE
    from lowprof.microbench.sass import hot_loop, opcode_counts, parse_sass
    from lowprof.microbench.toolchain import disassemble, kernel_names, kernel_source

    cc = cupy.cuda.Device(0).compute_capability
    out = {"cc": cc}
    d = Path("/tmp/nvrtc-cubins")
    d.mkdir(exist_ok=True)
    for name in kernel_names():
        try:
            obj, _ = compiler.compile_using_nvrtc(kernel_source(name), options=(), arch=cc)
            p = d / f"{name}.cubin"
            p.write_bytes(obj if isinstance(obj, bytes) else obj.encode())
            ks = {}
            for k, instrs in parse_sass(disassemble(p)).items():
                want = EXPECTED_HOT_OPCODE.get(k) or EXPECTED_HOT_OPCODE.get(k.split("_ilp")[0])
                counts = opcode_counts(hot_loop(instrs))
                ks[k] = {"top": dict(counts.most_common(4)), "want": want,
                         "want_count": sum(n for op, n in counts.items() if want and (op == want or op.startswith(want + ".")))}
            out[name] = ks
        except Exception as e:  # noqa: BLE001
            out[name] = {"error": f"{type(e).__name__}: {e}"[:400]}
    return out


def summarize_traces(dirs: list[str]) -> dict:
    """Per traced run: launches, clock-skewed / negative-queue / unmatched rows, and per segment what the
    conversion dropped or found missing (pytorch/pytorch#192021: k corrupt head kernel records in segment k)."""
    import numpy as np

    import lowprof
    from lowprof.analysis.launches import per_launch

    res = {}
    for d in dirs:
        try:
            run = lowprof.load(d)
            tr = run.manifest.get("trace", {})
            la = per_launch(run["launches"])
            end = run.manifest.get("end_t_ns") or 0
            gs = la.gpu_start_ns.astype("float64")
            r = {"trace": {k: tr.get(k) for k in ("tracer", "segments", "launches", "ops", "errors", "error", "warnings",
                                                  "launches_empty_reason", "realtime_drift_max_ns",
                                                  "corrupt_gpu_records_dropped", "incomplete_gpu_records_dropped",
                                                  "launch_calls_without_gpu_record")},
                 "per_segment": tr.get("per_segment"),
                 "rows": int(len(la)), "kernels": int((la.kind == "kernel").sum()),
                 "clock_skew": int(la.clock_skew.sum()), "queue_negative": int(la.queue_negative.sum()),
                 "unmatched_cpu": int(la.cpu_start_ns.isna().sum()),
                 "gpu_start_outside_run": int(((gs < -1e9) | (gs > end + 1e9)).sum())}
            if len(la):
                q = la.queue_ns.dropna().astype("int64").to_numpy()
                r["queue_us_p50_p99"] = [float(np.percentile(q, 50)) / 1e3, float(np.percentile(q, 99)) / 1e3] if len(q) else None
            res[d] = r
        except Exception as e:  # noqa: BLE001
            res[d] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=3)}
    return res


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--summarize-traces":
        *dirs, out = argv[1:]
        res = summarize_traces(dirs)
        Path(out).write_text(json.dumps(res, indent=1, default=str))
        print(json.dumps(res, indent=1, default=str)[:4000])
        return 0
    out = Path(argv[0] if argv else "gpu_checks.json")
    for fn in (versions, nvml_calls, pid_namespace, cadence, clock_ramp, kernel_clock, globaltimer, nvrtc_sass):
        section(fn)
        out.write_text(json.dumps(OUT, indent=1, default=str))  # after each section: a timeout keeps the rest
    c = OUT.get("cadence", {})
    OUT["summary"] = {
        "fields": {k: OUT.get("nvml_calls", {}).get(k) for k in ("field_values_probe", "field_values_scopes")},
        "pid_listed": OUT.get("pid_namespace", {}).get("mine_listed"),
        "cadence": {k: c.get(k) for k in ("power_average_mw", "power_instant_mw", "energy_mj", "load_energy_counter_j",
                                          "load_energy_trapezoid_instant_j", "load_mean_instant_w", "load_mean_average_w",
                                          "load_tflops", "driver_power_samples")},
        "idle_vs_kernel_mhz": [OUT.get("kernel_clock", {}).get("nvml_sm_mhz_before_any_kernel"),
                               [s.get("effective_mhz") for s in OUT.get("kernel_clock", {}).get("spins", [])]],
        "globaltimer_min_increment_ns": OUT.get("globaltimer", {}).get("min_increment_ns"),
        "nvrtc_sass_errors": {k: v for k, v in OUT.get("nvrtc_sass", {}).items() if isinstance(v, dict) and "error" in v},
    }
    out.write_text(json.dumps(OUT, indent=1, default=str))
    print(json.dumps(OUT["summary"], indent=1, default=str)[:4000])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

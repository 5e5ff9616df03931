"""Build ``synthetic_h100x2.nvml.jsonl``: a SYNTHETIC NVML replay file (no GPU was available).

A model of two H100 SXM5 boards answers pynvml's calls; the real ``nvml`` probe is run over it
through :class:`lowprof.probes.nvml_record.RecordingNVML`, exactly as the recorder runs it over
pynvml on a GPU machine, so the file holds the calls the probe really makes. Values follow
published H100 SXM5 figures (see README.md here); they are not measurements.

    .venv/bin/python tests/data/power/make_nvml_fixture.py
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from types import SimpleNamespace

import pynvml

from lowprof.probes.nvml import NvmlProbe
from lowprof.probes.nvml_record import FORMAT, VERSION, RecordingNVML, _ReplayContext

HERE = Path(__file__).resolve().parent
OUT = HERE / "synthetic_h100x2.nvml.jsonl"
INTERVAL_NS = 100_000_000  # 100 ms
TICKS = 60                  # 6 s
WORKLOAD_PID, OTHER_PID = 4242, 777
ORIGIN_REALTIME_NS = 1_764_038_000_000_000_000  # the recording's wall-clock origin (field timestamps count from it)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0

    def t_ns(self) -> int:
        self.now += 15_000  # each NVML call ~15 µs
        return self.now


def phase(t_s: float) -> str:
    if t_s < 1.0 or t_s >= 5.0:
        return "idle"
    if t_s < 1.6:
        return "prefill"
    return "decode"


def true_power_w(gpu: int, t_s: float) -> float:
    """The board's 'real' power at t (W): idle ~70 W, prefill at the 700 W cap, decode ~420 W with ripple."""
    p = phase(t_s)
    if p == "idle":
        return 70.0 + 2.0 * math.sin(7 * t_s) + 3 * gpu
    if p == "prefill":
        return 700.0
    return 420.0 + 60.0 * math.sin(2 * math.pi * 3.0 * t_s) + 10 * gpu


class SyntheticH100:
    """pynvml stand-in for two boards; GPU 1 refuses the instantaneous power field (NotSupported)."""

    NVMLError = pynvml.NVMLError

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.tick_ns = 0
        self.handles = [SimpleNamespace(i=0), SimpleNamespace(i=1)]
        self.energy_mj = [86_400_123.0, 91_234_567.0]  # counters since driver load
        self.last_ns = 0
        self.rng = random.Random(4)

    def advance(self, t_ns: int) -> None:
        """Integrate the true power at 1 ms steps into the energy counters."""
        for g in (0, 1):
            t = self.last_ns
            while t < t_ns:
                step = min(1_000_000, t_ns - t)
                self.energy_mj[g] += true_power_w(g, (t + step / 2) / 1e9) * step / 1e6  # W * ms = mJ
                t += step
        self.last_ns = self.tick_ns = t_ns

    def t_s(self) -> float:
        return self.tick_ns / 1e9

    def nvmlInit(self): return None
    def nvmlShutdown(self): return None
    def nvmlDeviceGetCount(self): return 2
    def nvmlDeviceGetHandleByIndex(self, i): return self.handles[i]
    def nvmlDeviceGetName(self, h): return "NVIDIA H100 80GB HBM3"
    def nvmlDeviceGetUUID(self, h): return f"GPU-synthetic-0000-000{h.i}"
    def nvmlDeviceGetPowerManagementLimitConstraints(self, h): return [200000, 700000]
    def nvmlDeviceGetPowerManagementDefaultLimit(self, h): return 700000
    def nvmlDeviceGetEnforcedPowerLimit(self, h): return 700000
    def nvmlDeviceGetArchitecture(self, h): return 9  # NVML_DEVICE_ARCH_HOPPER
    def nvmlDeviceGetCudaComputeCapability(self, h): return (9, 0)

    def _avg_power_mw(self, g: int) -> float:
        """The driver's average: mean true power over the last 1 s (H100 averages over 1 s)."""
        t = self.t_s()
        pts = [true_power_w(g, t - k * 0.01) for k in range(100)]
        return round(1000 * sum(pts) / len(pts))

    def nvmlDeviceGetFieldValues(self, h, ids):
        out = []
        for fid in ids:
            ret, vt, val, scope = 0, 1, None, 0
            if isinstance(fid, tuple):  # (fieldId, scopeId): an H100 SXM board has no module scope (not C2C)
                (fid, scope), ret, val = fid, 3, {"uiVal": 0}
            elif fid == 185:
                val = {"uiVal": int(self._avg_power_mw(h.i))}
            elif fid == 186:
                if h.i == 1:
                    ret, val = 3, {"uiVal": 0}
                else:
                    val = {"uiVal": int(round(1000 * true_power_w(0, self.t_s()) + self.rng.gauss(0, 3000)))}
            elif fid == 83:
                vt, val = 3, {"ullVal": int(self.energy_mj[h.i])}
            out.append(SimpleNamespace(fieldId=fid, scopeId=scope, timestamp=(ORIGIN_REALTIME_NS + self.tick_ns) // 1000,
                                       latencyUsec=0, valueType=vt, nvmlReturn=ret, value=SimpleNamespace(**val)))
        return out

    def nvmlDeviceGetClockInfo(self, h, kind):
        if kind == 2:
            return 2619  # HBM3 memory clock, MHz
        return {"idle": 345, "prefill": 1755, "decode": 1980}[phase(self.t_s())]

    def nvmlDeviceGetUtilizationRates(self, h):
        u = {"idle": (0, 0), "prefill": (100, 38), "decode": (97, 81)}[phase(self.t_s())]
        return SimpleNamespace(gpu=u[0], memory=u[1])

    def nvmlDeviceGetTemperature(self, h, sensor):
        return int(33 + 20 * min(1.0, max(0.0, self.t_s() - 1.0) / 4.0)) + h.i

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        p = phase(self.t_s())
        return {"idle": 0x1, "prefill": 0x4, "decode": 0x0}[p]  # GpuIdle / SwPowerCap / none

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        procs = [SimpleNamespace(pid=OTHER_PID, usedGpuMemory=512 << 20)]
        if phase(self.t_s()) != "idle" or self.t_s() >= 5.0:
            procs.append(SimpleNamespace(pid=WORKLOAD_PID, usedGpuMemory=(60 << 30) + h.i * (1 << 30)))
        return procs


def main() -> None:
    clock = FakeClock()
    model = SyntheticH100(clock)
    rng = random.Random(1)
    with open(OUT, "w") as out:
        out.write(json.dumps({
            "format": FORMAT, "version": VERSION, "synthetic": True,
            "source": "tests/data/power/make_nvml_fixture.py: a model of 2x H100 SXM5 (published limits/clocks), "
                      "NOT a recording; replace with `python -m lowprof.probes.nvml_record` output from a GPU",
            "interval_s": INTERVAL_NS / 1e9, "workload_pids": [WORKLOAD_PID], "origin_realtime_ns": ORIGIN_REALTIME_NS,
            "phases_s": {"idle": [0.0, 1.0], "prefill": [1.0, 1.6], "decode": [1.6, 5.0], "idle_after": [5.0, 6.0]},
        }) + "\n")
        rec = RecordingNVML(model, out, clock)
        probe = NvmlProbe(nvml=rec)
        probe.start(_ReplayContext({WORKLOAD_PID}, ORIGIN_REALTIME_NS))
        for k in range(TICKS):
            t = k * INTERVAL_NS + (rng.randint(0, 400_000) if k else 0)  # sampler jitter up to 0.4 ms
            model.advance(t)
            clock.now = t
            rec.tick(t)
            probe.sample(t)
        probe.stop()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

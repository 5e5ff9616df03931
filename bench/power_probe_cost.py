"""Cost of one sample of the power probes, and whether a 10 ms sampling interval keeps up.

nvml: the probe's own code over the replay source (the driver's time is not in it: on a GPU each
NVML call adds its own latency, see scripts/gpu_power.sh). rapl / hwmon: fake sysfs trees in tmpfs
shaped like a 2-socket host and a GH200 node. Prints microseconds per sample and, for a 2 s run of
the real Sampler at 10 ms, the ticks taken and missed.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lowprof.clock import RunClock  # noqa: E402
from lowprof.probes.base import ProbeContext  # noqa: E402
from lowprof.probes.hwmon import HwmonProbe  # noqa: E402
from lowprof.probes.nvml import NvmlProbe  # noqa: E402
from lowprof.probes.nvml_record import ReplayNVML, _ReplayContext  # noqa: E402
from lowprof.probes.rapl import RaplProbe  # noqa: E402
from lowprof.probes.sampler import Sampler  # noqa: E402
from lowprof.rundir import RunWriter  # noqa: E402
from tests._fake_sysfs import grace_hwmon_tree, rapl_tree  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "power" / "synthetic_h100x2.nvml.jsonl"


def per_sample_us(probe, ticks: list[int]) -> float:
    start = time.perf_counter_ns()
    for t in ticks:
        probe.sample(t)
    return (time.perf_counter_ns() - start) / len(ticks) / 1e3


def main() -> None:
    src = ReplayNVML(FIXTURE)
    nv = NvmlProbe(nvml=src)
    nv.start(_ReplayContext({4242}))
    print(f"nvml  (2 GPUs, replay, probe code only): {per_sample_us(nv, src.ticks):8.1f} us/sample")
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as d:
        root = Path(d)
        rapl_tree(root / "powercap")
        rp = RaplProbe(root / "powercap")
        rp.start(ProbeContext(clock=RunClock.start()))
        print(f"rapl  (3 zones):                         {per_sample_us(rp, [i * 10_000_000 for i in range(2000)]):8.1f} us/sample")
        grace_hwmon_tree(root / "hwmon")
        hp = HwmonProbe(root / "hwmon")
        hp.start(ProbeContext(clock=RunClock.start()))
        print(f"hwmon (6 sensors, GH200 layout):         {per_sample_us(hp, [i * 10_000_000 for i in range(2000)]):8.1f} us/sample")
        writer = RunWriter(root / "run", kind="bench")
        hp2, rp2 = HwmonProbe(root / "hwmon"), RaplProbe(root / "powercap")
        s = Sampler(writer, [hp2, rp2], ProbeContext(clock=writer.clock), interval_s=0.01).start()
        time.sleep(2.0)
        s.stop()
        writer.finish()
        print(f"Sampler at 10 ms with rapl+hwmon for 2 s: {s.ticks} ticks, {s.missed_ticks} missed, "
              f"sampler CPU {s.cpu_s * 1e3:.0f} ms ({100 * s.cpu_s / 2:.1f}% of one core)")


if __name__ == "__main__":
    main()

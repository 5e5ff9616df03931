"""lowprof.window on a fake RAPL package drawing 50 W (tests/_fake_sysfs.py): run from the repository root,
``PYTHONPATH=. python docs/examples/window_fake_rapl.py``; the window should read 50 W x its duration."""

import os, tempfile, threading, time
from pathlib import Path
import lowprof
from lowprof.clock import ENV_ORIGIN
from lowprof.probes.base import ProbeContext
from lowprof.probes.rapl import RaplProbe
from lowprof.probes.sampler import Sampler
from lowprof.rundir import ENV_RUN_DIR, RunWriter
from tests._fake_sysfs import rapl_tree, set_uj

tmp = Path(tempfile.mkdtemp())
pc = rapl_tree(tmp / "powercap", package_uj=0)
writer = RunWriter(tmp / "run", kind="run")
sampler = Sampler(writer, [RaplProbe(pc)], ProbeContext(clock=writer.clock), interval_s=0.1)
os.environ[ENV_RUN_DIR], os.environ[ENV_ORIGIN] = str(writer.path), writer.clock.env_value()
t0 = time.monotonic()

def package_at_50_w():  # the fake package counter: 50 W since t0, updated every 1 ms
    while True:
        set_uj(pc, "intel-rapl:0", round(50e6 * (time.monotonic() - t0)))
        time.sleep(0.001)

threading.Thread(target=package_at_50_w, daemon=True).start()
time.sleep(0.05)
sampler.start()                      # ticks every 0.1 s, flushes every 1 s, as in `lowprof run`
time.sleep(0.25)
with lowprof.window("q17") as w:
    time.sleep(0.6)
sampler.stop()
print(f"duration {w.duration_s:.4f} s")
for d in w.energy_j:
    print(f"{d}: {w.energy_j[d]:.3f} J by {w.energy_method[d]}, {w.power_w[d]:.2f} W")
print(f"total {w.total_energy_j:.3f} J over {w.total_devices}; reason {w.reason}")

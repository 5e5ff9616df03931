"""Two phases of a job, each an energy window (and so a phase that `lowprof stacks --phase` can cut).

    lowprof run --stacks --out runs/windows -- python docs/examples/windows.py
    lowprof stacks runs/windows --phase score
"""

import time

import lowprof


def tokenize(seconds: float) -> int:
    t, n = time.monotonic(), 0
    while time.monotonic() - t < seconds:
        n += len("the quick brown fox jumps over the lazy dog".split())
    return n


def score(seconds: float) -> float:
    t, s = time.monotonic(), 0.0
    while time.monotonic() - t < seconds:
        s += sum(i * 0.5 for i in range(500))
    return s


with lowprof.window("tokenize") as a:
    tokenize(0.5)
with lowprof.window("score") as b:
    score(1.0)
for w in (a, b):
    energy = ", ".join(f"{d} {j:.2f} J ({w.energy_method[d]}, {w.power_w[d]:.1f} W)" for d, j in w.energy_j.items())
    print(f"{w.name}: {w.duration_s:.3f} s; {energy or 'no energy: ' + w.reason}")

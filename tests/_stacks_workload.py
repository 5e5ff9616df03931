"""A CPU workload with two known hot functions, one after the other; writes their run-clock windows.

    python tests/_stacks_workload.py OUT.json [SECONDS]
"""

import json
import sys
import time

from lowprof.clock import RunClock


def spin_alpha(seconds: float) -> int:
    t, n = time.monotonic(), 0
    while time.monotonic() - t < seconds:
        n += sum(i * i for i in range(200))
    return n


def spin_beta(seconds: float) -> int:
    t, n = time.monotonic(), 0
    while time.monotonic() - t < seconds:
        n += len(str(list(range(300))))
    return n


if __name__ == "__main__":
    clock = RunClock.from_env()
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
    time.sleep(0.2)
    w = {"alpha_start_ns": clock.t_ns()}
    spin_alpha(seconds)
    w["alpha_end_ns"] = w["beta_start_ns"] = clock.t_ns()
    spin_beta(seconds)
    w["beta_end_ns"] = clock.t_ns()
    with open(sys.argv[1], "w") as f:
        json.dump(w, f)

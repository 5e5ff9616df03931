"""lowprof: low-level profiling and hardware characterisation for GPU workloads.

Public API::

    run = lowprof.load("lowprof-runs/...")      # manifest + tables as DataFrames
    with lowprof.profile(out="runs/x"): work()  # record a region of your own code
    with lowprof.window("q17") as w: work()     # its time and energy per device: w.duration_s, w.energy_j
"""

__version__ = "0.1.0"

from lowprof.errors import LowprofError, RunDirError  # noqa: E402

# The rest resolves on first use (PEP 562), so `import lowprof; lowprof.mark("x")` inside a
# workload does not pay for pandas and pyarrow.
_LAZY = {
    "load": "lowprof.rundir", "Run": "lowprof.rundir", "load_many": "lowprof.rundir.many",
    "profile": "lowprof._profile", "mark": "lowprof.marks", "trace": "lowprof.tracers.trace_api",
    "window": "lowprof._window", "Measurement": "lowprof._window",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lowprof' has no attribute {name!r}")


__all__ = ["__version__", "load", "load_many", "profile", "mark", "trace", "window", "Measurement", "Run", "LowprofError",
           "RunDirError"]

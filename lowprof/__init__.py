"""lowprof: low-level profiling and hardware characterisation for GPU workloads.

Public API::

    run = lowprof.load("lowprof-runs/...")      # manifest + tables as DataFrames
    with lowprof.profile(out="runs/x"): work()  # record a region of your own code
"""

__version__ = "0.1.0"

from lowprof._profile import profile  # noqa: E402
from lowprof.errors import LowprofError, RunDirError  # noqa: E402
from lowprof.marks import mark  # noqa: E402
from lowprof.rundir import Run, load  # noqa: E402
from lowprof.rundir.many import load_many  # noqa: E402
from lowprof.tracers.trace_api import trace  # noqa: E402

__all__ = ["__version__", "load", "load_many", "profile", "trace", "Run", "LowprofError", "RunDirError"]

"""``lowprof.trace()``: record the GPU launches and CPU ops of a region of your own torch code.

    with lowprof.trace(out="runs/x") as t:
        model(tokens)
    t.run["launches"], t.run["ops"], t.run.manifest["trace"]

The same agent and conversion as ``lowprof run --trace kernels``, in this process: torch.profiler
runs on the calling thread between ``__enter__`` and ``__exit__``, its trace is kept under
``<out>/kineto/`` and converted into the ``launches``, ``ops`` and ``steps`` tables on the run's
clock (CLOCK_MONOTONIC ns since ``__enter__``).
"""

from __future__ import annotations

import os
from pathlib import Path

from lowprof.errors import TraceError
from lowprof.record import default_out_dir
from lowprof.rundir import Run, RunWriter, load

__all__ = ["trace"]


class trace:
    """Context manager: ``with lowprof.trace(out=DIR) as t: ...``; then ``t.run`` is the loaded Run.

    ``segment_s``: export every ``segment_s`` seconds (0, the default: once, at exit); rolling
    needs the main thread. ``force``: overwrite a non-empty ``out``.
    """

    def __init__(self, out: str | os.PathLike | None = None, *, segment_s: float = 0.0, force: bool = False) -> None:
        self.path = Path(out) if out is not None else default_out_dir(f"trace-{os.getpid()}")
        self.segment_s, self.force = segment_s, force
        self.run: Run | None = None
        self._writer: RunWriter | None = None
        self._agent = None

    def __enter__(self) -> "trace":
        from lowprof.tracers._boot._lowprof_kineto_agent import KinetoSegments

        self._writer = RunWriter(self.path, kind="trace", force=self.force)
        self._writer.manifest["workload"] = {"pid": os.getpid()}
        self._writer.save()
        try:
            self._agent = KinetoSegments(str(self.path / "kineto"), self.segment_s).start()
        except ImportError as e:
            self._writer.manifest["error"] = f"torch is not importable: {e}"
            self._writer.finish(status="failed")
            raise TraceError(f"lowprof.trace() needs torch: {e}") from None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        from lowprof.tracers.live import print_warnings, write_trace_tables

        self._agent.close("exit" if exc_type is None else f"exception {exc_type.__name__}")
        entry = write_trace_tables(self._writer, self.path / "kineto", self.segment_s, started="by lowprof.trace()")
        self._writer.finish(status="complete" if exc_type is None else "failed")
        self.run = load(self.path)
        print_warnings(entry)
        if entry.get("error") and exc_type is None:
            raise TraceError(f"lowprof.trace(): {entry['error']}")

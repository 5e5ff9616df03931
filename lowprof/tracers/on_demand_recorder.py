"""The recording side of on-demand tracing (``lowprof run --trace kernels --on-demand``): start the workload
armed (agent listening, no profiler session), and when it ends write every window it was asked for into its
tables. The side that asks for a window (``lowprof attach PID --trace kernels``) is :mod:`lowprof.tracers.on_demand`.

The workload's PYTHONPATH gets ``lowprof/tracers/_boot`` first (as for ``--trace kernels``); with
``$LOWPROF_ON_DEMAND_DIR`` set, its ``sitecustomize.py`` arms ``_lowprof_ondemand_agent`` instead of starting
the profiler. Each window a ``lowprof attach PID --trace kernels`` asks for is exported into this run's
``kineto/`` (and copied into the attach's own run directory); when the workload ends, this run's ``launches``,
``ops`` and ``steps`` hold every window, on this run's clock, and ``manifest["trace"]["on_demand"]`` lists them.
"""

from __future__ import annotations

import os
from pathlib import Path

from lowprof.errors import LowprofError
from lowprof.tracers._boot._lowprof_ondemand_agent import ENV_KINETO_DIR, ENV_SOCK_DIR, ensure_private_dir, runtime_dir, socket_path
from lowprof.tracers.live import boot_pythonpath, print_warnings, write_trace_tables

__all__ = ["OnDemandTrace"]


class OnDemandTrace:
    """The recorder (:class:`lowprof.feature.Recorder`) of ``--trace kernels --on-demand``."""

    def __init__(self, kineto_dir: Path, sock_dir: str) -> None:
        self.kineto_dir, self.sock_dir = Path(kineto_dir), sock_dir

    @classmethod
    def prepare(cls, recording) -> "OnDemandTrace":
        sock_dir = runtime_dir()
        try:
            ensure_private_dir(sock_dir)
        except OSError as e:
            raise LowprofError(f"--on-demand: cannot use {sock_dir} for the agent's socket: {e}") from None
        kdir = recording.path / "kineto"
        kdir.mkdir(exist_ok=True)
        recording.writer.manifest["trace"] = {"mode": "on-demand", "socket_dir": sock_dir}
        return cls(kdir, sock_dir)

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": boot_pythonpath(), ENV_KINETO_DIR: str(self.kineto_dir.resolve()),
                ENV_SOCK_DIR: self.sock_dir}

    def started(self, pid: int, quiet: bool) -> None:
        from lowprof.console import note

        note(f"armed for on-demand kernel tracing: lowprof attach {pid} --trace kernels --duration S", quiet)

    def finished(self, recording, ended) -> None:
        """Every window into this run's tables; ``manifest["trace"]["on_demand"]`` lists them (run clock ns)."""
        from lowprof.tracers.segment_log import read_log

        writer = recording.writer
        pid = writer.manifest.get("workload", {}).get("pid")
        if pid:  # killed before its atexit could remove it (SIGTERM, SIGKILL)
            try:
                os.unlink(socket_path(self.sock_dir, pid))
            except OSError:
                pass
        log = read_log(self.kineto_dir)  # read once: the tables and the window list below
        entry = write_trace_tables(writer, self.kineto_dir, 0.0, started="on demand (lowprof attach --trace kernels)",
                                   log=log)
        origin = writer.clock.origin_monotonic_ns
        windows = [{"pid": e.get("pid"), "window": e.get("window"), "why": e.get("why"), "file": e.get("file"),
                    "start_ns": e["start_monotonic_ns"] - origin, "end_ns": e["end_monotonic_ns"] - origin}
                   for e in log if e.get("event") == "segment" and e.get("window") is not None]
        opened = sum(1 for e in log if e.get("event") == "start" and e.get("window") is not None)
        entry["mode"] = "on-demand"
        entry["socket_dir"] = self.sock_dir
        entry["on_demand"] = {"windows": windows, "windows_lost": opened - len(windows)}
        if not opened and not entry.get("errors"):
            entry["launches_empty_reason"] = ("on-demand: no window was traced (lowprof attach PID --trace kernels "
                                              "--duration S traces one)")
        if ended.signal == "SIGKILL":
            entry["lost"] = "killed by SIGKILL: a window open at that moment was lost"
        else:
            entry.pop("lost", None)
        print_warnings(entry)
        if entry.get("error"):
            from lowprof.errors import TraceError

            raise TraceError(f"--trace kernels --on-demand: {entry['error']}")

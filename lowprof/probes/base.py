"""The probe interface: what every sampler beside a workload implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

from lowprof.clock import RunClock
from lowprof.rundir import TableSpec

__all__ = ["Probe", "ProbeContext"]


@dataclass
class ProbeContext:
    """What a probe may know about the run: the workload's root PID (None: whole machine) and the clock."""

    clock: RunClock
    pid: int | None = None

    def pids(self) -> set[int]:
        """The workload's process tree right now (empty when there is no workload PID or it is gone)."""
        if self.pid is None:
            return set()
        import psutil

        try:
            root = psutil.Process(self.pid)
            return {self.pid} | {c.pid for c in root.children(recursive=True)}
        except psutil.Error:
            return set()


class Probe(abc.ABC):
    """A sampler of one source. Subclasses set ``name`` and ``tables`` and implement the methods.

    Life cycle, driven by :class:`lowprof.probes.sampler.Sampler` on its own thread:
    ``available()`` (cheap, no side effects) -> ``start(ctx)`` -> ``sample(t_ns)`` every interval
    -> ``stop()``. A probe that raises is disabled and the run goes on.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[TableSpec, ...]]

    @classmethod
    def available(cls) -> str | None:
        """None if this probe can run here, else one line saying why not."""
        return None

    def start(self, ctx: ProbeContext) -> None:
        """Open the source. Raise to mark the probe failed."""

    @abc.abstractmethod
    def sample(self, t_ns: int) -> dict[str, list[dict]]:
        """Read the source once; return rows per table name. ``t_ns`` is the run clock at the read."""

    def stop(self) -> None:
        """Release the source."""

    def facts(self) -> dict:
        """Extra facts for the manifest's entry of this probe (e.g. readings the driver refused)."""
        return {}

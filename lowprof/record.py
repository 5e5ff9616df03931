"""A recording: a run directory plus probes sampling it, shared by ``run``, ``attach`` and ``profile``."""

from __future__ import annotations

import datetime as _dt
import os
import re
import sys
from pathlib import Path

from lowprof.inventory import gpu_facts, host_facts, software_facts
from lowprof.probes import DEFAULT_PROBES, PROBES, ProbeContext, get_probe
from lowprof.probes.sampler import Sampler
from lowprof.rundir import ENV_RUN_DIR, RunDir
from lowprof.clock import ENV_ORIGIN

__all__ = ["Recording", "default_out_dir", "parse_probe_list"]


def default_out_dir(label: str, root: str | os.PathLike = "lowprof-runs") -> Path:
    """``./lowprof-runs/<UTC date-time>-<label>``, made unique with a suffix if taken."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(label).name)[:40] or "run"
    base = Path(root) / f"{stamp}-{label}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def parse_probe_list(text: str | None) -> list[str]:
    """``"system,nvml"`` -> ``["system", "nvml"]``; None -> the defaults. Unknown names raise ValueError."""
    if text is None:
        return list(DEFAULT_PROBES)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROBES]
    if unknown:
        raise ValueError(f"unknown probe(s) {', '.join(unknown)}; known: {', '.join(sorted(PROBES))}")
    return names


class Recording:
    """Creates the run directory, fills the manifest's facts, and samples probes until ``finish``."""

    def __init__(self, out: str | os.PathLike, *, kind: str, probes: list[str], interval_s: float = 0.05,
                 force: bool = False, command: list[str] | None = None, pid: int | None = None,
                 options: dict | None = None) -> None:
        self.run = RunDir(out, kind=kind, force=force)
        m = self.run.manifest
        m["command"] = list(command) if command else None
        m["lowprof_argv"] = list(sys.argv)
        m["cwd"] = os.getcwd()
        m["host"] = host_facts()
        m["gpus"] = gpu_facts()
        m["software"] = software_facts()
        m["workload"] = {"pid": pid}
        self.ctx = ProbeContext(clock=self.run.clock, pid=pid, options=options or {})
        instances = []
        for name in probes:
            cls = get_probe(name)
            reason = cls.available()
            if reason:
                m["probes"][name] = {"status": "unavailable", "reason": reason}
            else:
                instances.append(cls())
        self._instances = instances
        self.interval_s = interval_s
        self.sampler: Sampler | None = None

    @property
    def path(self) -> Path:
        return self.run.path

    def env(self) -> dict[str, str]:
        """Variables a workload needs to stamp its own events into this run (``lowprof.mark``)."""
        return {ENV_RUN_DIR: str(self.run.path.resolve()), ENV_ORIGIN: self.run.clock.env_value()}

    def start(self, pid: int | None = None) -> None:
        """Start sampling (``pid``: the workload, if it was not known at construction)."""
        if pid is not None:
            self.ctx.pid = pid
            self.run.manifest["workload"]["pid"] = pid
        self.sampler = Sampler(self.run, self._instances, self.ctx, interval_s=self.interval_s).start()

    def finish(self, status: str = "complete") -> None:
        if self.sampler is not None:
            self.sampler.stop()
        self.run.finish(status=status)

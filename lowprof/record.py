"""A recording: a run directory plus probes sampling it, shared by ``run``, ``attach`` and ``profile``."""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path

from lowprof.inventory import gpu_facts, recording_facts, software_facts
from lowprof.probes import DEFAULT_PROBES, PROBES, ProbeContext, get_probe
from lowprof.probes.sampler import Sampler
from lowprof.rundir import ENV_RUN_DIR, RunDir
from lowprof.clock import ENV_ORIGIN

__all__ = ["Recording", "default_out_dir", "parse_probe_list", "ENV_FACTS"]

# Environment variables worth keeping with a run: who it was in a distributed job, and knobs that
# change performance. Values are recorded as they were in the workload's environment.
ENV_FACTS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "SLURM_PROCID",
             "SLURM_LOCALID", "SLURM_NODEID", "SLURM_JOB_ID", "SLURM_NTASKS", "OMPI_COMM_WORLD_RANK",
             "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMIX_RANK", "CUDA_VISIBLE_DEVICES", "CUDA_LAUNCH_BLOCKING",
             "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTORCH_CUDA_ALLOC_CONF", "NCCL_ALGO", "NCCL_PROTO")


def env_facts(pid: int | None = None) -> dict[str, str]:
    """The ENV_FACTS set in this process's environment, or in ``pid``'s (``/proc/PID/environ``) if given."""
    env = dict(os.environ)
    if pid is not None:
        try:
            import psutil

            env = psutil.Process(pid).environ()
        except Exception:  # noqa: BLE001 - not permitted or gone: record nothing rather than guess
            return {}
    return {k: env[k] for k in ENV_FACTS if k in env}


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
                 force: bool = False, command: list[str] | None = None, pid: int | None = None) -> None:
        self.run = RunDir(out, kind=kind, force=force)
        m = self.run.manifest
        m.update(recording_facts(command))
        m["cwd"] = os.getcwd()
        m["gpus"] = gpu_facts()
        m["software"] = software_facts()
        m["workload"] = {"pid": pid}
        m["env"] = env_facts(pid if kind in ("attach",) else None)
        self.ctx = ProbeContext(clock=self.run.clock, pid=pid)
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
        self.write_error: str | None = None  # why the run directory could not be written to the end, if so

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
        sampler = Sampler(self.run, self._instances, self.ctx, interval_s=self.interval_s)
        try:
            self.sampler = sampler.start()
        except OSError as e:  # the workload is running already: it goes on, unrecorded
            self.write_error = _why(e)

    def finish(self, status: str = "complete") -> None:
        """Stop sampling and close the run. A full disk (or any write error) is not raised: ``write_error``
        says it, what was flushed stays, and the run loads as INCOMPLETE (its manifest is the last one
        written)."""
        try:
            if self.sampler is not None:
                self.sampler.stop()
            self.run.finish(status=status)
        except OSError as e:
            self.write_error = self.write_error or _why(e)
            self.run.abandon()


def _why(e: OSError) -> str:
    import errno

    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full ({e.strerror})"
    return f"{type(e).__name__}: {e}"

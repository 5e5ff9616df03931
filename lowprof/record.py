"""A recording: a run directory plus probes sampling it, shared by ``run``, ``attach`` and ``profile``;
and the hooks of the features a recording was asked for (:class:`FeatureRecorders`), run here for both
``run`` and ``attach``.

A recording verb's flags become one :class:`RecordingOptions` (built once by
``lowprof.cli._common.recording_options``); each feature's hooks get only its own values, a mapping
``Option.dest -> value``.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from lowprof.clock import ENV_ORIGIN
from lowprof.probes import ProbeContext, get_probe, probe_features
from lowprof.rundir import ENV_RUN_DIR, RunWriter

if TYPE_CHECKING:
    import threading

    from lowprof.feature import Feature, Recorder
    from lowprof.probes.sampler import Sampler

__all__ = ["Recording", "RecordingOptions", "FeatureRecorders", "default_out_dir", "parse_probe_list", "ENV_FACTS"]

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
    known = probe_features()
    if text is None:
        return list(known)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown probe(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return names


@dataclass(frozen=True)
class RecordingOptions:
    """What a recording verb (``run``, ``attach``) was asked for, checked and typed.

    ``probes``: the probe names to sample (``probes_given``: named by ``--probes``, else the defaults);
    ``interval_s``: the sampling interval (s); ``features``: per feature name its option values."""

    verb: str
    out: str | None = None
    force: bool = False
    quiet: bool = False
    probes: list[str] = field(default_factory=list)
    probes_given: bool = False
    interval_s: float = 0.05
    features: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def of(self, feature: str) -> Mapping[str, Any]:
        """One feature's option values (empty for a feature without options)."""
        return self.features.get(feature, {})


class FeatureRecorders:
    """The recorders of one recording: one per feature of ``features`` that was asked for, in that order.

    :meth:`check` refuses a bad combination of flags before any run directory is made, and so does
    :meth:`claim` for a process already running (``attach``: what the features hold of it, closed by
    :meth:`close`); then the recorders are made (:meth:`make`), their environment goes to the workload,
    :meth:`started` once it runs, :meth:`sampling` once the probes sample, :meth:`wait` (``attach``: a recorder
    that owns the window's end, if one does) and :meth:`finished` after it ended. A recorder that raises in
    ``finished`` does not stop the others nor lose the run: the error is kept in the manifest
    (``extension_errors``) and returned, to be said; so is (not kept again) the line a ``finished`` returns.
    ``features``: :data:`lowprof.features.FEATURES` unless given."""

    def __init__(self, options: RecordingOptions, features: "tuple[Feature, ...] | None" = None) -> None:
        if features is None:
            from lowprof.features import FEATURES as features
        self.features, self.options = features, options
        self.active: list[tuple[str, Recorder]] = []
        self.claims: dict[str, Any] = {}
        self._waiter: "Recorder | None" = None  # the recorder whose wait() ended the window

    def check(self) -> None:
        for f in self.features:
            if f.check is not None:
                f.check(self.options.of(f.name))

    def claim(self, pid: int) -> None:
        """What each feature must hold of ``pid`` before any run directory is made; a refusal raises (what the
        features before it claimed is closed)."""
        try:
            for f in self.features:
                if f.claim is not None:
                    held = f.claim(self.options.of(f.name), pid)
                    if held is not None:
                        self.claims[f.name] = held
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close what :meth:`claim` holds (once)."""
        claims, self.claims = self.claims, {}
        for held in claims.values():
            if hasattr(held, "close"):
                held.close()

    def make(self, recording: "Recording") -> None:
        for f in self.features:
            if f.record is not None:
                values = self.options.of(f.name)
                r = (f.record(values, recording) if f.claim is None
                     else f.record(values, recording, self.claims.get(f.name)))
                if r is not None:
                    self.active.append((f.name, r))

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for _, r in self.active:
            if hasattr(r, "env"):
                env.update(r.env())
        return env

    def started(self, pid: int, quiet: bool) -> None:
        for _, r in self.active:
            if hasattr(r, "started"):
                r.started(pid, quiet)

    def sampling(self, duration_s: float | None, quiet: bool) -> list[str]:
        """Once the probes sample: each recorder's words for the start line."""
        said = []
        for _, r in self.active:
            if hasattr(r, "sampling"):
                words = r.sampling(duration_s, quiet)
                if words:
                    said.append(words)
        return said

    def wait(self, stop: "threading.Event", duration_s: float | None, quiet: bool) -> str | None:
        """The window, ended by the first recorder that owns its end: why it ended; None when none does (the
        verb waits itself)."""
        for _, r in self.active:
            if hasattr(r, "wait"):
                self._waiter = r
                return r.wait(stop, duration_s, quiet)
        return None

    def finished(self, recording: "Recording", ended: Any) -> list[Exception]:
        """Every recorder's ``finished``, the one that ended the window last; what failed, in that order."""
        failed: list[Exception] = []
        for r in sorted((r for _, r in self.active), key=lambda r: r is self._waiter):  # stable: the rest in order
            if not hasattr(r, "finished"):
                continue
            try:
                line = r.finished(recording, ended)
            except Exception as ex:  # noqa: BLE001 - a feature failing must not lose the run
                recording.writer.manifest.setdefault("extension_errors", []).append(f"{type(ex).__name__}: {ex}")
                failed.append(ex)
            else:
                if line:
                    from lowprof.errors import LowprofError

                    failed.append(LowprofError(line))
        return failed


class Recording:
    """Creates the run directory, fills the manifest's facts, and samples probes until ``finish``.

    ``writer`` is the :class:`~lowprof.rundir.RunWriter` of the directory being recorded; features write their
    tables and manifest sections through it. ``verb``: the recording verb (``run``, ``attach``; default
    ``kind``), for a feature that records differently per verb (``kind`` may differ: ``profile`` is an attach)."""

    def __init__(self, out: str | os.PathLike, *, kind: str, probes: list[str], interval_s: float = 0.05,
                 force: bool = False, command: list[str] | None = None, pid: int | None = None,
                 verb: str | None = None) -> None:
        # The sampler's first table write imports pyarrow, and pyarrow its pandas shim (~0.4 s, more on a busy
        # machine), and the probes psutil: loaded here, before the workload (or a profile() region) starts, so
        # that its first sample is not late.
        import pandas  # noqa: F401
        import psutil  # noqa: F401
        import pyarrow  # noqa: F401

        from lowprof.inventory import gpu_facts, recording_facts, software_facts

        self.writer = RunWriter(out, kind=kind, force=force)
        self.verb = verb or kind
        m = self.writer.manifest
        m.update(recording_facts(command))
        m["cwd"] = os.getcwd()
        m["gpus"] = gpu_facts()
        m["software"] = software_facts()
        m["workload"] = {"pid": pid}
        m["env"] = env_facts(pid if kind in ("attach",) else None)
        self.ctx = ProbeContext(clock=self.writer.clock, pid=pid)
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
        self.sampler: Sampler | None = None  # made by prepare(), started by start()
        self.write_error: str | None = None  # why the run directory could not be written to the end, if so

    @property
    def path(self) -> Path:
        return self.writer.path

    def env(self) -> dict[str, str]:
        """Variables a workload needs to stamp its own events into this run (``lowprof.mark``)."""
        return {ENV_RUN_DIR: str(self.writer.path.resolve()), ENV_ORIGIN: self.writer.clock.env_value()}

    def prepare(self) -> None:
        """Start the probes and open their tables, before the workload is spawned, so that :meth:`start`
        has only the first sample to take (a probe's start costs ~1–10 ms: NVML's init, table writers)."""
        if self.sampler is None:
            from lowprof.probes.sampler import Sampler

            self.sampler = Sampler(self.writer, self._instances, self.ctx, interval_s=self.interval_s)

    def start(self, pid: int | None = None) -> None:
        """Start sampling (``pid``: the workload, if it was not known at construction); the first sample is
        taken before this returns."""
        if pid is not None:
            self.ctx.pid = pid
            self.writer.manifest["workload"]["pid"] = pid
        self.prepare()
        try:
            self.sampler.start()
        except OSError as e:  # the workload is running already: it goes on, unrecorded
            self.write_error = _why(e)

    def finish(self, status: str = "complete") -> None:
        """Stop sampling and close the run. A full disk (or any write error) is not raised: ``write_error``
        says it, what was flushed stays, and the run loads as INCOMPLETE (its manifest is the last one
        written)."""
        try:
            if self.sampler is not None:  # prepared but never started: its probes still stop
                self.sampler.stop()
            self.writer.finish(status=status)
        except OSError as e:
            self.write_error = self.write_error or _why(e)
            self.writer.abandon()


def _why(e: OSError) -> str:
    import errno

    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full ({e.strerror})"
    return f"{type(e).__name__}: {e}"

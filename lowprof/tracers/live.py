"""``lowprof run --trace kernels``: record an unmodified Python workload's GPU launches and CPU ops.

How: the workload's PYTHONPATH gets ``lowprof/tracers/_boot`` first; its ``sitecustomize.py``
waits for the workload's own ``import torch`` and then runs torch.profiler (Kineto: CPU ops,
plus CUDA runtime/driver calls and GPU activity where the torch build has CUDA) in rolling
segments exported under ``<run dir>/kineto/`` (see ``_boot/_lowprof_kineto_agent.py``). When the
workload ends, :meth:`LiveKernelTrace.finished` converts every complete segment into the run's
``launches`` and ``ops`` tables on the run clock (see :mod:`lowprof.tracers.live_convert`) and
keeps the raw traces.
"""

from __future__ import annotations

import os
from pathlib import Path

from lowprof.errors import LowprofError, TraceError, UsageError
from lowprof.feature import Feature, Option
from lowprof.rundir.sections import owned_by
from lowprof.rundir.specs.launches import API_CALLS, LAUNCHES, OPS, STEPS

__all__ = ["FEATURE", "LiveKernelTrace", "BOOT_DIR", "boot_pythonpath", "write_trace_tables", "print_warnings"]

BOOT_DIR = Path(__file__).resolve().parent / "_boot"


def boot_pythonpath() -> str:
    """This process's PYTHONPATH with :data:`BOOT_DIR` first: a traced workload's (its ``sitecustomize.py``
    starts the agent)."""
    return os.pathsep.join([str(BOOT_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


class LiveKernelTrace:
    """One traced workload: the environment it needs, and the conversion once it ended."""

    def __init__(self, kineto_dir: Path, segment_s: float) -> None:
        self.kineto_dir = Path(kineto_dir)
        self.segment_s = segment_s

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": boot_pythonpath(),
                "LOWPROF_KINETO_DIR": str(self.kineto_dir.resolve()),
                "LOWPROF_KINETO_SEGMENT_S": repr(self.segment_s)}

    def finished(self, recording, ended) -> None:
        """Write ``launches`` and ``ops`` (possibly empty) and say in the manifest what was caught; raise
        :class:`TraceError` (after writing) when the recorded trace could not be read at all."""
        writer = recording.writer
        entry = write_trace_tables(writer, self.kineto_dir, self.segment_s, ended_signal=ended.signal)
        print_warnings(entry)
        if entry.get("error"):
            raise TraceError(f"--trace kernels: {entry['error']}")


def _single_chunk(df):
    """Arrow-backed string columns as plain objects (a concatenated one is chunked, which
    ``pa.array`` refuses inside ``TableWriter.write_frame``)."""
    return df.assign(**{c: df[c].astype(object) for c in df.columns if df[c].dtype == "string"})


def write_trace_tables(writer, kineto_dir: Path, segment_s: float, ended_signal: str | None = None,
                       started: str = "at the workload's `import torch`", log: list[dict] | None = None) -> dict:
    """Convert ``kineto_dir`` into ``writer``'s launches/ops/steps tables; returns the manifest's ``trace`` entry.
    ``log``: ``kineto_dir``'s segments.jsonl where the caller read it already."""
    from lowprof.rundir.specs.launches import COMPANION_TABLES
    from lowprof.tracers.live_convert import convert_dir, empty_frame

    conv = convert_dir(kineto_dir, writer.clock, log)
    launches = conv.launches if conv.launches is not None else empty_frame(LAUNCHES)
    writer.write_frame(LAUNCHES, _single_chunk(launches))
    for name, spec in COMPANION_TABLES.items():
        writer.write_frame(spec, _single_chunk(conv.tables.get(name, empty_frame(spec))))
    if "api_calls" in conv.tables:  # Kineto segments: every runtime/driver call (CUPTI segments give launch calls only)
        from lowprof.rundir.specs.launches import API_CALLS

        writer.write_frame(API_CALLS, _single_chunk(conv.tables["api_calls"]))
    ops = conv.tables.get("ops")
    cupti = any(s.get("tracer") == "cupti" for s in conv.starts)
    entry = {
        "tracer": ("CUPTI Activity API (cupti-python), started at the workload's `import cupy`" if cupti
                   else f"torch.profiler (Kineto), started {started}" if conv.starts or conv.segments
                   else "none started"),
        "raw": "kineto/",
        "segment_s": segment_s,
        "segments": len(conv.segments),
        "ops": 0 if ops is None else len(ops),
        "launches": len(launches),
        "clock_alignment": ("t_run_ns = cupti_ns - cupti_minus_monotonic_ns(segment start, read in the "
                            "workload) - origin_monotonic_ns" if cupti else
                            "t_run_ns = kineto_realtime_ns - realtime_minus_monotonic_ns(segment start, "
                            "read in the workload) - origin_monotonic_ns"),
    }
    if conv.errors:
        entry["errors"] = conv.errors
    if conv.fatal:
        entry["error"] = conv.fatal
    if conv.fatal and len(launches) == 0:
        entry["launches_empty_reason"] = conv.fatal
    elif not conv.starts and not conv.segments:
        entry["launches_empty_reason"] = (conv.errors[0].split(": ", 1)[-1] if conv.errors else
                                          "the workload never imported torch or cupy, so no tracer started")
    elif len(launches) == 0:
        entry["launches_empty_reason"] = conv.no_gpu_reason or (
            "the workload never initialised CUDA in torch (torch.cuda.is_initialized() stayed False): "
            "no GPU activity to record" if conv.segments and not any(s.get("cuda_initialized") for s in conv.segments)
            else "the trace holds no GPU activity")
    if ended_signal == "SIGKILL":
        entry["lost"] = f"killed by SIGKILL: the open segment (at most {segment_s} s) was lost"
    drift = [s["realtime_minus_monotonic_end_ns"] - s["realtime_minus_monotonic_ns"] for s in conv.segments
             if s.get("realtime_minus_monotonic_ns") is not None]
    if drift:
        entry["realtime_drift_max_ns"] = max(drift, key=abs)
    if conv.segments:
        entry["export_s_total"] = round(sum(s["export_s"] for s in conv.segments), 6)
        keys = ("corrupt_gpu_records_dropped", "incomplete_gpu_records_dropped", "launch_calls_without_gpu_record")
        entry["per_segment"] = [{"segment": s.get("segment"), "launches": s["launches"]} | {k: s[k] for k in keys}
                                for s in conv.segments]
        for k in keys:
            entry[k] = sum(s[k] for s in conv.segments)
        entry["warnings"] = _loss_warnings(entry, len(conv.segments))
    writer.manifest["trace"] = entry
    return entry


def _loss_warnings(entry: dict, segments: int) -> list[str]:
    """One line per kind of record lost or dropped, for the user to see (not only the manifest)."""
    out = []
    rolling = (f"each of the {segments} rolling segments starts a new profiler session that re-registers CUPTI's "
               "timestamp callback (pytorch/pytorch#192021); --trace-segment 0 records one session")
    if entry["corrupt_gpu_records_dropped"]:
        out.append(f"dropped {entry['corrupt_gpu_records_dropped']} GPU records with impossible timestamps "
                   f"(per segment: {[s['corrupt_gpu_records_dropped'] for s in entry['per_segment']]}): " + rolling)
    if entry["incomplete_gpu_records_dropped"]:
        out.append(f"dropped {entry['incomplete_gpu_records_dropped']} GPU records CUPTI could not complete "
                   "(start = end = 0, from a forced flush while they ran)")
    if entry["launch_calls_without_gpu_record"]:
        out.append(f"{entry['launch_calls_without_gpu_record']} launch calls have no GPU record (per segment: "
                   f"{[s['launch_calls_without_gpu_record'] for s in entry['per_segment']]}): cut off at a segment end, "
                   "or " + rolling)
    return out


def print_warnings(entry: dict) -> None:
    """Print the trace entry's warnings on stderr, one line each."""
    from lowprof.console import warn

    for w in entry.get("warnings", []):
        warn(w)


def _check(values) -> None:
    """Refused before any run directory is made."""
    if values["on_demand"] and values["trace"] != "kernels":
        raise UsageError("--on-demand arms kernel tracing: it needs --trace kernels")
    if values["trace"] == "kernels" and not values["on_demand"] and values["trace_segment"] < 0:
        raise LowprofError(f"--trace-segment must be >= 0 seconds, got {values['trace_segment']}")


def _claim(values, pid: int):
    """attach ``--trace kernels``: the armed agent of ``pid``, reserved before any run directory is made."""
    from lowprof.tracers.on_demand_window import claim

    return claim(values, pid)


def _record(values, recording, agent=None):
    """The recorder of ``--trace kernels`` (armed only, with ``--on-demand``; attach: one window of the agent
    it claimed, :mod:`lowprof.tracers.on_demand_window`); None without it."""
    if values["trace"] != "kernels":
        return None
    if recording.verb == "attach":
        from lowprof.tracers.on_demand_window import AgentWindow

        return AgentWindow(agent) if agent is not None else None
    if values["on_demand"]:
        from lowprof.tracers.on_demand_recorder import OnDemandTrace

        return OnDemandTrace.prepare(recording)
    return LiveKernelTrace(recording.path / "kineto", values["trace_segment"])


FEATURE = Feature(
    "kernels", "GPU launches and CPU ops of a Python workload, traced from its `import torch` (or `import cupy`)",
    tables=(LAUNCHES, OPS, STEPS, API_CALLS), manifest=owned_by("kernels"),
    options=(
        Option("--trace", choices=("kernels",), metavar="kernels",
               help="record GPU launches and CPU ops of a Python workload: torch.profiler from its "
                    "`import torch` (CuPy: CUPTI via cupti-python); tables launches, ops, steps",
               verb_help=(("attach", "also trace GPU launches and CPU ops for the window (--duration, or until "
                                     "Ctrl-C): needs a process started by `lowprof run --trace kernels --on-demand` "
                                     "(docs/on-demand.md)"),)),
        Option("--trace-segment", type=float, default=2.0, metavar="S", verbs=("run", "sweep"),
               help="export the trace every S seconds, so a SIGKILL loses at most the last S s "
                    "(0: only at exit; default: 2)"),
        Option("--on-demand", switch=True, default=False, verbs=("run",),
               help="with --trace kernels: do not trace from the start; arm an agent that traces a window "
                    "when `lowprof attach PID --trace kernels --duration S` asks (docs/on-demand.md)"),
    ),
    check=_check, claim=_claim, record=_record)

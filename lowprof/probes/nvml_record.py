"""Record NVML readings to JSONL on a GPU machine, and replay them through the ``nvml`` probe anywhere.

Recording wraps :mod:`pynvml` in :class:`RecordingNVML` and runs the real
:class:`~lowprof.probes.nvml.NvmlProbe` over it, so the file holds exactly the calls the probe
makes, in order, with what the driver answered (a value, or an NVML error code)::

    python -m lowprof.cli._nvml_record --out tests/data/power/h100.nvml.jsonl --seconds 10 --interval 0.05
    python -m lowprof.cli._nvml_record --replay tests/data/power/h100.nvml.jsonl --out runs/h100-replay

(:func:`record` and :func:`replay_to_run` here; the command line lives in :mod:`lowprof.cli._nvml_record`.)

File format (one JSON object per line, ``version`` 1):

- header: ``{"format": "lowprof-nvml-replay", "version": 1, "synthetic": bool, "source": str,
  "origin_realtime_ns": int, ...}`` (the recording's wall-clock origin: field values' own timestamps
  are wall-clock µs and land on the run clock through it; a file without it replays them as null)
- a sample: ``{"tick": T}`` with T ns since the recording started (the ``t_ns`` the probe was given)
- a call: ``{"fn": NAME, "gpu": INDEX|null, "args": [...], "t_ns": T, "value": V}`` or ``..., "error": CODE}``
  (``"error": "LibraryMismatch"``: pynvml raised NVMLLibraryMismatchError, which is not an NVMLError)
  (a device handle is written as its index; structs as objects; field values with their one value member)

:class:`ReplayNVML` answers each ``(fn, gpu, args)`` from that key's recorded answers in order,
raising the recorded error as the real :class:`pynvml.NVMLError` subclass.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

from lowprof import nvml_adapter
from lowprof.clock import RunClock
from lowprof.errors import GPUUnavailable, ProbeError

__all__ = ["RecordingNVML", "ReplayNVML", "record", "replay", "replay_to_run", "FORMAT", "VERSION"]

FORMAT, VERSION = "lowprof-nvml-replay", 1
_VALUE_MEMBER = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}
_MISMATCH = nvml_adapter.LIBRARY_MISMATCH  # the "error" of a call pynvml refused with NVMLLibraryMismatchError


def _encode(v: Any) -> Any:
    """A pynvml return value as plain JSON (ctypes structs and pynvml's friendly objects as dicts)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, (list, tuple)) or (hasattr(v, "__len__") and hasattr(v, "__getitem__") and not hasattr(v, "_fields_")):
        return [_encode(x) for x in v]
    fields = getattr(v, "_fields_", None)
    if fields is not None:
        out = {}
        for name, *_ in fields:
            if name == "value" and hasattr(v, "valueType"):  # a field value: keep its one live member
                member = _VALUE_MEMBER.get(v.valueType, "ullVal")
                out["value"] = {member: getattr(v.value, member)}
            else:
                out[name] = _encode(getattr(v, name))
        return out
    if hasattr(v, "__dict__"):
        return {k: _encode(x) for k, x in vars(v).items() if not k.startswith("_")}
    return repr(v)


def _decode(v: Any) -> Any:
    if isinstance(v, dict):
        return SimpleNamespace(**{k: _decode(x) for k, x in v.items()})
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


class RecordingNVML:
    """Proxy to pynvml that writes every ``nvml*`` call and its answer to ``out`` (JSONL)."""

    def __init__(self, real, out: IO[str], clock: RunClock) -> None:
        self._real, self._out, self._clock = real, out, clock
        self._index: dict[int, int] = {}  # id(handle) -> device index
        self.NVMLError = real.NVMLError

    def tick(self, t_ns: int) -> None:
        self._out.write(json.dumps({"tick": t_ns}) + "\n")

    def __getattr__(self, name: str):
        fn = getattr(self._real, name)
        if not name.startswith("nvml") or not callable(fn):
            return fn

        def call(*args):
            gpu, rest = None, list(args)
            if rest and id(rest[0]) in self._index:
                gpu, rest = self._index[id(rest[0])], rest[1:]
            rec = {"fn": name, "gpu": gpu, "args": _encode(rest), "t_ns": self._clock.t_ns()}
            try:
                value = fn(*args)
            except self._real.NVMLError as e:
                rec["error"] = e.value
                self._out.write(json.dumps(rec) + "\n")
                raise
            except getattr(self._real, "NVMLLibraryMismatchError", ()) as e:  # not an NVMLError
                rec["error"] = _MISMATCH
                rec["message"] = str(e)
                self._out.write(json.dumps(rec) + "\n")
                raise
            if name == "nvmlDeviceGetHandleByIndex":
                self._index[id(value)] = args[0]
                self._keep = getattr(self, "_keep", []) + [value]  # keep ids unique while recording
                rec["value"] = {"handle": args[0]}
            else:
                rec["value"] = _encode(value)
            self._out.write(json.dumps(rec) + "\n")
            return value

        return call


class _Handle:
    def __init__(self, index: int) -> None:
        self.index = index


class ReplayNVML:
    """A pynvml stand-in answering from a recorded file, call by call, in recorded order."""

    def __init__(self, path: str | Path) -> None:
        pynvml = nvml_adapter.load()  # the real error classes, raised as the driver would

        self.NVMLError = pynvml.NVMLError
        self.NVMLLibraryMismatchError = pynvml.NVMLLibraryMismatchError
        self.path = Path(path)
        self.ticks: list[int] = []
        self._answers: dict[tuple, deque] = defaultdict(deque)
        with open(self.path) as f:
            self.header = json.loads(f.readline())
            if self.header.get("format") != FORMAT or self.header.get("version") != VERSION:
                raise ProbeError(f"{self.path}: not a {FORMAT} v{VERSION} file (header {self.header!r})")
            for n, line in enumerate(f, 2):
                if not line.strip():
                    continue
                rec = json.loads(line)
                if "tick" in rec:
                    self.ticks.append(int(rec["tick"]))
                    continue
                key = (rec["fn"], rec.get("gpu"), json.dumps(rec.get("args", [])))
                self._answers[key].append(rec)

    def __getattr__(self, name: str):
        if not name.startswith("nvml"):
            raise AttributeError(name)

        def call(*args):
            gpu, rest = None, list(args)
            if rest and isinstance(rest[0], _Handle):
                gpu, rest = rest[0].index, rest[1:]
            key = (name, gpu, json.dumps(_encode(rest)))
            q = self._answers.get(key)
            if not q:
                raise ProbeError(f"{self.path}: no recorded answer left for {name}(gpu={gpu}, args={rest})")
            rec = q.popleft()
            if rec.get("error") == _MISMATCH:
                raise self.NVMLLibraryMismatchError(rec.get("message", "recorded library mismatch"))
            if "error" in rec:
                raise self.NVMLError(rec["error"])
            if name == "nvmlDeviceGetHandleByIndex":
                return _Handle(rec["value"]["handle"])
            return _decode(rec["value"])

        return call


class _ReplayContext:
    """What the probe needs of a ProbeContext during replay: a clock and the workload's PIDs. The clock's
    wall-clock origin is the recording's (``origin_realtime_ns``), 0 (unknown) when not given."""

    def __init__(self, pids: set[int], origin_realtime_ns: int = 0) -> None:
        self.clock = RunClock(origin_monotonic_ns=time.monotonic_ns(), origin_realtime_ns=int(origin_realtime_ns or 0))
        self.pid = min(pids) if pids else None
        self.options: dict = {}
        self._pids = pids

    def pids(self) -> set[int]:
        return set(self._pids)


def replay(path: str | Path):
    """Run the ``nvml`` probe over a recorded file; returns ``(probe, {table: rows})``."""
    from lowprof.probes.nvml import NvmlProbe

    src = ReplayNVML(path)
    probe = NvmlProbe(nvml=src)
    probe.start(_ReplayContext(set(src.header.get("workload_pids", [])), src.header.get("origin_realtime_ns", 0)))
    tables: dict[str, list[dict]] = defaultdict(list)
    for t in src.ticks:
        for name, rows in probe.sample(t).items():
            tables[name].extend(rows)
    probe.stop()
    return probe, dict(tables)


def replay_to_run(path: str | Path, out: str | Path, force: bool = False) -> Path:
    """Write a run directory holding what the ``nvml`` probe makes of a recorded file (kind ``replay``)."""
    from lowprof.rundir.specs.nvml import GPU_POWER, GPU_PROCESSES
    from lowprof.rundir import RunWriter

    probe, tables = replay(path)
    origin = int(probe.nvml.header.get("origin_realtime_ns") or 0)
    writer = RunWriter(out, kind="replay", force=force,
                 clock=RunClock(origin_monotonic_ns=0, origin_realtime_ns=origin, name="replayed recording"))
    writer.manifest["replay_of"] = str(path)
    writer.manifest["synthetic"] = bool(probe.nvml.header.get("synthetic"))
    writer.manifest["probes"]["nvml"] = {"status": "ok", "samples": len(probe.nvml.ticks),
                                      "tables": ["gpu_power", "gpu_processes"]} | probe.facts()
    for spec in (GPU_POWER, GPU_PROCESSES):
        writer.table(spec).extend(tables.get(spec.name, []))
    writer.finish()
    ticks = probe.nvml.ticks
    writer.manifest.update(end_t_ns=ticks[-1], duration_s=ticks[-1] / 1e9)  # the recording's span, not the replay's
    writer.save()
    return writer.path


def record(out: str | Path, seconds: float = 10.0, interval_s: float = 0.05, pids: list[int] | tuple[int, ...] = (),
           note: str = "") -> tuple[int, Any]:
    """Run the ``nvml`` probe over real :mod:`pynvml` for ``seconds``, one sample every ``interval_s``, and write
    every call and answer to the JSONL file ``out``; returns ``(samples, probe)``. ``pids``: workload PIDs whose
    GPU use to record; ``note``: free text for the header. Raises :class:`GPUUnavailable` (one line) without
    NVML. Command line: ``python -m lowprof.cli._nvml_record``."""
    from lowprof.probes.nvml import NvmlProbe

    reason = NvmlProbe.available()
    if reason:
        raise GPUUnavailable(reason)
    pynvml = nvml_adapter.load()

    from lowprof.inventory import host_facts
    from lowprof.probes.base import ProbeContext
    from lowprof.rundir import utc_now

    pids = list(pids)
    clock = RunClock.start()
    with open(out, "w") as f:
        f.write(json.dumps({"format": FORMAT, "version": VERSION, "synthetic": False,
                            "source": "recorded by lowprof.probes.nvml_record", "recorded_utc": utc_now(),
                            "host": host_facts().get("hostname"), "interval_s": interval_s,
                            "origin_realtime_ns": clock.origin_realtime_ns,
                            "workload_pids": pids, "note": note}) + "\n")
        rec = RecordingNVML(pynvml, f, clock)
        probe = NvmlProbe(nvml=rec)
        ctx = ProbeContext(clock=clock, pid=pids[0] if pids else None)
        probe.start(ctx)
        end = clock.t_ns() + int(seconds * 1e9)
        next_t = clock.t_ns()
        n = 0
        while clock.t_ns() < end:
            t = clock.t_ns()
            rec.tick(t)
            probe.sample(t)
            n += 1
            next_t += int(interval_s * 1e9)
            time.sleep(max(0.0, (next_t - clock.t_ns()) / 1e9))
        probe.stop()
    return n, probe

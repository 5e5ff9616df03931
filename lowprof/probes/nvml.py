"""The ``nvml`` probe: per-GPU power, energy counter, power limit, clocks, utilisation, temperature,
clock-event (throttle) reasons and the workload's per-process GPU memory, via NVML (``nvidia-ml-py``).

Every NVML call goes through ``self.nvml``: the real :mod:`pynvml` module on a GPU machine, or a
:class:`lowprof.probes.nvml_record.ReplayNVML` that answers from a recorded JSONL file, so tests
drive this same code path with real readings. Units are converted to SI here: mW -> W, mJ -> J,
MHz -> Hz. A reading the driver refuses (NotSupported, NoPermission...) is asked once, recorded in
the manifest by :meth:`NvmlProbe.facts` and not asked again; its column stays null.

Power, from the NVML API reference: ``nvmlDeviceGetPowerUsage`` and field 185 (``FI_DEV_POWER_AVERAGE``)
are "averaged over 1 sec interval" on Ampere (except GA100) and newer, instantaneous on GA100 and
older; field 186 (``FI_DEV_POWER_INSTANT``) is the current power on every architecture. What
``power_w`` means on each GPU is decided from its architecture (:func:`power_w_averaging`) and stored
per device in the manifest. Each field value carries the driver's own timestamp (µs since the
epoch), kept on the run clock beside the row's ``t_ns``. Fields 185/186/191 are also asked at module
scope (scopeId 1: GPU + Grace CPU + memory on a GH200), in a call of their own, where the driver
offers it.

Older drivers: clock-event reasons fall back to the throttle-reasons call (before R535), the process list
to ``..._v2`` (pynvml's NVMLLibraryMismatchError); the manifest says which call answered. NVML names
processes by their PID in the host's PID namespace: from inside a container ``gpu_processes`` stays
empty and the manifest says why (``gpu_processes_note``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from lowprof import nvml_adapter
from lowprof.feature import Feature
from lowprof.rundir.sections import owned_by
from lowprof.probes.base import Probe, ProbeContext
from lowprof.rundir.specs.nvml import GPU_POWER, GPU_PROCESSES

__all__ = ["NvmlProbe", "pid_namespace", "power_w_averaging"]

# Field values read in one nvmlDeviceGetFieldValues call per GPU per sample (ids from nvml.h), and the
# module-scope ones in a second call (an old driver that rejects a scoped request must not cost the others).
FI_TOTAL_ENERGY = 83
FI_POWER_AVERAGE = 185
FI_POWER_INSTANT = 186
FI_ENERGY = 191  # "Same as NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION for the GPU"; takes a scopeId like 185/186
SCOPE_MODULE = 1  # scopeId 1: "Module scope - Metrics for the module (e.g. CPU + GPU)"; NVIDIA CPUs only
_FIELDS = (FI_POWER_AVERAGE, FI_POWER_INSTANT, FI_TOTAL_ENERGY)
_MODULE_FIELDS = ((FI_POWER_AVERAGE, SCOPE_MODULE), (FI_POWER_INSTANT, SCOPE_MODULE), (FI_ENERGY, SCOPE_MODULE))
_FIELD_NAMES = {(FI_POWER_AVERAGE, 0): "power_average", (FI_POWER_INSTANT, 0): "power_instant",
                (FI_TOTAL_ENERGY, 0): "total_energy", (FI_POWER_AVERAGE, 1): "module_power_average",
                (FI_POWER_INSTANT, 1): "module_power_instant", (FI_ENERGY, 1): "module_energy"}
_FIELD_TS_SLACK_NS = 5_000_000_000  # a field timestamp further than this from the read is not believed
# NVML_VALUE_TYPE_* -> member of c_nvmlValue_t
_VALUE_MEMBER = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}
_PROC_REFRESH_S = 0.5
_CLOCK_SM, _CLOCK_MEM, _TEMP_GPU = 1, 2, 0

# nvmlDeviceArchitecture_t values (nvml.h)
ARCHITECTURES = {2: "Kepler", 3: "Maxwell", 4: "Pascal", 5: "Volta", 6: "Turing", 7: "Ampere", 8: "Ada",
                 9: "Hopper", 10: "Blackwell", 11: "Orin"}
_ARCH_AMPERE = 7


def power_w_averaging(arch: int | None, compute_capability: tuple[int, int] | None) -> tuple[str, str]:
    """What nvmlDeviceGetPowerUsage / field 185 return on a GPU: ``("1s", why)``, ``("none", why)`` or
    ``("unknown", why)``. NVML API reference: "On Ampere (except GA100) or newer GPUs, the API returns power
    averaged over 1 sec interval. On GA100 and older architectures, instantaneous power is returned."
    GA100 is the Ampere chip of compute capability 8.0 (A100, A30).

    Example: ``power_w_averaging(9, (9, 0))[0] == "1s"``; ``power_w_averaging(7, (8, 0))[0] == "none"``
    """
    name = ARCHITECTURES.get(arch, f"architecture {arch}") if arch is not None else None
    if arch is None or arch not in ARCHITECTURES:
        return "unknown", f"architecture not known ({name or 'not reported'}): averaging of power_w unknown"
    if arch == 11:  # Orin is an Ampere-generation SoC (compute capability 8.7), not GA100
        arch = _ARCH_AMPERE
    if arch < _ARCH_AMPERE:
        return "none", f"{name}: NVML returns instantaneous power before Ampere"
    if arch == _ARCH_AMPERE:
        if compute_capability is None:
            return "unknown", "Ampere of unknown compute capability: GA100 (8.0) is instantaneous, other Ampere chips average over 1 s"
        if tuple(compute_capability) == (8, 0):
            return "none", "GA100 (Ampere, compute capability 8.0): NVML returns instantaneous power"
    return "1s", f"{name}: NVML averages power over 1 s on Ampere (except GA100) and newer"


# The initial PID namespace has a fixed inode (PROC_PID_INIT_INO, include/linux/proc_ns.h).
_INIT_PID_NS = "pid:[4026531836]"


def _nspid(status: str) -> list[int]:
    for line in status.splitlines():
        if line.startswith("NSpid:"):
            return [int(x) for x in line.split()[1:]]
    return []


def pid_namespace(proc: str | os.PathLike = "/proc") -> dict:
    """This process's PID namespace: ``{"namespace": "pid:[INODE]", "initial": bool, "nspid": [PIDs]}``.

    ``nspid`` is the ``NSpid`` line of ``/proc/self/status``: this process's PID in each namespace it
    belongs to, from the procfs's own namespace inwards (more than one: a nested namespace seen from an
    outer procfs). ``initial``: the namespace is the host's (inode PROC_PID_INIT_INO), which is the one
    NVML names processes in; None where neither the link nor NSpid can be read.
    """
    proc = Path(proc)
    try:
        ns = os.readlink(proc / "self" / "ns" / "pid")
    except OSError:
        ns = None
    try:
        nspid = _nspid((proc / "self" / "status").read_text())
    except OSError:
        nspid = []
    if len(nspid) > 1:
        initial = False
    else:
        initial = None if ns is None else ns == _INIT_PID_NS
    return {"namespace": ns, "initial": initial, "nspid": nspid}


class NvmlProbe(Probe):
    """Samples every GPU NVML sees. ``nvml``: the pynvml-like object to call (default: :mod:`pynvml`)."""

    name = "nvml"
    tables = (GPU_POWER, GPU_PROCESSES)

    def __init__(self, nvml: Any = None, proc: str | os.PathLike = "/proc") -> None:
        self.nvml = nvml
        self.proc = Path(proc)
        self.refused: dict[str, dict[str, str]] = {}  # reading -> {gpu index: error}
        self.errors: dict[str, int] = {}  # transient errors by reading, counted
        self.devices: list[dict] = []

    @classmethod
    def available(cls) -> str | None:
        return nvml_adapter.availability()

    # -- reading helpers -------------------------------------------------------------------------

    def _refuse(self, reading: str, gpu: int, e: Exception) -> None:
        self.refused.setdefault(reading, {})[str(gpu)] = nvml_adapter.error_name(e)

    def _ask(self, reading: str, gpu: int, fn, *args):
        """Call ``fn(*args)``; None when the driver refuses (recorded), never raises NVML errors."""
        if str(gpu) in self.refused.get(reading, {}):
            return None
        try:
            return fn(*args)
        except self._errors as e:
            self._failed(reading, gpu, e)
            return None

    def _failed(self, reading: str, gpu: int, e: Exception) -> None:
        """Count a transient error; refuse for good what the driver never offers (a library mismatch included)."""
        if nvml_adapter.is_permanent(e, self.nvml):
            self._refuse(reading, gpu, e)
        else:
            self.errors[reading] = self.errors.get(reading, 0) + 1

    def _first_answer(self, reading: str, gpu: int, calls: tuple[str, ...], *args):
        """The first of ``calls`` (pynvml names, newest first) the driver offers; remembers which one answered.

        An older driver lacks the newer symbol (FunctionNotFound, or pynvml's NVMLLibraryMismatchError for an
        unversioned call): then the next one is asked. The reading is refused only when the last one is.
        """
        chosen = self._calls.get(reading)
        if chosen is not None:
            return self._ask(reading, gpu, getattr(self.nvml, chosen), *args)
        if str(gpu) in self.refused.get(reading, {}):
            return None
        for k, name in enumerate(calls):
            try:
                value = getattr(self.nvml, name)(*args)
            except self._errors as e:
                if k + 1 < len(calls) and nvml_adapter.is_missing_symbol(e, self.nvml):
                    continue
                self._failed(reading, gpu, e)
                return None
            self._calls[reading] = name
            return value
        return None

    def _field_t_ns(self, fv, t_ns: int) -> int | None:
        """A field value's own timestamp (µs since the epoch) on the run clock; None if absent or not believable."""
        ts = getattr(fv, "timestamp", None)
        origin = getattr(self.ctx.clock, "origin_realtime_ns", 0)
        if not ts or not origin:
            return None
        t = int(ts) * 1000 - int(origin)
        if abs(t - t_ns) > _FIELD_TS_SLACK_NS:
            self.errors["field_timestamp_implausible"] = self.errors.get("field_timestamp_implausible", 0) + 1
            return None
        return t

    def _fields(self, gpu: int, handle, wanted_all, call: str, t_ns: int) -> dict[tuple, tuple[float, int | None]]:
        """(fieldId, scopeId) -> (value, run-clock timestamp) from one nvmlDeviceGetFieldValues call; each
        field's own return code counts (a refused field is asked once)."""
        def key(f):
            return f if isinstance(f, tuple) else (f, 0)

        wanted = [f for f in wanted_all if str(gpu) not in self.refused.get(_FIELD_NAMES[key(f)], {})]
        if not wanted:
            return {}
        values = self._ask(call, gpu, self.nvml.nvmlDeviceGetFieldValues, handle, wanted)
        if values is None:
            return {}
        out = {}
        for fv in values:
            k = (fv.fieldId, getattr(fv, "scopeId", 0) or 0)
            name = _FIELD_NAMES.get(k)
            if name is None:
                continue
            if fv.nvmlReturn != 0:
                err = self.nvml.NVMLError(fv.nvmlReturn)
                if fv.nvmlReturn in nvml_adapter.PERMANENT:
                    self._refuse(name, gpu, err)
                else:
                    self.errors[name] = self.errors.get(name, 0) + 1
                continue
            out[k] = (float(getattr(fv.value, _VALUE_MEMBER.get(fv.valueType, "ullVal"))), self._field_t_ns(fv, t_ns))
        return out

    def _power_meaning(self, i: int, h) -> dict:
        """The GPU's architecture and what its power_w means (see :func:`power_w_averaging`)."""
        arch = self._ask("architecture", i, self.nvml.nvmlDeviceGetArchitecture, h)
        cc = self._ask("compute_capability", i, self.nvml.nvmlDeviceGetCudaComputeCapability, h)
        cc = tuple(int(x) for x in cc) if cc is not None else None
        averaging, why = power_w_averaging(None if arch is None else int(arch), cc)
        return {"architecture": ARCHITECTURES.get(arch, None if arch is None else f"unknown ({arch})"),
                "compute_capability": None if cc is None else f"{cc[0]}.{cc[1]}",
                "power_w": {"averaging": averaging, "why": why,
                            "source": "field 185 (FI_DEV_POWER_AVERAGE), else nvmlDeviceGetPowerUsage"}}

    # -- probe life cycle ------------------------------------------------------------------------

    def start(self, ctx: ProbeContext) -> None:
        self.ctx = ctx
        self.nvml = nvml_adapter.init(self.nvml)
        self._errors = nvml_adapter.call_errors(self.nvml)
        self._calls: dict[str, str] = {}  # reading -> the pynvml call that answered it
        self.handles = [self.nvml.nvmlDeviceGetHandleByIndex(i) for i in range(self.nvml.nvmlDeviceGetCount())]
        self._procs_at = -10**18
        self._pid_ns = pid_namespace(self.proc)
        self._proc_rows = 0
        self._foreign_pids: set[int] = set()
        for i, h in enumerate(self.handles):
            dev: dict = {"index": i}
            name = self._ask("name", i, self.nvml.nvmlDeviceGetName, h)
            dev["name"] = name.decode() if isinstance(name, bytes) else name
            uuid = self._ask("uuid", i, self.nvml.nvmlDeviceGetUUID, h)
            dev["uuid"] = uuid.decode() if isinstance(uuid, bytes) else uuid
            cons = self._ask("power_limit_constraints", i, self.nvml.nvmlDeviceGetPowerManagementLimitConstraints, h)
            if cons is not None:
                dev["power_limit_min_w"], dev["power_limit_max_w"] = cons[0] / 1e3, cons[1] / 1e3
            default = self._ask("power_limit_default", i, self.nvml.nvmlDeviceGetPowerManagementDefaultLimit, h)
            dev["power_limit_default_w"] = None if default is None else default / 1e3
            dev |= self._power_meaning(i, h)
            self.devices.append(dev)

    def _read_gpu(self, i: int, h, t_ns: int) -> dict:
        n = self.nvml
        t0 = time.perf_counter_ns()
        f = self._fields(i, h, _FIELDS, "field_values", t_ns)
        m = self._fields(i, h, _MODULE_FIELDS, "module_field_values", t_ns)
        power_mw, power_t = f.get((FI_POWER_AVERAGE, 0), (None, None))
        if power_mw is None:  # older drivers: the classic call
            power_mw = self._ask("power_usage", i, n.nvmlDeviceGetPowerUsage, h)
        energy_mj, energy_t = f.get((FI_TOTAL_ENERGY, 0), (None, None))
        if energy_mj is None:  # field refused or field values unsupported: the classic call
            energy_mj = self._ask("total_energy_call", i, n.nvmlDeviceGetTotalEnergyConsumption, h)
        limit_mw = self._ask("enforced_power_limit", i, n.nvmlDeviceGetEnforcedPowerLimit, h)
        sm = self._ask("sm_clock", i, n.nvmlDeviceGetClockInfo, h, _CLOCK_SM)
        mem = self._ask("mem_clock", i, n.nvmlDeviceGetClockInfo, h, _CLOCK_MEM)
        util = self._ask("utilization", i, n.nvmlDeviceGetUtilizationRates, h)
        temp = self._ask("temperature", i, n.nvmlDeviceGetTemperature, h, _TEMP_GPU)
        # Drivers before R535 (and pynvml before 12.535) have only ...ThrottleReasons: the same bits.
        reasons = self._first_answer("clock_event_reasons", i, nvml_adapter.REASON_CALLS, h)
        instant, instant_t = f.get((FI_POWER_INSTANT, 0), (None, None))
        m_avg, m_avg_t = m.get((FI_POWER_AVERAGE, 1), (None, None))
        m_inst, m_inst_t = m.get((FI_POWER_INSTANT, 1), (None, None))
        m_energy, m_energy_t = m.get((FI_ENERGY, 1), (None, None))
        return {
            "t_ns": t_ns, "gpu": i,
            "power_w": None if power_mw is None else power_mw / 1e3,
            "power_instant_w": None if instant is None else instant / 1e3,
            "energy_j": None if energy_mj is None else energy_mj / 1e3,
            "power_t_ns": power_t, "power_instant_t_ns": instant_t, "energy_t_ns": energy_t,
            "module_power_w": None if m_avg is None else m_avg / 1e3,
            "module_power_instant_w": None if m_inst is None else m_inst / 1e3,
            "module_energy_j": None if m_energy is None else m_energy / 1e3,
            "module_t_ns": m_inst_t or m_avg_t or m_energy_t, "module_power_t_ns": m_avg_t,
            "module_power_instant_t_ns": m_inst_t, "module_energy_t_ns": m_energy_t,
            "power_limit_w": None if limit_mw is None else limit_mw / 1e3,
            "sm_clock_hz": None if sm is None else sm * 1e6,
            "mem_clock_hz": None if mem is None else mem * 1e6,
            "gpu_util_percent": None if util is None else float(util.gpu),
            "mem_util_percent": None if util is None else float(util.memory),
            "temperature_c": None if temp is None else float(temp),
            "clock_event_reasons": None if reasons is None else int(reasons),
            "read_ns": time.perf_counter_ns() - t0,
        }

    def _processes(self, t_ns: int) -> list[dict]:
        if t_ns - self._procs_at < _PROC_REFRESH_S * 1e9:
            return []
        self._procs_at = t_ns
        mine = self.ctx.pids()
        if not mine:
            return []
        alias = {}  # each PID of the workload's processes, in every namespace procfs shows -> the run's PID
        for pid in mine:
            try:
                nspid = _nspid((self.proc / str(pid) / "status").read_text())
            except OSError:
                nspid = []
            for q in nspid or [pid]:
                alias[q] = pid
        rows = []
        for i, h in enumerate(self.handles):
            for p in self._first_answer("compute_processes", i, nvml_adapter.PROCESS_CALLS, h) or []:
                if p.pid in alias:
                    used = getattr(p, "usedGpuMemory", None)
                    rows.append({"t_ns": t_ns, "gpu": i, "pid": alias[p.pid],
                                 "used_memory_bytes": None if used is None else int(used)})
                elif self._pid_ns["initial"] is False:
                    self._foreign_pids.add(int(p.pid))
        self._proc_rows += len(rows)
        return rows

    def _namespace_note(self) -> str | None:
        """Why ``gpu_processes`` stayed empty, when NVML listed processes none of which is a PID here."""
        if self._proc_rows or not self._foreign_pids:
            return None
        shown = ", ".join(map(str, sorted(self._foreign_pids)[:5])) + (", ..." if len(self._foreign_pids) > 5 else "")
        return (f"NVML names GPU processes by their PID in the host's PID namespace, but lowprof runs in another "
                f"({self._pid_ns['namespace'] or 'NSpid ' + str(self._pid_ns['nspid'])}, e.g. a container): "
                f"none of the PIDs NVML listed ({shown}) is one of the workload's, so gpu_processes is empty; "
                "run lowprof in the host's PID namespace (docker --pid=host) to attribute GPU memory")

    def sample(self, t_ns: int) -> dict[str, list[dict]]:
        t0 = time.perf_counter_ns()  # later GPUs are read a little after t_ns: stamp each with its own time
        rows = [self._read_gpu(i, h, t_ns + time.perf_counter_ns() - t0) for i, h in enumerate(self.handles)]
        return {"gpu_power": rows, "gpu_processes": self._processes(t_ns)}

    def stop(self) -> None:
        nvml_adapter.shutdown(self.nvml)

    def facts(self) -> dict:
        out = {"devices": self.devices, "refused": self.refused, "transient_errors": self.errors,
               "units": {"power": "W (NVML mW / 1e3)", "energy": "J (NVML mJ / 1e3)", "clocks": "Hz (NVML MHz * 1e6)"}}
        for reading, call in getattr(self, "_calls", {}).items():
            out[f"{reading}_call"] = call
        note = self._namespace_note() if hasattr(self, "_foreign_pids") else None
        if note:
            out["gpu_processes_note"] = note
            self.refused["gpu_processes"] = {str(i): "OtherPIDNamespace" for i in range(len(self.handles))}
        if hasattr(self, "_pid_ns"):
            out["pid_namespace"] = self._pid_ns
        return out


FEATURE = Feature("nvml", "per-GPU power, energy, clocks, utilisation, temperature, throttle reasons and per-process memory, via NVML", tables=NvmlProbe.tables,
                  manifest=owned_by("nvml"), probe=lambda: NvmlProbe)

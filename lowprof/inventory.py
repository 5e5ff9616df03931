"""This machine's inventory: host, caches, memory, NUMA, GPUs (via NVML) and software versions."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata
from pathlib import Path

import psutil

__all__ = ["host_facts", "recording_facts", "gpu_facts", "software_facts"]

_PACKAGES = ("lowprof", "pandas", "pyarrow", "rich", "psutil", "nvidia-ml-py", "py-spy", "numpy",
             "torch", "cupy-cuda13x", "cupy-cuda12x", "numba", "numba-cuda", "pyperf", "cffi",
             "cupti-python", "HolisticTraceAnalysis")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") or line.startswith("Model"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _caches() -> list[dict]:
    """CPU0's caches from sysfs: level, type, size in bytes, line size, and how many CPUs share each."""
    out = []
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for d in sorted(base.glob("index*")):
        def read(name: str) -> str | None:
            try:
                return (d / name).read_text().strip()
            except OSError:
                return None
        size = read("size") or ""
        mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(size[-1:], 1)
        out.append({
            "level": int(read("level") or 0),
            "type": read("type"),
            "size_bytes": int(size.rstrip("KMG") or 0) * mult,
            "line_bytes": int(read("coherency_line_size") or 0),
            "shared_cpu_list": read("shared_cpu_list"),
        })
    return out


def _numa_nodes() -> int:
    nodes = list(Path("/sys/devices/system/node").glob("node[0-9]*"))
    return len(nodes) or 1


def host_facts() -> dict:
    """Hostname, OS and kernel, CPU model, cores, caches (bytes), memory (bytes), NUMA nodes."""
    uname = platform.uname()
    try:
        os_name = platform.freedesktop_os_release().get("PRETTY_NAME", uname.system)
    except OSError:
        os_name = uname.system
    return {
        "hostname": socket.gethostname(),
        "os": os_name,
        "kernel": uname.release,
        "arch": uname.machine,
        "cpu_model": _cpu_model(),
        "cpu_logical": psutil.cpu_count(logical=True),
        "cpu_physical": psutil.cpu_count(logical=False),
        "caches": _caches(),
        "memory_bytes": psutil.virtual_memory().total,
        "numa_nodes": _numa_nodes(),
    }


def recording_facts(command: list[str] | None = None) -> dict:
    """The manifest entries every run that lowprof records starts with: the workload's ``command`` (None: no
    workload, a benchmark), ``lowprof_argv`` (how lowprof itself was called) and the ``host``."""
    return {"command": list(command) if command else None, "lowprof_argv": list(sys.argv), "host": host_facts()}


def gpu_facts() -> dict:
    """GPUs via NVML: ``{"available": bool, "reason": str|None, "driver_version", "cuda_driver_version", "devices": [...]}``.

    Per device: index, name, uuid, memory_bytes, power_limit_w (enforced), power limit min/max,
    pcie_gen/pcie_width (current and max). A reading the driver refuses is recorded as None.
    NVML is opened and its errors named by :mod:`lowprof.nvml_adapter`.
    """
    from lowprof import nvml_adapter

    pynvml, reason = nvml_adapter.open_reason()
    if reason:  # any NVML failure means "no GPU facts", with the reason
        return {"available": False, "reason": reason, "devices": []}
    try:
        def get(fn, *args):
            try:
                v = fn(*args)
                return v.decode() if isinstance(v, bytes) else v
            except pynvml.NVMLError:
                return None

        cuda = get(pynvml.nvmlSystemGetCudaDriverVersion_v2) or get(pynvml.nvmlSystemGetCudaDriverVersion)
        out = {
            "available": True,
            "reason": None,
            "driver_version": get(pynvml.nvmlSystemGetDriverVersion),
            "cuda_driver_version": f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
            "devices": [],
        }
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = get(pynvml.nvmlDeviceGetMemoryInfo, h)
            limit = get(pynvml.nvmlDeviceGetEnforcedPowerLimit, h)
            cons = get(pynvml.nvmlDeviceGetPowerManagementLimitConstraints, h)
            out["devices"].append({
                "index": i,
                "name": get(pynvml.nvmlDeviceGetName, h),
                "uuid": get(pynvml.nvmlDeviceGetUUID, h),
                "memory_bytes": mem.total if mem else None,
                "power_limit_w": limit / 1000 if limit else None,
                "power_limit_min_w": cons[0] / 1000 if cons else None,
                "power_limit_max_w": cons[1] / 1000 if cons else None,
                "pcie_gen": get(pynvml.nvmlDeviceGetCurrPcieLinkGeneration, h),
                "pcie_width": get(pynvml.nvmlDeviceGetCurrPcieLinkWidth, h),
                "pcie_gen_max": get(pynvml.nvmlDeviceGetMaxPcieLinkGeneration, h),
                "pcie_width_max": get(pynvml.nvmlDeviceGetMaxPcieLinkWidth, h),
            })
        return out
    finally:
        nvml_adapter.shutdown(pynvml)


def software_facts() -> dict:
    """Python version and the versions of the packages that shape results (absent ones omitted)."""
    pkgs = {}
    for name in _PACKAGES:
        try:
            pkgs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"python": sys.version.split()[0], "python_implementation": platform.python_implementation(),
            "executable": sys.executable, "packages": pkgs, "pid": os.getpid()}

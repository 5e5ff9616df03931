"""The GPU a benchmark runs on: CuPy device, NVRTC-compiled kernel modules, NVML handle for the
clock watch. Constructing a :class:`GpuSession` without a usable GPU raises
:class:`lowprof.errors.GPUUnavailable` with the reason in one line."""

from __future__ import annotations

import contextlib
from typing import Any

from lowprof import nvml_adapter
from lowprof.errors import GPUUnavailable
from lowprof.microbench.clockwatch import ClockWatch
from lowprof.microbench.toolchain import kernel_source

__all__ = ["GpuSession", "gpu_unavailable_reason"]


def gpu_unavailable_reason() -> str | None:
    """Why CuPy cannot run a kernel here (None when it can)."""
    try:
        import cupy
    except Exception as e:  # noqa: BLE001 - no CuPy wheel, or a broken one
        return f"CuPy is not importable ({type(e).__name__}: {e}); pip install 'lowprof[gpu]'"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CUDA reports no GPU"
    except Exception as e:  # noqa: BLE001 - no driver, insufficient driver, no device
        return str(e).split(":")[0].strip() or type(e).__name__  # e.g. cudaErrorInsufficientDriver
    return None if cupy.is_available() else "cupy.is_available() is False"


class GpuSession:
    """One CUDA device. ``module(name, defines=..., maxrregcount=...)`` compiles ``kernels/<name>.cu`` with
    NVRTC for this device's compute capability (cached)."""

    def __init__(self, device: int = 0) -> None:
        reason = gpu_unavailable_reason()
        if reason:
            raise GPUUnavailable(f"bench gpu: no usable CUDA GPU ({reason})")
        import cupy

        self.cupy = cupy
        self.device = cupy.cuda.Device(device)
        self.device.use()
        props = cupy.cuda.runtime.getDeviceProperties(device)
        self.name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        self.cc = f"{props['major']}{props['minor']}"
        self.sm_count = int(props["multiProcessorCount"])
        self.props = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in props.items()
                      if isinstance(v, (int, float, str, bytes))}
        self.compile_options: dict[str, list[str]] = {}
        self._modules: dict[tuple, Any] = {}
        self._tick: dict | None = None
        self.nvml, self.nvml_handle, self.nvml_reason = None, None, None
        nvml, self.nvml_reason = nvml_adapter.open_reason()  # held for the session (the adapter counts users)
        if nvml is not None:
            try:
                bus = cupy.cuda.runtime.deviceGetPCIBusId(device)  # CUDA and NVML may number GPUs differently
                self.nvml_handle = nvml.nvmlDeviceGetHandleByPciBusId(bus.encode() if isinstance(bus, str) else bus)
                self.nvml = nvml
            except Exception as e:  # noqa: BLE001 - benchmarks still run; clocks are then unknown
                self.nvml_reason = f"NVML has no handle for CUDA device {device}: {type(e).__name__}: {e}"
                nvml_adapter.shutdown(nvml)

    def module(self, name: str, defines: dict | None = None, maxrregcount: int | None = None):
        key = (name, tuple(sorted((defines or {}).items())), maxrregcount)
        if key not in self._modules:
            # CuPy appends -arch=sm_<cc> itself (a cubin for this device), so no arch option here
            opts = [f"-D{k}={v}" for k, v in sorted((defines or {}).items())]
            if maxrregcount:
                opts.append(f"--maxrregcount={maxrregcount}")
            self.compile_options[f"{name}{'' if not defines else str(sorted(defines.items()))}"
                                 f"{'' if not maxrregcount else f' r{maxrregcount}'}"] = opts + [f"(CuPy: -arch=sm_{self.cc})"]
            self._modules[key] = self.cupy.RawModule(code=kernel_source(name), options=tuple(opts), backend="nvrtc")
        return self._modules[key]

    def watch(self):
        """A :class:`ClockWatch` on this GPU, or a no-op context (summary None) without NVML."""
        if self.nvml is None:
            return _NoWatch()
        return ClockWatch(self.nvml, self.nvml_handle)

    def globaltimer_tick(self) -> dict:
        """``%globaltimer``'s step on this GPU (measured once, cached): see :func:`lowprof.microbench.globaltimer.measure_tick`."""
        if self._tick is None:
            from lowprof.microbench.globaltimer import measure_tick

            self._tick = measure_tick(self)
        return self._tick

    def sm_clock_hz(self) -> float | None:
        """SM clock now (NVML), in Hz: an idle GPU reads its idle clock (an H200: 345 MHz, 1980 under load),
        so never use it to convert a kernel's cycles (instr measures its kernels' own clock)."""
        if self.nvml is None:
            return None
        return self.nvml.nvmlDeviceGetClockInfo(self.nvml_handle, self.nvml.NVML_CLOCK_SM) * 1e6

    def sync(self) -> None:
        self.cupy.cuda.runtime.deviceSynchronize()


class _NoWatch(contextlib.AbstractContextManager):
    def __exit__(self, *exc) -> None:
        return None

    def summary(self) -> dict | None:
        return None

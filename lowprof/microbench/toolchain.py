"""Offline CUDA toolchain: find nvcc / nvdisasm / cuobjdump, compile a kernel source to a cubin, read back
its resource usage (registers, spill/local bytes, shared memory) and its SASS. Runs without a GPU.

Tools are looked up on ``$PATH``, under ``$CUDA_HOME/bin`` and ``/usr/local/cuda/bin``, then in the
``nvidia-cuda-nvdisasm`` / ``nvidia-cuda-cuobjdump`` wheels (``site-packages/nvidia/cu*/bin``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lowprof.errors import ToolchainError

__all__ = ["KERNEL_DIR", "kernel_source", "kernel_names", "find_tool", "compile_cubin", "ResourceUsage",
           "parse_ptxas_verbose", "parse_cuobjdump_resources", "resource_usage", "disassemble"]

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"


def kernel_names() -> list[str]:
    """The kernel source files shipped with lowprof, without ``.cu``."""
    return sorted(p.stem for p in KERNEL_DIR.glob("*.cu"))


def kernel_source(name: str) -> str:
    """Text of ``kernels/<name>.cu``."""
    path = KERNEL_DIR / f"{name}.cu"
    if not path.is_file():
        raise ToolchainError(f"no kernel source {name!r}; have {', '.join(kernel_names())}")
    return path.read_text()


def _candidate_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    if os.environ.get("CUDA_HOME"):
        dirs.append(Path(os.environ["CUDA_HOME"]) / "bin")
    dirs.append(Path("/usr/local/cuda/bin"))
    for base in map(Path, sys.path):
        nv = base / "nvidia"
        if nv.is_dir():
            dirs.extend(sorted(nv.glob("cu*/bin"), reverse=True))
    return dirs


def find_tool(name: str) -> Path | None:
    """Absolute path of a CUDA tool (``nvcc``, ``nvdisasm``, ``cuobjdump``), or None."""
    for d in _candidate_dirs():
        p = d / name
        if p.is_file() and os.access(p, os.X_OK):
            return p
    found = shutil.which(name)
    return Path(found) if found else None


def _need(name: str) -> Path:
    p = find_tool(name)
    if p is None:
        hint = {"nvcc": "install the CUDA toolkit", "nvdisasm": "pip install nvidia-cuda-nvdisasm",
                "cuobjdump": "pip install nvidia-cuda-cuobjdump"}.get(name, "")
        raise ToolchainError(f"{name} not found on PATH, $CUDA_HOME/bin or /usr/local/cuda/bin ({hint})")
    return p


@dataclass(frozen=True)
class ResourceUsage:
    """What ptxas allocated for one kernel. Bytes are per thread except ``shared_bytes`` (per block)."""

    kernel: str
    registers: int
    stack_frame_bytes: int
    spill_store_bytes: int
    spill_load_bytes: int
    shared_bytes: int = 0
    local_bytes: int | None = None  # cuobjdump STACK + LOCAL: per-thread local memory (spills live in the stack)


_FUNC = re.compile(r"Compiling entry function '([^']+)'")
_PROPS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers(?:.*?(\d+) bytes smem)?")


def parse_ptxas_verbose(text: str) -> dict[str, ResourceUsage]:
    """Parse ``ptxas -v`` (``nvcc -Xptxas -v``) output: kernel name -> :class:`ResourceUsage`."""
    out: dict[str, ResourceUsage] = {}
    name, props = None, (0, 0, 0)
    for line in text.splitlines():
        if m := _FUNC.search(line):
            name, props = m.group(1), (0, 0, 0)
        elif (m := _PROPS.search(line)) and name:
            props = tuple(int(g) for g in m.groups())
        elif (m := _USED.search(line)) and name:
            out[name] = ResourceUsage(name, int(m.group(1)), *props, shared_bytes=int(m.group(2) or 0))
            name = None
    return out


_RES = re.compile(r"Function ([^\s:]+):\s*\n\s*REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)")


def parse_cuobjdump_resources(text: str) -> dict[str, dict[str, int]]:
    """Parse ``cuobjdump --dump-resource-usage``: kernel -> {registers, stack, shared, local} bytes."""
    return {m.group(1): {"registers": int(m.group(2)), "stack_bytes": int(m.group(3)),
                         "shared_bytes": int(m.group(4)), "local_bytes": int(m.group(5))}
            for m in _RES.finditer(text)}


def compile_cubin(name: str, arch: str = "sm_90", *, defines: dict[str, int | str] | None = None,
                  maxrregcount: int | None = None, out_dir: str | os.PathLike | None = None,
                  extra: tuple[str, ...] = ()) -> tuple[Path, str]:
    """Compile ``kernels/<name>.cu`` with nvcc to a cubin for ``arch``; returns (cubin path, ptxas -v text).

    Raises :class:`ToolchainError` quoting nvcc's first error lines when the source does not compile.
    """
    if not re.fullmatch(r"sm_\d{2,3}[af]?", arch):
        raise ToolchainError(f"arch {arch!r} is not of the form sm_90")
    nvcc = _need("nvcc")
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="lowprof-cubin-"))
    tag = "".join(f"_{k}{v}" for k, v in sorted((defines or {}).items()))
    tag += f"_r{maxrregcount}" if maxrregcount else ""
    cubin = out_dir / f"{name}_{arch}{tag}.cubin"
    cmd = [str(nvcc), "-cubin", f"-arch={arch}", "-Xptxas", "-v", "-o", str(cubin), str(KERNEL_DIR / f"{name}.cu")]
    cmd += [f"-D{k}={v}" for k, v in (defines or {}).items()]
    if maxrregcount:
        cmd.append(f"-maxrregcount={maxrregcount}")
    cmd += list(extra)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        errs = [ln for ln in proc.stderr.splitlines() if "error" in ln.lower()] or proc.stderr.splitlines()
        raise ToolchainError(f"nvcc rejected {name}.cu for {arch}: {' | '.join(errs[:3])}")
    return cubin, proc.stderr + proc.stdout


def resource_usage(name: str, arch: str = "sm_90", **kw) -> dict[str, ResourceUsage]:
    """Compile and read back each kernel's registers and spill bytes (ptxas -v), plus cuobjdump's LOCAL
    bytes where cuobjdump is installed."""
    cubin, log = compile_cubin(name, arch, **kw)
    usage = parse_ptxas_verbose(log)
    tool = find_tool("cuobjdump")
    if tool:
        proc = subprocess.run([str(tool), "--dump-resource-usage", str(cubin)], capture_output=True, text=True)
        for k, r in parse_cuobjdump_resources(proc.stdout).items():
            if k in usage:
                u = usage[k]
                usage[k] = ResourceUsage(u.kernel, u.registers, u.stack_frame_bytes, u.spill_store_bytes,
                                         u.spill_load_bytes, u.shared_bytes, r["stack_bytes"] + r["local_bytes"])
    return usage


def disassemble(cubin: str | os.PathLike) -> str:
    """SASS text of a cubin (``nvdisasm -c``: code sections only)."""
    proc = subprocess.run([str(_need("nvdisasm")), "-c", str(cubin)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolchainError(f"nvdisasm failed on {cubin}: {proc.stderr.strip()[:200]}")
    return proc.stdout

"""What can be learned from the kernels without a GPU: every source compiled for each target, registers
and spills per kernel, the register-pressure sweep, operand-bank parity variants and the hot-loop opcode
mix that each timing kernel is meant to time (``lowprof bench gpu --offline``)."""

from __future__ import annotations

from lowprof.microbench.benchmarks import regs
from lowprof.microbench.sass import hot_loop, opcode_counts, parse_sass
from lowprof.microbench.toolchain import compile_cubin, disassemble, find_tool, kernel_names, parse_ptxas_verbose

__all__ = ["offline_report", "EXPECTED_HOT_OPCODE"]

# The opcode each timing kernel's hot loop must be made of (checked against the SASS).
EXPECTED_HOT_OPCODE = {
    "ffma": "FFMA", "imad": "IMAD", "hfma2": "HFMA2", "ex2": "MUFU.EX2", "dfma": "DFMA",
    "smem_chase": "LDS", "chase_latency": "LDG.E.64", "warp_stamps": "FFMA",
}


def offline_report(archs: tuple[str, ...] = ("sm_90", "sm_80")) -> dict:
    """Compile everything for ``archs``; returns per-arch kernel resources and hot-loop opcode counts,
    plus the sm_90 register-pressure sweep and bank variants (nvdisasm needed for SASS facts)."""
    have_sass = find_tool("nvdisasm") is not None
    rep: dict = {"archs": list(archs), "nvcc": str(find_tool("nvcc")), "nvdisasm": str(find_tool("nvdisasm")),
                 "kernels": {}}
    for arch in archs:
        for name in kernel_names():
            cubin, log = compile_cubin(name, arch)
            hot = {}
            if have_sass:
                for k, instrs in parse_sass(disassemble(cubin)).items():
                    hot[k] = dict(opcode_counts(hot_loop(instrs)).most_common(3))
            for k, u in parse_ptxas_verbose(log).items():
                rep["kernels"].setdefault(arch, {})[k] = {"source": f"{name}.cu", "registers": u.registers,
                                                          "spill_store_bytes": u.spill_store_bytes,
                                                          "shared_bytes": u.shared_bytes, "hot_loop": hot.get(k, {})}
    rep["register_pressure"] = regs.pressure_sweep(archs[0])
    rep["bank_variants"] = regs.bank_variants(archs[0]) if have_sass else "nvdisasm not found"
    return rep

"""Register file: register pressure vs occupancy and spilling, and operand-bank parity variants.

Offline (no GPU): :func:`pressure_sweep` compiles ``reg_pressure`` at several ``-maxrregcount`` values with
nvcc and reads back registers and spill / local bytes; :func:`bank_variants` compiles ``operand_banks``
variants and classifies their hot-loop FFMAs by source-register parity from the SASS (nvdisasm). On a GPU,
:func:`measure` reads ``num_regs`` / ``local_size_bytes`` of the NVRTC build, the occupancy CUDA reports, and
the FFMA throughput of each build. Bank effects are what ptxas's allocation gives, not chosen registers.
"""

from __future__ import annotations

import math

from lowprof.microbench.results import Result

NAME = "regs"
HELP = "register pressure vs occupancy and spills at several maxrregcount; operand-bank parity variants"
EXPECTED_S = 15.0  # 5 NVRTC builds + 4 variants, each timed 5x for ~20 ms

MAXREGS = (32, 64, 96, 128, 255)
NACC = 96
VARIANTS = (0, 1, 2, 3)

# Per-SM limits (CUDA C++ Programming Guide, "Technical Specifications per Compute Capability").
SM_LIMITS = {
    "sm_80": {"regs": 65536, "warps": 64, "blocks": 32, "reg_unit": 256},
    "sm_90": {"regs": 65536, "warps": 64, "blocks": 32, "reg_unit": 256},
}


def theoretical_warps_per_sm(registers: int, threads_per_block: int, arch: str = "sm_90") -> int:
    """Resident warps per SM that the register file allows (registers allocated per warp in units of 256),
    capped by the warp and block limits; shared memory is not a limit for these kernels."""
    lim = SM_LIMITS[arch]
    warps_per_block = math.ceil(threads_per_block / 32)
    per_warp = math.ceil(max(registers, 1) * 32 / lim["reg_unit"]) * lim["reg_unit"]
    blocks = min(lim["regs"] // (per_warp * warps_per_block), lim["blocks"], lim["warps"] // warps_per_block)
    return blocks * warps_per_block


def pressure_sweep(arch: str = "sm_90", maxregs=MAXREGS, threads_per_block: int = 256) -> list[dict]:
    """nvcc builds of ``reg_pressure`` at each ``-maxrregcount``: registers, spills, occupancy."""
    from lowprof.microbench.toolchain import resource_usage

    rows = []
    for r in maxregs:
        u = resource_usage("regs", arch, maxrregcount=r, defines={"NACC": NACC})["reg_pressure"]
        rows.append({"maxrregcount": r, "registers": u.registers, "spill_store_bytes": u.spill_store_bytes,
                     "spill_load_bytes": u.spill_load_bytes, "stack_frame_bytes": u.stack_frame_bytes,
                     "local_bytes": u.local_bytes,
                     "warps_per_sm": theoretical_warps_per_sm(u.registers, threads_per_block, arch)})
    return rows


def bank_variants(arch: str = "sm_90") -> list[dict]:
    """Per ``VARIANT`` of ``operand_banks``: its hot-loop FFMAs by source-register parity."""
    from lowprof.microbench.sass import bank_parity, hot_loop, parse_sass
    from lowprof.microbench.toolchain import compile_cubin, disassemble

    rows = []
    for v in VARIANTS:
        cubin, _ = compile_cubin("regs", arch, defines={"VARIANT": v})
        body = hot_loop(parse_sass(disassemble(cubin))["operand_banks"])
        st = bank_parity(body, "FFMA")
        rows.append({"variant": v, "ffma": st.instructions, "same_bank": st.same_bank, "mixed": st.mixed,
                     "reuse_operands": st.reuse_operands, "same_register": st.same_register,
                     "same_bank_fraction": st.same_bank_fraction})
    return rows


def _time_ms(cp, fn, grid, block, args, reps: int) -> list[float]:
    start, end = cp.cuda.Event(), cp.cuda.Event()
    fn(grid, block, args)
    out = []
    for _ in range(reps):
        start.record()
        fn(grid, block, args)
        end.record()
        end.synchronize()
        out.append(cp.cuda.get_elapsed_time(start, end))
    return out


def measure(gpu, quick: bool = False) -> list[Result]:
    import numpy as np
    from lowprof.microbench.stats import summarize

    cp = gpu.cupy
    from cupy_backends.cuda.api import driver

    reps = 2 if quick else 5
    iters = 64 if quick else 512
    threads = 256
    out: list[Result] = []
    inp = cp.arange(1024, dtype=cp.float32) / 1024
    for r in MAXREGS:
        fn = gpu.module("regs", defines={"NACC": NACC}, maxrregcount=r).get_function("reg_pressure")
        try:
            blocks_per_sm = driver.occupancyMaxActiveBlocksPerMultiprocessor(fn.kernel.ptr, threads, 0)
        except Exception:  # noqa: BLE001 - older CuPy: fall back on the register-file arithmetic
            blocks_per_sm = theoretical_warps_per_sm(fn.num_regs, threads, f"sm_{gpu.cc}") // (threads // 32)
        grid = (gpu.sm_count * max(blocks_per_sm, 1),)
        sink = cp.zeros(grid[0] * threads, dtype=cp.float32)
        ms = _time_ms(cp, fn, grid, (threads,), (sink, inp, np.int32(iters)), reps)
        flops = 2.0 * NACC * iters * grid[0] * threads
        p = {"maxrregcount": r, "num_regs": fn.num_regs, "local_size_bytes": fn.local_size_bytes,
             "blocks_per_sm": blocks_per_sm, "warps_per_sm": blocks_per_sm * threads // 32, "nacc": NACC}
        out.append(Result(NAME, "registers", fn.num_regs, "registers/thread", params=p))
        out.append(Result(NAME, "local memory", fn.local_size_bytes, "B/thread", params=p))
        out.append(Result(NAME, "occupancy", blocks_per_sm * threads // 32, "warps/SM", params=p))
        out.append(Result.from_summary(NAME, "ffma throughput", summarize([flops / (m * 1e-3) / 1e9 for m in ms]),
                                       "Gflop/s", **p))
    try:
        parity = {row.pop("variant"): row for row in bank_variants(f"sm_{gpu.cc}")}
    except Exception as e:  # noqa: BLE001 - no nvcc/nvdisasm on the GPU machine: timing without parity
        parity = {v: {"parity_unavailable": str(e)[:200]} for v in VARIANTS}
    warps = 4
    for v in VARIANTS:
        fn = gpu.module("regs", defines={"VARIANT": v}).get_function("operand_banks")
        sink = cp.zeros(warps * 32, dtype=cp.float32)
        stamps = cp.zeros(2 * warps, dtype=cp.int64)
        vals = []
        for _ in range(reps + 1):
            fn((1,), (warps * 32,), (sink, stamps, np.int32(iters), np.float32(0.5)))
            cp.cuda.runtime.deviceSynchronize()
            s = stamps.get().reshape(-1, 2)
            vals.append(warps * 32 * 32 * iters / int(s[:, 1].max() - s[:, 0].min()))
        out.append(Result.from_summary(NAME, "operand bank variant", summarize(vals[1:]), "thread-instr/cycle/SM",
                                       variant=v, warps=warps, parity_source="nvcc+nvdisasm offline build",
                                       **parity.get(v, {})))
    return out

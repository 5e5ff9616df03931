"""Every CUDA kernel of lowprof.microbench compiles (nvcc, sm_90 and sm_80; NVRTC where usable), and what
the compiled code says without a GPU: registers and spills vs -maxrregcount, SASS opcode mix of each
timing loop, operand-bank parity of the bank variants."""

from __future__ import annotations

import functools
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from lowprof.errors import ToolchainError
from lowprof.microbench.benchmarks import regs
from lowprof.microbench.offline import EXPECTED_HOT_OPCODE
from lowprof.microbench.sass import bank_parity, hot_loop, opcode_counts, parse_sass
from lowprof.microbench.toolchain import (compile_cubin, disassemble, find_tool, kernel_names, kernel_source,
                                          parse_cuobjdump_resources, parse_ptxas_verbose)

needs_nvcc = pytest.mark.skipif(find_tool("nvcc") is None, reason="nvcc not installed (CUDA toolkit)")
needs_nvdisasm = pytest.mark.skipif(find_tool("nvdisasm") is None,
                                    reason="nvdisasm not installed (pip install nvidia-cuda-nvdisasm)")
ARCHS = ("sm_90", "sm_80")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """(source, arch) -> (cubin path, ptxas -v log), compiled two at a time."""
    if find_tool("nvcc") is None:
        pytest.skip("nvcc not installed (CUDA toolkit)")
    d = tmp_path_factory.mktemp("cubins")
    jobs = [(n, a) for n in kernel_names() for a in ARCHS]
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda j: compile_cubin(j[0], j[1], out_dir=d), jobs))
    return dict(zip(jobs, done))


@pytest.fixture(scope="module")
def sass():
    """A cubin's SASS text (nvdisasm), each cubin disassembled once for the tests that read it."""
    return functools.lru_cache(maxsize=None)(disassemble)


def test_the_suite_ships_its_kernel_sources():
    assert set(kernel_names()) >= {"launch", "instr", "regs", "sched", "smem", "memory"}


@needs_nvcc
def test_every_kernel_compiles_for_sm90_and_sm80(builds):
    for (name, arch), (cubin, log) in builds.items():
        assert cubin.stat().st_size > 0, (name, arch)
        kernels = set(re.findall(r'extern "C" __global__ void (\w+)', kernel_source(name)))
        kernels |= {f"{op}_ilp{i}" for op in ("ffma", "imad", "hfma2", "ex2", "dfma") for i in (1, 2, 4, 8)} \
            if name == "instr" else set()
        kernels.discard("NAME")  # the macro's parameter in instr.cu
        got = set(parse_ptxas_verbose(log))
        assert kernels <= got, f"{name}.cu {arch}: ptxas did not report {kernels - got}"


@needs_nvcc
def test_a_broken_kernel_fails_with_nvccs_error(tmp_path, monkeypatch):
    import lowprof.microbench.toolchain as tc

    (tmp_path / "broken.cu").write_text('extern "C" __global__ void k(float* a) { a[0] = undeclared; }\n')
    monkeypatch.setattr(tc, "KERNEL_DIR", tmp_path)
    with pytest.raises(ToolchainError, match=r"nvcc rejected broken\.cu for sm_90: .*undeclared"):
        tc.compile_cubin("broken", "sm_90", out_dir=tmp_path)


@pytest.mark.gpu
def test_nvrtc_compiles_every_kernel_where_nvrtc_is_usable():
    cupy = pytest.importorskip("cupy")
    from cupy.cuda import compiler

    try:
        compiler.compile_using_nvrtc('extern "C" __global__ void k() {}', options=("-arch=compute_90",))
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"NVRTC not usable here without a CUDA driver ({type(e).__name__}); nvcc covers the sources")
    for name in kernel_names():
        compiler.compile_using_nvrtc(kernel_source(name), options=("-arch=compute_90", "-std=c++17"))
    assert cupy


@pytest.mark.slow
@needs_nvdisasm
def test_each_timing_loop_is_made_of_the_instruction_it_times(builds, sass):
    for (name, arch), (cubin, _) in builds.items():
        for kernel, instrs in parse_sass(sass(cubin)).items():
            want = EXPECTED_HOT_OPCODE.get(kernel) or EXPECTED_HOT_OPCODE.get(kernel.split("_ilp")[0])
            if not want:
                continue
            counts = opcode_counts(hot_loop(instrs))
            got = sum(n for op, n in counts.items() if op == want or op.startswith(want + "."))
            assert got >= 16, f"{kernel} ({arch}): hot loop {dict(counts)} has {got} x {want}"
            if "_ilp" in kernel:  # nothing but the timed op and loop control
                assert got >= 0.9 * sum(counts.values()), f"{kernel} ({arch}): {dict(counts)}"


@needs_nvdisasm
def test_chase_stamp_waits_for_the_load(builds, sass):
    """Each stamped load's result is stored (STS) before the end clock is read: the stamp covers the load."""
    cubin, _ = builds[("memory", "sm_90")]
    body = hot_loop(parse_sass(sass(cubin))["chase_latency"])
    ops = [i.opcode for i in body]
    loads = [k for k, o in enumerate(ops) if o.startswith("LDG")]
    assert loads
    for k in loads:
        rest = ops[k + 1:]
        assert rest.index(next(o for o in rest if o.startswith("STS"))) < rest.index(next(o for o in rest if "CS2R" in o))


@needs_nvcc
def test_register_cap_trades_registers_for_spills():
    rows = {r["maxrregcount"]: r for r in regs.pressure_sweep("sm_90", maxregs=(32, 64, 255))}
    for cap, r in rows.items():
        assert r["registers"] <= cap
    assert rows[32]["spill_store_bytes"] > rows[64]["spill_store_bytes"] > rows[255]["spill_store_bytes"] == 0
    # 96 live floats do not fit 32 or 64 registers: what does not fit lives in the stack frame
    assert rows[32]["stack_frame_bytes"] >= rows[32]["spill_store_bytes"] / 2 > 0
    if find_tool("cuobjdump"):
        assert rows[32]["local_bytes"] >= rows[32]["stack_frame_bytes"]
    assert rows[255]["warps_per_sm"] < rows[32]["warps_per_sm"]


@needs_nvdisasm
def test_bank_variants_are_classified_from_the_sass(builds, sass):
    rows = regs.bank_variants("sm_90")
    assert [r["variant"] for r in rows] == list(regs.VARIANTS)
    for r in rows:
        assert r["ffma"] == 128  # 4 x 8 FFMAs per loop iteration, unrolled 4 x
        assert r["same_bank"] + r["mixed"] <= r["ffma"] and r["same_register"] <= r["same_bank"]
    # variant 3 is fmaf(v, v, v): one register as every source, so one bank by construction
    assert rows[3]["same_register"] == rows[3]["same_bank"] == 128
    assert rows[0]["mixed"] > rows[0]["same_bank"]  # distinct sources: ptxas spreads them over both banks
    # cross-check variant 0 by hand: parity of the non-.reuse source register numbers in the SASS text
    cubin, _ = builds[("regs", "sm_90")]
    body = hot_loop(parse_sass(sass(cubin))["operand_banks"])
    same = 0
    for i in body:
        if i.opcode == "FFMA":
            toks = re.findall(r"\bR(\d+)(\.reuse)?", i.operands.split(",", 1)[1])
            read = [int(n) % 2 for n, reuse in toks if not reuse]
            same += len(read) >= 2 and len(set(read)) == 1
    assert bank_parity(body).same_bank == same == rows[0]["same_bank"]


def test_resource_parsers_read_real_tool_output():
    ptxas = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'reg_pressure' for 'sm_90'
ptxas info    : Function properties for reg_pressure
    416 bytes stack frame, 780 bytes spill stores, 784 bytes spill loads
ptxas info    : Used 32 registers, used 0 barriers
ptxas info    : Compiling entry function 'smem_chase' for 'sm_90'
ptxas info    : Function properties for smem_chase
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 15 registers, used 1 barriers, 32768 bytes smem
"""
    u = parse_ptxas_verbose(ptxas)
    assert (u["reg_pressure"].registers, u["reg_pressure"].spill_store_bytes, u["reg_pressure"].stack_frame_bytes) == (32, 780, 416)
    assert (u["smem_chase"].registers, u["smem_chase"].shared_bytes) == (15, 32768)
    cuobj = """
Resource usage:
 Common:
  GLOBAL:0
 Function reg_pressure:
  REG:32 STACK:416 SHARED:0 LOCAL:0 CONSTANT[0]:540 TEXTURE:0 SURFACE:0 SAMPLER:0
"""
    assert parse_cuobjdump_resources(cuobj)["reg_pressure"] == {"registers": 32, "stack_bytes": 416, "shared_bytes": 0,
                                                                "local_bytes": 0}

"""Real runs shared by the analysis tests (compare, plots, export, perfetto, many), recorded once per session:
the session fixture ``shared_runs`` (tests/conftest.py) is one ``SharedRuns`` over the session's folder (one per
pytest-xdist worker), and records each run the first time a test asks for it.

Recorded on this machine with the real CLI: two runs of the demo's CPU phase with the same command and
one with another thread count; a sweep over batch 1, 4 of marked passes; a short TLB sweep; and real
Kineto traces imported as a two-rank job (``job/rank0``, ``job/rank1``) and as one A100 run.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.conftest import TRACES, run_cli

KINETO = TRACES / "kineto"
# The demo workload's CPU phase alone (pure-Python threads + a numpy matmul loop), without its torch
# phase: the same real work, and a run costs ~1 s instead of ~4 s of the shared CPUs.
DEMO = [sys.executable, "-c", "import sys; from lowprof.workloads.demo import cpu_phase; cpu_phase(0.3, int(sys.argv[1]))"]


PASSES = ("import sys, lowprof, numpy as np\n"
          "b = int(sys.argv[1]); rng = np.random.default_rng(0)\n"
          "x, w = rng.standard_normal((64 * b, 256)), rng.standard_normal((256, 256)) / 16\n"
          "with lowprof.mark('warmup'): np.tanh(x @ w)\n"
          "for i in range(4):\n"
          "    with lowprof.mark('pass'): y = np.tanh(np.tanh(x @ w) @ w)\n")
POWER_FIXTURE = Path(__file__).resolve().parent / "data" / "power" / "synthetic_h100x2.nvml.jsonl"
MARKED = ("import lowprof, time\n"
          "for i in range(3):\n"
          "    with lowprof.mark('prefill'): time.sleep(0.02)\n"
          "    with lowprof.mark('decode'): time.sleep(0.05)\n")


class SharedRuns:
    """The session's shared runs under ``root``, each recorded by the real CLI the first time it is asked for."""

    def __init__(self, root: Path):
        self.root = root
        self._done: set[str] = set()

    def _record(self, name: str, *args: str) -> Path:
        out = self.root / name
        if name not in self._done:
            p = run_cli(*args, timeout=180, env={"OMP_NUM_THREADS": "1"})
            assert p.returncode == 0, p.stderr
            self._done.add(name)
        return out

    def demo(self, name: str, threads: int) -> Path:
        """A `lowprof run` of the demo workload's CPU phase on ``threads`` threads."""
        return self._record(name, "run", "--out", self.root / name, "--quiet", "--", *DEMO, str(threads))

    def pass_sweep(self) -> Path:
        """`lowprof sweep` over batch 1, 4: a numpy two-layer pass of 64 x batch rows, four passes each
        marked with lowprof.mark('pass') (plus one 'warmup')."""
        return self._record("sweep", "sweep", "--param", "batch=1,4", "--out", self.root / "sweep", "--quiet",
                            "--probes", "system", "--", sys.executable, "-c", PASSES, "{batch}")

    def tlb(self) -> Path:
        return self._record("tlb", "bench", "tlb", "--out", self.root / "tlb", "--max-bytes", "256M",
                            "--max-pages", "4096", "--per-octave", "2", "--passes", "2", "--quiet")

    def imported(self, name: str, trace: str) -> Path:
        return self._record(name, "import", KINETO / trace, "--out", self.root / name, "--quiet")

    def rank_job(self) -> Path:
        """Two real ranks of one 128-rank NCCL job (HTA's sampled traces), one run directory per rank."""
        self.imported("job/rank0", "timeline_analysis__sampled_rank-0.json.gz")
        self.imported("job/rank1", "trace_filter__sampled_rank-1.json.gz")
        return self.root / "job"

    def marked(self) -> Path:
        """A real run whose workload marks three prefill and three decode phases with lowprof.mark."""
        return self._record("marked", "run", "--out", self.root / "marked", "--quiet", "--", sys.executable, "-c",
                            MARKED)

    def power_replay(self) -> Path:
        """The nvml probe replayed over tests/data/power's SYNTHETIC 2x H100 file (no GPU here), with the
        file's phases (prefill 1.0-1.6 s, decode 1.6-5.0 s) written as the run's marks.jsonl."""
        import json

        out = self.root / "power-replay"
        if "power-replay" not in self._done:
            from lowprof.probes.nvml_record import replay_to_run

            replay_to_run(POWER_FIXTURE, out)
            phases = json.loads(POWER_FIXTURE.read_text().splitlines()[0])["phases_s"]
            lines = [json.dumps({"name": n, "kind": k, "t_s": t}) for n in ("prefill", "decode")
                     for k, t in zip(("begin", "end"), phases[n])]
            (out / "marks.jsonl").write_text("\n".join(lines) + "\n")
            self._done.add("power-replay")
        return out

    def host_bench(self) -> Path:
        """`lowprof bench host` (pyperf) of the Python-call dispatch cost, shortest settings."""
        return self._record("host-bench", "bench", "host", "--out", self.root / "host-bench", "-p", "1", "-n", "2",
                            "-l", "10000", "--only", "python call", "--quiet")


def copy_of(src: Path, dst: Path) -> Path:
    if not dst.exists():
        shutil.copytree(src, dst)
    return dst


def lowprof_main(capsys, *args) -> tuple[int, str, str]:
    """``lowprof ARGS`` in this process (the CLI's own main): exit status, stdout, stderr."""
    from lowprof.cli import main

    capsys.readouterr()
    rc = main([str(a) for a in args])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err

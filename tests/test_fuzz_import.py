"""Fuzz test of the trace importer (standing test): seeded mutations of the shared Kineto traces and nsys
exports (SQL-level: NULLs, text, huge ints, dropped tables/columns) imported by
the real CLI; every outcome is success or one clean error, never a traceback, crash, hang or a
half-written run directory (see tests/_fuzz_import_worker.py for the mutations and the rules).

Bounded to LOWPROF_FUZZ_SECONDS (default 60) in `make test`; e.g. ``LOWPROF_FUZZ_SECONDS=1800
LOWPROF_FUZZ_SEED=7 make test`` for a longer run with another seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, TRACES

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("LOWPROF_FUZZ_SECONDS", "60"))
SEED = int(os.environ.get("LOWPROF_FUZZ_SEED", "18"))
WORKER = Path(__file__).with_name("_fuzz_import_worker.py")


@pytest.mark.skipif(not (TRACES / "kineto").is_dir(), reason="no Kineto traces in the repo")
def test_kineto_import_fuzz(tmp_path: Path):
    p = subprocess.run([sys.executable, str(WORKER), str(SEED), str(SECONDS), str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=SECONDS + 600)
    assert p.returncode == 0, p.stderr[-3000:]
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    print(f"import fuzz (seed {summary['seed']}, {SECONDS:g} s): {summary['inputs']} inputs from "
          f"{summary['sources']} traces: {summary['outcomes']}; commonest errors: {summary['top_errors']}; by source: {summary['by_kind']}")
    # A minute must try a fair number (50 when the minute's CPU is all the fuzzer's): counted per CPU second it
    # was given, not per wall second, which a busy machine shares out (34 inputs in a loaded minute, was flaky).
    assert summary["inputs"] >= 50 * min(summary["cpu_s"], 60) / 60, summary
    assert summary["outcomes"]["ok"] > 0 and summary["outcomes"]["error"] > 0, summary
    assert summary["outcomes"]["FAIL"] == 0, json.dumps(summary["failures"], indent=1)
    nsys = summary["by_kind"].get("nsys", {})
    if (TRACES / "nsys").is_dir():  # the SQL-mutated nsys exports: both outcomes reached
        assert nsys.get("ok", 0) > 0 and nsys.get("error", 0) > 0, summary["by_kind"]

"""Fuzz test of the trace importer (standing test): seeded mutations of the shared Kineto traces and nsys
exports (SQL-level: NULLs, text, huge ints, dropped tables/columns) imported by
the real CLI; every outcome is success or one clean error, never a traceback, crash, hang or a
half-written run directory (see tests/_fuzz_import_worker.py for the mutations and the rules).

A fixed number of inputs from a fixed seed: LOWPROF_FUZZ_INPUTS (default 150) mutants of seed LOWPROF_FUZZ_SEED
(default 12), the same inputs on any machine however busy. Seed 12 reaches every mutation family of the worker
within its first 30 inputs (each bytes and structure mutation, each container, nsys SQL and byte damage), which
the test asserts; e.g. ``LOWPROF_FUZZ_INPUTS=2000 LOWPROF_FUZZ_SEED=7 make test`` for a longer run.
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

INPUTS = int(os.environ.get("LOWPROF_FUZZ_INPUTS", "150"))
SEED = int(os.environ.get("LOWPROF_FUZZ_SEED", "12"))
# Every mutation the worker can make (tests/_fuzz_import_worker.py: _bytes_mutation, _structure_mutation,
# _container, _nsys_mutation), as its summary names them.
FAMILIES = ({f"bytes:{k}" for k in ("flip", "cut", "whitespace", "utf8", "delete", "duplicate")}
            | {f"structure:{k}" for k in ("field", "args", "meta", "events", "ids")}
            | {f"container:{k}" for k in ("plain", "gzip", "members", "cut-gzip", "bad-gzip", "garbage-after")})
NSYS_FAMILIES = {"nsys:sql", "nsys:bytes"}
WORKER = Path(__file__).with_name("_fuzz_import_worker.py")


@pytest.mark.skipif(not (TRACES / "kineto").is_dir(), reason="no Kineto traces in the repo")
def test_kineto_import_fuzz(tmp_path: Path):
    p = subprocess.run([sys.executable, str(WORKER), str(SEED), str(INPUTS), str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=600 + 60 * INPUTS)
    assert p.returncode == 0, p.stderr[-3000:]
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    print(f"import fuzz (seed {summary['seed']}): {summary['inputs']} inputs from "
          f"{summary['sources']} traces: {summary['outcomes']}; commonest errors: {summary['top_errors']}; by source: {summary['by_kind']}")
    assert summary["inputs"] == INPUTS and sum(summary["outcomes"].values()) == INPUTS, summary
    want = FAMILIES | (NSYS_FAMILIES if (TRACES / "nsys").is_dir() else set())
    if INPUTS >= 30 and SEED == 12:  # the default run: every mutation family was tried
        assert want <= set(summary["families"]), sorted(want - set(summary["families"]))
    assert summary["outcomes"]["ok"] > 0 and summary["outcomes"]["error"] > 0, summary
    assert summary["outcomes"]["FAIL"] == 0, json.dumps(summary["failures"], indent=1)
    nsys = summary["by_kind"].get("nsys", {})
    if (TRACES / "nsys").is_dir():  # the SQL-mutated nsys exports: both outcomes reached
        assert nsys.get("ok", 0) > 0 and nsys.get("error", 0) > 0, summary["by_kind"]

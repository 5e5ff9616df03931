"""A live trace that lost part of what it recorded (a segment the workload's own torch.profiler replaced, a
segment file missing) is said in one line at the end of `run` and by `report`, not only stored in
``manifest.trace.errors``; the workload's exit code is kept."""

from __future__ import annotations

import json
import sys

import pytest

from lowprof.analysis.notices import notices
from tests.conftest import requires


def test_each_recorded_loss_is_one_line_and_the_no_launches_reason_is_not_repeated():
    m = {"trace": {"launches": 0, "errors": ["segment: segment 0 lost: X replaced Y", "k/3.json: listed but missing",
                                             "the workload never imported torch"],
                   "launches_empty_reason": "the workload never imported torch"},
         "tables": {"launches": {"rows": 0}}}
    assert notices(m) == ["no GPU launches recorded: the workload never imported torch",
                          "--trace: segment: segment 0 lost: X replaced Y", "--trace: k/3.json: listed but missing"]
    many = {"trace": {"errors": [f"e{i}" for i in range(8)]}}
    assert notices(many)[-1] == "--trace: 3 more losses (manifest trace.errors)" and len(notices(many)) == 6


@pytest.mark.slow
@requires("torch")
def test_a_workloads_own_profiler_is_said_by_run_and_report(tmp_path, cli):
    out = tmp_path / "r"
    code = "import sys, torch\nwith torch.profiler.profile():\n    torch.randn(8) + 1\nsys.exit(3)"
    p = cli("run", "-q", "--trace", "kernels", "--trace-segment", "0", "--out", out, "--", sys.executable, "-c", code,
            env={"OMP_NUM_THREADS": "1"}, timeout=300)
    assert p.returncode == 3, p.stderr
    recorded = json.loads((out / "manifest.json").read_text())["trace"]["errors"]
    lost = [e for e in recorded if "own torch.profiler session replaced" in e]
    assert lost, recorded
    assert f"lowprof: warning: --trace: {lost[0]}" in p.stderr, p.stderr
    shown = json.loads(cli("report", out, "--json").stdout)["notices"]
    assert f"--trace: {lost[0]}" in shown

"""A live trace that lost part of what it recorded (a segment the workload's own torch.profiler replaced, a
segment file missing) is said in one line at the end of `run` and by `report`, not only stored in
``manifest.trace.errors``; the workload's exit code is kept."""

from __future__ import annotations

from lowprof.analysis.notices import notices


def test_each_recorded_loss_is_one_line_and_the_no_launches_reason_is_not_repeated():
    m = {"trace": {"launches": 0, "errors": ["segment: segment 0 lost: X replaced Y", "k/3.json: listed but missing",
                                             "the workload never imported torch"],
                   "launches_empty_reason": "the workload never imported torch"},
         "tables": {"launches": {"rows": 0}}}
    assert notices(m) == ["no GPU launches recorded: the workload never imported torch",
                          "--trace: segment: segment 0 lost: X replaced Y", "--trace: k/3.json: listed but missing"]
    many = {"trace": {"errors": [f"e{i}" for i in range(8)]}}
    assert notices(many)[-1] == "--trace: 3 more losses (manifest trace.errors)" and len(notices(many)) == 6


# The recorded case (a workload's own torch.profiler, said by `run` and `report`) is in
# tests/test_live_trace_run.py, beside the test that records the same workload: one recording serves both.

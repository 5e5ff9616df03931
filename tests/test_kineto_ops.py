"""The enclosing framework op of each launch: the right one, at full ns precision."""

from __future__ import annotations

import gzip
import json

from lowprof.tracers.kineto import load_launches

ALEXNET = "critical_path__alexnet__benchmark_result_2869224_1695835535_trace.json.gz"


def test_op_contains_its_launch_call_and_keeps_every_digit(traces):
    path = traces / "kineto" / ALEXNET
    df, _ = load_launches(path)
    linked = df.dropna(subset=["op_start_ns", "cpu_start_ns"])
    assert len(linked) > 0.9 * df["cpu_start_ns"].notna().sum()
    # The op starts before the call it encloses (External ids restart between windows: an op from
    # another window would start tens of seconds away).
    assert (linked["cpu_start_ns"] >= linked["op_start_ns"]).all()
    # Full precision: every op start is a whole µs of the trace (integer-µs trace), not a float round-off.
    events = json.loads(gzip.open(path).read())["traceEvents"]
    op_starts_us = {int(e["ts"]) for e in events if e.get("cat") == "cpu_op"}
    base = {int(v) // 1000 for v in linked["op_start_ns"]}
    assert base <= op_starts_us
    assert (linked["op_start_ns"] % 1000 == 0).all()

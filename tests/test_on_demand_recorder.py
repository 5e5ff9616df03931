"""The recording side of on-demand tracing at the workload's end, fed a segments.jsonl as the agent writes it
(no torch needed): the windows it lists, on the run clock, from one read of the log."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import lowprof
from lowprof.clock import RunClock
from lowprof.rundir import RunWriter
from lowprof.tracers.on_demand_recorder import OnDemandTrace

ORIGIN = 5_000_000_000


def test_windows_are_listed_on_the_run_clock_and_the_log_is_read_once(tmp_path, monkeypatch, capsys):
    writer = RunWriter(tmp_path / "r", kind="run", clock=RunClock(ORIGIN, ORIGIN + 10**18))
    kdir = tmp_path / "r" / "kineto"
    kdir.mkdir()
    entries = [  # two windows asked for; the second was cut by the workload's end before its export
        {"event": "start", "window": 1, "pid": 7, "tracer": "kineto"},
        {"event": "segment", "window": 1, "pid": 7, "why": "stop", "file": "w1.pt.trace.json.gz",
         "start_monotonic_ns": ORIGIN + 1_000, "end_monotonic_ns": ORIGIN + 9_000, "export_s": 0.0,
         "realtime_minus_monotonic_ns": 0, "realtime_minus_monotonic_end_ns": 0},
        {"event": "start", "window": 2, "pid": 7, "tracer": "kineto"},
    ]
    (kdir / "segments.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries) + '{"event": "segm')
    reads = []
    read_text = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (reads.append(self.name), read_text(self, *a, **k))[1])
    rec = OnDemandTrace(kdir, str(tmp_path / "sock"))
    rec.finished(SimpleNamespace(writer=writer), SimpleNamespace(signal=None))
    assert reads.count("segments.jsonl") == 1
    monkeypatch.undo()
    writer.finish()
    trace = lowprof.load(tmp_path / "r").manifest["trace"]
    assert trace["on_demand"] == {"windows": [{"pid": 7, "window": 1, "why": "stop", "file": "w1.pt.trace.json.gz",
                                               "start_ns": 1_000, "end_ns": 9_000}], "windows_lost": 1}
    assert trace["mode"] == "on-demand" and trace["errors"] == ["w1.pt.trace.json.gz: listed but missing"]
    capsys.readouterr()


def test_both_kernel_recorders_put_the_boot_folder_first_on_the_workloads_pythonpath(tmp_path, monkeypatch):
    import os

    from lowprof.tracers.live import BOOT_DIR, LiveKernelTrace

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/a", "", "/b"]))
    want = [str(BOOT_DIR), "/a", "/b"]  # an empty entry (the cwd) is not passed on
    for rec in (LiveKernelTrace(tmp_path, 2.0), OnDemandTrace(tmp_path, str(tmp_path / "sock"))):
        assert rec.env()["PYTHONPATH"].split(os.pathsep) == want, type(rec).__name__
        assert (BOOT_DIR / "sitecustomize.py").is_file()

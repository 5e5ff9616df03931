"""Timestamped Python stacks of a whole ``lowprof run`` (``--stacks``): py-spy's chrometrace output
turned into the ``pystack_samples`` table on the run clock; and the ``stacks`` feature, which also samples
``lowprof attach``'s window (on unless ``--no-stacks``; aggregated, :class:`lowprof.tracers.pyspy.WindowStacks`).

py-spy (``record --format chrometrace --idle``) writes one begin/end event per frame each time a
thread's sampled stack changes, at ``ts`` = µs since py-spy created its recorder (Rust
``Instant``, i.e. CLOCK_MONOTONIC, taken when the sample is processed). Replaying those events per
thread gives runs of consecutive samples that saw the same stack; each becomes one row. ``--idle``
is needed: without it py-spy skips idle samples and an idle stretch would be charged to the last
busy stack; with it an idle thread shows the Python frame that is waiting (``time.sleep``'s caller,
a ``synchronize``...).

Clock alignment: the run clock is CLOCK_MONOTONIC too, so ``t_ns = origin_ns + ts x 1000`` where
``origin_ns`` is the run-clock time just before py-spy is spawned. py-spy creates its recorder
after its own start-up and before attaching, so its true zero lies between that spawn time and the
moment it announces sampling ("Sampling process ..." on its output); ``manifest['pystacks_timeline']['align']`` keeps both, and
their difference is the alignment uncertainty (a few ms; passes are tens of ms and longer).
"""

from __future__ import annotations

import json
import subprocess
import threading
from lowprof.errors import LowprofError
from lowprof.feature import Feature, Option
from lowprof.rundir.sections import owned_by
from lowprof.rundir.specs.stacks import PYSTACK_SAMPLES, PYSTACKS
from lowprof.tracers.pyspy import WindowStacks, _pyspy, start_record, stop_record

__all__ = ["FEATURE", "StackTimeline", "spans_from_chrometrace"]


def _frame(e: dict) -> str:
    a = e.get("args") or {}
    line = a.get("line")
    return f"{e.get('name')} ({a.get('filename')}" + (f":{line})" if line is not None else ")")


def spans_from_chrometrace(events: list[dict], origin_ns: int, rate_hz: float) -> list[dict]:
    """py-spy chrometrace B/E events -> rows of PYSTACK_SAMPLES (t_ns on the run clock)."""
    names: dict[tuple, str] = {}
    per_thread: dict[tuple, list[dict]] = {}
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            names[key] = f"{key[0]}/{(e.get('args') or {}).get('name', key[1])}"
        elif e.get("ph") in ("B", "E"):
            per_thread.setdefault(key, []).append(e)
    rows = []
    for key, evs in per_thread.items():
        thread = names.get(key, f"{key[0]}/{key[1]}")
        stack: list[str] = []
        i = 0
        open_at, open_stack = None, None
        while i < len(evs):
            ts = evs[i]["ts"]
            while i < len(evs) and evs[i]["ts"] == ts:  # every change made at one sample
                if evs[i]["ph"] == "B":
                    stack.append(_frame(evs[i]))  # with --subprocesses the root is 'process PID:"cmd"'; dropped below
                elif stack:
                    stack.pop()
                i += 1
            if open_stack:
                rows.append(_row(open_at, ts, thread, open_stack, origin_ns, rate_hz))
            open_at, open_stack = ts, [f for f in stack if not f.startswith("process ")]
    return sorted(rows, key=lambda r: (r["t_ns"], r["thread"]))


def _row(t0_us: int, t1_us: int, thread: str, stack: list[str], origin_ns: int, rate_hz: float) -> dict:
    dur = int((t1_us - t0_us) * 1000)
    return {"t_ns": origin_ns + int(t0_us * 1000), "dur_ns": dur, "thread": thread, "stack": ";".join(stack),
            "leaf": stack[-1], "samples": max(1, round(dur * rate_hz / 1e9))}


class StackTimeline:
    """``py-spy record --format chrometrace --idle`` on a PID until :meth:`finish`."""

    def __init__(self, writer, pid: int, rate_hz: int = 100) -> None:
        self.writer, self.pid, self.rate_hz = writer, pid, rate_hz
        self.out = writer.path / "pyspy_chrometrace.json"
        self.log_path = writer.path / "pyspy_stacks.log"
        if _pyspy() is None:
            raise LowprofError("--stacks: py-spy is not installed (pip install py-spy)")
        self.spawn_t_ns = writer.clock.t_ns()
        self.announce_t_ns: int | None = None
        self.proc = start_record(pid, rate_hz, "chrometrace", self.out, ("--idle", "--subprocesses"),
                                 stdout=subprocess.PIPE)
        self._log: list[bytes] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        for line in self.proc.stdout:
            if self.announce_t_ns is None:
                self.announce_t_ns = self.writer.clock.t_ns()
            self._log.append(line)

    def finish(self) -> dict:
        """Stop py-spy (SIGINT makes it write), load the events, write ``pystack_samples``."""
        stop_record(self.proc, 30)
        self._reader.join(timeout=5)
        log = b"".join(self._log).decode(errors="replace").strip()
        self.log_path.write_text(log + "\n")
        align = {"origin_t_ns": self.spawn_t_ns, "announce_t_ns": self.announce_t_ns,
                 "uncertainty_ns": (self.announce_t_ns - self.spawn_t_ns) if self.announce_t_ns else None,
                 "rule": "t_ns = origin_t_ns + py-spy ts(µs) x 1000; py-spy's zero lies in [origin_t_ns, announce_t_ns]"}
        if not self.out.exists():
            from lowprof.tracers.pyspy import pyspy_failure_reason

            return {"status": "failed", "reason": pyspy_failure_reason(log, self.proc.returncode), "align": align}
        try:
            events = json.loads(self.out.read_text(errors="replace") or "[]")
        except json.JSONDecodeError as e:
            return {"status": "failed", "reason": f"{self.out.name}: not JSON ({e})", "align": align}
        rows = spans_from_chrometrace(events, self.spawn_t_ns, self.rate_hz)
        self.writer.table(PYSTACK_SAMPLES).extend(rows)
        return {"status": "ok", "rate_hz": self.rate_hz, "spans": len(rows),
                "samples": int(sum(r["samples"] for r in rows)), "align": align}


class _StacksRun:
    """The recorder of ``--stacks``: py-spy starts once the workload runs (``started``) and stops after it."""

    def __init__(self, recording, rate_hz: int) -> None:
        self.recording, self.rate_hz = recording, rate_hz
        self.timeline: StackTimeline | None = None
        self.error: str | None = None

    def started(self, pid: int, quiet: bool) -> None:
        try:
            self.timeline = StackTimeline(self.recording.writer, pid, self.rate_hz)
        except (OSError, LowprofError) as e:
            self.error = str(e)

    def finished(self, recording, ended) -> None:
        if self.timeline is None:
            entry = {"status": "failed", "reason": self.error or "the workload ended before py-spy could attach"}
        else:
            entry = self.timeline.finish()
        recording.writer.manifest["pystacks_timeline"] = entry


def _check(values) -> None:
    """Refused before any run directory is made."""
    if values["stacks_rate"] <= 0:
        raise LowprofError(f"--stacks-rate must be > 0 Hz, got {values['stacks_rate']}")
    if values["stacks"] and _pyspy() is None:
        raise LowprofError("--stacks: py-spy is not installed (pip install py-spy)")


def _record(values, recording) -> "_StacksRun | WindowStacks | None":
    """run and sweep: the timeline with --stacks; attach: the window's stacks unless --no-stacks (its manifest
    entry says off then)."""
    if recording.verb == "attach":
        return WindowStacks(recording, values["stacks_rate"], off=values["no_stacks"])
    return _StacksRun(recording, values["stacks_rate"]) if values["stacks"] else None


FEATURE = Feature(
    "stacks", "the workload's Python stacks sampled by py-spy: over time with run --stacks, aggregated by attach",
    tables=(PYSTACK_SAMPLES, PYSTACKS), manifest=owned_by("stacks"),
    options=(
        Option("--stacks", switch=True, default=False, verbs=("run", "sweep"),
               help="sample the workload's Python stacks with py-spy for the whole run (table "
                    "pystack_samples, on the run clock); `lowprof bound` shows them per CPU-bound pass"),
        Option("--no-stacks", switch=True, default=False, verbs=("attach",),
               help="do not sample Python stacks with py-spy"),
        Option("--stacks-rate", type=int, default=100, metavar="HZ", aliases=("--stack-rate",),
               help="py-spy samples per second (default 100)"),
    ),
    check=_check, record=_record)

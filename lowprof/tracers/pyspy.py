"""Python stacks of a running process with py-spy, aggregated into the ``pystacks`` table."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from lowprof.rundir import RunWriter
from lowprof.rundir.specs.stacks import PYSTACKS

__all__ = ["PySpy", "WindowStacks", "pyspy_unavailable_reason", "pyspy_failure_reason", "parse_collapsed", "start_record", "stop_record"]


def _pyspy() -> str | None:
    exe = Path(sys.executable).with_name("py-spy")
    return str(exe) if exe.exists() else shutil.which("py-spy")


def start_record(pid: int, rate_hz: int, fmt: str, output: Path, flags: tuple[str, ...] = (),
                 stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """``py-spy record`` of ``pid`` at ``rate_hz`` into ``output`` in ``fmt`` (``raw``, ``chrometrace``),
    ``--nonblocking`` (the workload is never paused), in its own session; its output and errors go to
    ``stdout`` (a file, or ``subprocess.PIPE``). Stop it with :func:`stop_record`."""
    cmd = [_pyspy(), "record", "--pid", str(pid), "--rate", str(rate_hz), "--format", fmt, *flags, "--nonblocking",
           "--output", str(output)]
    return subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True)


def stop_record(proc: subprocess.Popen, timeout_s: float) -> None:
    """Stop a :func:`start_record` py-spy: SIGINT (it writes its output then), killed after ``timeout_s``."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pyspy_unavailable_reason(pid: int) -> str | None:
    """None if py-spy can be pointed at ``pid``; else why not (not Python, no py-spy, ...)."""
    if _pyspy() is None:
        return "py-spy is not installed (pip install py-spy)"
    import psutil

    try:
        p = psutil.Process(pid)
        names = " ".join([p.name(), *(p.cmdline()[:1])])
    except psutil.AccessDenied:
        return f"no permission to inspect PID {pid}"
    except psutil.Error:
        return f"PID {pid} is gone"
    if "python" not in names.lower():
        return f"PID {pid} ({p.name()}) is not a Python process"
    return None


def pyspy_failure_reason(log: str, returncode: int | None, pid: int | None = None) -> str:
    """What py-spy's output means when it wrote nothing: its ``Error:`` line in plain words (never the last
    line of its Rust backtrace), or why it had nothing to say."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    error = next((ln.removeprefix("Error:").strip() for ln in lines if ln.startswith("Error:")), None)
    who = f"PID {pid}" if pid else "the workload"
    if error and "no python processes found" in error.lower():
        return f"{who} is not a Python process (py-spy found no Python interpreter in it or its children)"
    if error and re.search(r"permission|ptrace|operation not permitted", error, re.I):
        return f"no permission to read {who}'s memory (py-spy: {error}); try sudo or kernel.yama.ptrace_scope=0"
    if error:
        return f"py-spy: {error}"
    if (returncode is not None and returncode < 0) or not lines:
        return f"{who} ended before py-spy could sample it"
    return f"py-spy: {lines[0]}"


def parse_collapsed(text: str) -> list[dict]:
    """Parse py-spy's ``--format raw`` (collapsed stacks: ``frame;frame;... count``) into rows."""
    counts: Counter = Counter()
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")
        thread = ""
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if frames and frames[0].startswith("thread "):
            thread, frames = frames[0], frames[1:]
        counts[(thread, ";".join(frames))] += int(n)
    total = sum(counts.values()) or 1
    return [
        {"thread": t, "stack": s, "leaf": s.rpartition(";")[2], "samples": n, "share": n / total}
        for (t, s), n in counts.most_common()
    ]


class PySpy:
    """``py-spy record`` on a PID for the length of a recording; ``finish`` writes ``pystacks``."""

    def __init__(self, writer: RunWriter, pid: int, rate_hz: int = 100, subprocesses: bool = True) -> None:
        self.writer, self.pid = writer, pid
        self.raw = writer.path / "pyspy.txt"
        self.log = writer.path / "pyspy.log"
        self._log = open(self.log, "wb")
        self.proc = start_record(pid, rate_hz, "raw", self.raw, ("--subprocesses",) if subprocesses else (),
                                 stdout=self._log)

    def finish(self) -> dict:
        """Stop py-spy (SIGINT makes it write its output), load the stacks; returns the manifest entry."""
        stop_record(self.proc, 20)
        self._log.close()
        log = self.log.read_text(errors="replace").strip()
        if not self.raw.exists():
            return {"status": "failed", "reason": pyspy_failure_reason(log, self.proc.returncode, self.pid)}
        rows = parse_collapsed(self.raw.read_text(errors="replace"))
        w = self.writer.table(PYSTACKS)
        w.extend(rows)
        return {"status": "ok", "stacks": len(rows), "samples": sum(r["samples"] for r in rows)}


class WindowStacks:
    """The recorder of ``attach``'s Python stacks (the ``stacks`` feature, on unless ``--no-stacks``): py-spy
    on the process for the recording window (``started``), aggregated into ``pystacks`` (``finished``); its
    manifest entry is ``probes.pystacks``: ``off`` (--no-stacks), ``unavailable`` (why), or :meth:`PySpy.finish`'s."""

    def __init__(self, recording, rate_hz: int, off: bool) -> None:
        self.recording, self.rate_hz = recording, rate_hz
        self.spy: PySpy | None = None
        if off:
            recording.writer.manifest["probes"]["pystacks"] = {"status": "off", "reason": "--no-stacks"}
        self.off = off

    def started(self, pid: int, quiet: bool) -> None:
        if self.off:
            return
        reason = pyspy_unavailable_reason(pid)
        if reason:
            self.recording.writer.manifest["probes"]["pystacks"] = {"status": "unavailable", "reason": reason}
        else:
            self.spy = PySpy(self.recording.writer, pid, rate_hz=self.rate_hz)

    def finished(self, recording, ended) -> None:
        if self.spy is not None:
            spy, self.spy = self.spy, None  # once, even if called again
            recording.writer.manifest["probes"]["pystacks"] = spy.finish()

"""The recorder of ``lowprof attach PID --trace kernels``: one window of an armed agent (the ``kernels`` feature's
recorder for ``attach``, :mod:`lowprof.tracers.live`).

Its hooks (:class:`lowprof.feature.Recorder`): :func:`claim` connects to the agent of PID and reserves it before
any run directory is made (an unarmed or busy process is one line); ``sampling`` opens the window once the
probes sample; ``wait`` owns the end of the recording: heartbeat, Ctrl-C -> the agent's stop, until its
``done``; ``finished`` copies the window's trace into the run directory and writes its tables
(:func:`lowprof.tracers.on_demand.write_window`). The protocol is in docs/on-demand.md.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    import threading

    from lowprof.tracers.on_demand import AgentClient

__all__ = ["claim", "AgentWindow"]


def claim(values: Mapping[str, Any], pid: int) -> "AgentClient | None":
    """``--trace kernels``: the agent of ``pid``, connected and reserved (LowprofError, one line, when it is not
    armed, busy or has nothing to trace); None without the flag."""
    if values["trace"] != "kernels":
        return None
    from lowprof.tracers.on_demand import connect

    agent = connect(pid)
    try:
        agent.claim()
    except BaseException:
        agent.close()
        raise
    return agent


class AgentWindow:
    """One window of the claimed agent, in this attach's run directory."""

    def __init__(self, agent: "AgentClient") -> None:
        import psutil

        self.agent = agent
        try:
            self.target: psutil.Process | None = psutil.Process(agent.pid)
        except psutil.Error:  # gone already: the window says so when it starts
            self.target = None
        self.quiet = False
        self.opened: dict | None = None  # the agent's `started` message, once the window is open
        self.done: dict | None = None  # its `done` message, if it said one
        self.why = "not started"

    def sampling(self, duration_s: float | None, quiet: bool) -> str:
        """Open the window (``duration_s``: its length, None: until Ctrl-C); LowprofError when none starts."""
        self.quiet = quiet
        started = self.agent.start(duration_s)
        started["requested_s"] = duration_s
        self.opened = started
        return f"tracing kernels (window {started['window']})"

    def wait(self, stop: "threading.Event", duration_s: float | None, quiet: bool) -> str:
        """While the agent traces: heartbeat, Ctrl-C -> stop, until its ``done`` (or its connection ends)."""
        from lowprof.console import Countdown, warn
        from lowprof.tracers.on_demand import PING_S

        t0 = time.monotonic()
        progress = Countdown("tracing", duration_s, quiet)
        stopped = False
        last_ping = time.monotonic()
        try:
            while True:
                progress.update(time.monotonic() - t0)
                if stop.is_set() and not stopped:
                    self.agent.stop()
                    stopped = True
                try:
                    msg = self.agent.read(0.1)
                except TimeoutError:
                    msg = {}
                if msg is None:
                    self.why = "process exited" if not self._running() else "the agent closed the connection"
                    return self.why
                if msg.get("event") == "done":
                    why = msg.get("why") or "done"
                    self.done = msg
                    self.why = ("signal" if stopped else "process exited" if "exited" in why or "got SIG" in why
                                else "duration" if why == "duration" else why)
                    return self.why
                if msg.get("event") == "error":
                    warn(f"PID {self.agent.pid}'s agent: {msg.get('error')}")
                if time.monotonic() - last_ping >= PING_S:
                    self.agent.ping()
                    last_ping = time.monotonic()
        finally:
            progress.stop()

    def _running(self) -> bool:
        return self.target is not None and self.target.is_running()

    def finished(self, recording, ended) -> str | None:
        """The window's tables and ``manifest["trace"]`` (with ``window``); its error, if any, as the line to say
        (the manifest keeps it in ``trace.error``). Nothing when no window started."""
        if self.opened is None:
            return None
        from lowprof.console import fmt_s, note
        from lowprof.tracers.live import print_warnings
        from lowprof.tracers.on_demand import write_window

        entry = write_window(recording.writer, self.agent, self.opened, self.done, self.why)
        w = entry["window"]
        if w["end_ns"] is not None:
            note(f"window {w['window']}: {fmt_s((w['end_ns'] - w['start_ns']) / 1e9)} traced (run clock "
                 f"{fmt_s(w['start_ns'] / 1e9)} to {fmt_s(w['end_ns'] / 1e9)}, ended by: {w['ended_by']}): "
                 f"{entry['ops']} ops, {entry['launches']} GPU activities", self.quiet)
        print_warnings(entry)
        return f"--trace kernels: {entry['error']}" if entry.get("error") else None

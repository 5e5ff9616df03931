"""The asking side of on-demand tracing: find the armed agent of a PID, ask it for one window, keep the window.

The agent (``_boot/_lowprof_ondemand_agent.py``) is armed by ``lowprof run --trace kernels --on-demand``
(:mod:`lowprof.tracers.on_demand_recorder`); the protocol is in docs/on-demand.md. ``lowprof attach PID --trace
kernels`` (its recorder, :mod:`lowprof.tracers.on_demand_window`) uses :func:`connect`, then :class:`AgentClient`'s
``claim``, ``start``, ``read``/``ping``/``stop``, and :func:`write_window`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

from lowprof.errors import LowprofError
from lowprof.tracers._boot._lowprof_ondemand_agent import ENV_SOCK_DIR, PROTOCOL, socket_path
from lowprof.tracers.segment_log import LOG, read_log

__all__ = ["AgentClient", "connect", "not_armed_line", "write_window", "PING_S"]

PING_S = 0.5  # lowprof's heartbeat while a window is open (the agent gives up after 3 s of silence)
_ARM = "lowprof run --trace kernels --on-demand -- CMD"


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except FileNotFoundError:
        raise LowprofError(f"no process with PID {pid}") from None
    except PermissionError:
        raise LowprofError(f"no permission to read the environment of PID {pid} (another user's process?)") from None
    out = {}
    for item in raw.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


def _armed_child(pid: int) -> int | None:
    """The first descendant of ``pid`` whose agent listens, if any."""
    import psutil

    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return None
    for c in children:
        try:
            d = c.environ().get(ENV_SOCK_DIR)
        except psutil.Error:
            continue
        if d and os.path.exists(socket_path(d, c.pid)):  # its agent listens (not lowprof's spawn helper)
            return c.pid
    return None


def _runs_torch(pid: int) -> bool | None:
    """Whether libtorch is mapped into ``pid`` (None: its maps cannot be read)."""
    try:
        with open(f"/proc/{pid}/maps", "rb") as f:
            return any(b"libtorch" in line for line in f)
    except OSError:
        return None


def not_armed_line(pid: int, env: dict[str, str]) -> str:
    """The one line for a process that was not started armed: how to start it so, and, for a torch process,
    whether Kineto's own on-demand mode (``KINETO_USE_DAEMON=1`` + dynolog) can trace it instead."""
    line = f"PID {pid} was not started armed for on-demand tracing; start it with: {_ARM}"
    if _runs_torch(pid):
        if env.get("KINETO_USE_DAEMON", "") not in ("", "0"):
            line += (f" (or use Kineto's own on-demand mode, on in it: KINETO_USE_DAEMON={env['KINETO_USE_DAEMON']}; "
                     f"with dynolog running: dyno gputrace --pids {pid} --duration-ms 5000)")
        else:
            line += (" (Kineto's own on-demand mode is off in it too: KINETO_USE_DAEMON was not set when it started, "
                     "so dynolog cannot trace it either)")
    return line


class AgentClient:
    """One connection to an armed agent: one claim, at most one window."""

    def __init__(self, pid: int, path: str, sock: socket.socket) -> None:
        self.pid, self.path, self.sock = pid, path, sock
        self.buf = b""
        self.info: dict = {}

    def send(self, **msg) -> None:
        try:
            self.sock.sendall((json.dumps(msg) + "\n").encode())
        except OSError as e:
            raise LowprofError(f"PID {self.pid}'s agent closed the connection ({e.strerror or e})") from None

    def read(self, timeout: float) -> dict | None:
        """The next message; None when the agent closed the connection; TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                raise TimeoutError from None
            except OSError:
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def _reply(self, timeout: float, what: str) -> dict:
        try:
            msg = self.read(timeout)
        except TimeoutError:
            raise LowprofError(f"PID {self.pid}'s agent did not answer {what} within {timeout:g} s") from None
        if msg is None:
            raise LowprofError(f"PID {self.pid}'s agent closed the connection before answering {what}")
        return msg

    def claim(self) -> dict:
        """Reserve the agent (refused, as one line, when another lowprof holds it or nothing is traceable yet)."""
        self.send(op="claim", v=PROTOCOL)
        msg = self._reply(10.0, "the claim")
        if msg.get("busy"):
            h = msg.get("holder") or {}
            raise LowprofError(f"PID {self.pid} is being traced already (by lowprof PID {h.get('lowprof_pid')}, "
                               f"window {h.get('window')}); one window at a time: try again when it ends")
        if msg.get("error") == "not_imported":
            raise LowprofError(f"PID {self.pid} is armed but has not imported torch or cupy yet: nothing to trace")
        if not msg.get("ok"):
            raise LowprofError(f"PID {self.pid}'s agent refused: {msg.get('error')}")
        if msg.get("v") != PROTOCOL:
            raise LowprofError(f"PID {self.pid}'s agent speaks protocol {msg.get('v')}, this lowprof {PROTOCOL}: "
                               "use the lowprof that started it")
        self.info = msg
        return msg

    def start(self, duration_s: float | None) -> dict:
        """Open the window (``duration_s`` None: until :meth:`stop`); returns the agent's ``started`` message."""
        self.send(op="start", duration_s=duration_s)
        msg = self._reply(30.0, "the start of the window")
        if msg.get("event") != "started":
            raise LowprofError(f"PID {self.pid}: no window started: {msg.get('error')}")
        return msg

    def ping(self) -> None:
        try:
            self.sock.sendall(b'{"op": "ping"}\n')
        except OSError:
            pass  # the agent went: next_event says so

    def stop(self) -> None:
        try:
            self.sock.sendall(b'{"op": "stop"}\n')
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def connect(pid: int) -> AgentClient:
    """The agent of ``pid``, connected; LowprofError (one line) when it is not armed or cannot be reached."""
    env = _environ(pid)
    sock_dir = env.get(ENV_SOCK_DIR)
    if not sock_dir:
        child = _armed_child(pid)
        if child is not None:  # e.g. the PID of `lowprof run` rather than of its workload
            raise LowprofError(f"PID {pid} is not armed itself, but its child PID {child} is: "
                               f"lowprof attach {child} --trace kernels ...")
        raise LowprofError(not_armed_line(pid, env))
    path = socket_path(sock_dir, pid)
    if not os.path.exists(path):
        raise LowprofError(f"PID {pid} was started armed, but no agent listens at {path}: it is not a Python "
                           "process, it is still starting, or its agent failed (see the run's kineto/segments.jsonl)")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5.0)
    try:
        s.connect(path)
    except PermissionError:
        s.close()
        raise LowprofError(f"no permission to connect to {path} (the agent of PID {pid} belongs to another user)") from None
    except OSError as e:
        s.close()
        raise LowprofError(f"cannot reach the agent of PID {pid} at {path} ({e.strerror or e})") from None
    return AgentClient(pid, path, s)


def _window_entries(client: AgentClient, done: dict | None) -> list[dict]:
    """The window's log lines: from the agent's ``done``, else (the agent could not say) from the armed run's
    ``segments.jsonl``."""
    if done and done.get("entries"):
        return done["entries"]
    n, kdir = client.info.get("window"), client.info.get("kineto_dir")
    try:
        log = read_log(kdir)
    except (OSError, TypeError):  # unreadable, or the agent gave no folder
        return []
    return [e for e in log if e.get("window") == n and e.get("pid") == client.pid]


def write_window(writer, client: AgentClient, started: dict, done: dict | None, ended_by: str) -> dict:
    """Copy the window's raw trace into ``writer``'s ``kineto/`` and write its launches/ops/steps tables on
    ``writer``'s clock; returns the manifest's ``trace`` entry, with ``window`` (its bounds, run clock ns)."""
    from lowprof.tracers.live import write_trace_tables

    entries = _window_entries(client, done)
    kdir = writer.path / "kineto"
    kdir.mkdir(exist_ok=True)
    src = Path(client.info["kineto_dir"])
    with open(kdir / LOG, "w") as f:
        for e in entries:
            if e.get("event") == "segment" and (src / e["file"]).exists():
                shutil.copyfile(src / e["file"], kdir / e["file"])
            f.write(json.dumps(e) + "\n")
    n = started["window"]
    entry = write_trace_tables(writer, kdir, 0.0,
                               started=f"on demand by lowprof attach (window {n} of PID {client.pid})",
                               log=entries)  # the log just written: not read back
    origin = writer.clock.origin_monotonic_ns
    seg = next((e for e in entries if e.get("event") == "segment"), None)
    window = {"window": n, "pid": client.pid, "requested_s": started.get("requested_s"),
              "start_ns": started["start_monotonic_ns"] - origin,
              "end_ns": seg["end_monotonic_ns"] - origin if seg else None,
              "ended_by": (done or {}).get("why") or ended_by,
              "armed_run_kineto_dir": str(src)}
    entry["mode"] = "on-demand"
    entry["window"] = window
    if seg is None:
        entry["launches_empty_reason"] = entry["error"] = (
            f"window {n} was not exported ({window['ended_by']}); what the agent logged is in {src}/segments.jsonl")
    return entry

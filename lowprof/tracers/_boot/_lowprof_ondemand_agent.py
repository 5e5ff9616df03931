"""In-process on-demand agent (``lowprof run --trace kernels --on-demand``): armed, not tracing, until asked.

Standard library only. ``sitecustomize.py`` calls :func:`arm` when ``$LOWPROF_ON_DEMAND_DIR`` is set. Armed
means: one daemon thread blocked in ``accept()`` on a Unix socket ``$LOWPROF_ON_DEMAND_DIR/<pid>.sock`` (mode
0600 in a 0700 folder owned by the user), and a handler for one real-time signal. No profiler session is
open and nothing is imported, so the workload runs as without lowprof.

``lowprof attach PID --trace kernels`` connects and asks for a *window*; the protocol (JSON lines, version
:data:`PROTOCOL`) is in docs/on-demand.md. torch.profiler is per thread, so the window is started and stopped
on the main thread: the agent queues the call and sends the main thread :data:`CALL_SIGNAL`, whose handler
runs it between two bytecodes (the same way the rolling segments of ``--trace kernels`` are cut). A window is
one :class:`KinetoSegments` segment, ``<kineto dir>/segment-<pid>-<window>.pt.trace.json``, logged in
``<kineto dir>/segments.jsonl`` with ``"window": N`` (the ``lowprof run`` run directory: every window stays
there even if the ``lowprof attach`` that asked for it dies).

A window ends when its duration is over, when lowprof says ``stop``, when lowprof's connection closes or it is
silent for :data:`HEARTBEAT_TIMEOUT_S` (a lowprof that died: the workload goes on, untraced), or when the
workload exits or gets SIGTERM/SIGHUP (the window is exported first, then lowprof is told).
"""

from __future__ import annotations

import atexit
import collections
import json
import os
import signal
import socket
import stat
import struct
import sys
import threading
import time

__all__ = ["arm", "OnDemandAgent", "runtime_dir", "ensure_private_dir", "socket_path", "ENV_SOCK_DIR",
           "PROTOCOL", "HEARTBEAT_TIMEOUT_S"]

ENV_SOCK_DIR = "LOWPROF_ON_DEMAND_DIR"
ENV_KINETO_DIR = "LOWPROF_KINETO_DIR"
PROTOCOL = 1
HEARTBEAT_TIMEOUT_S = 3.0  # a window whose lowprof said nothing for this long is closed
CLAIM_TIMEOUT_S = 30.0  # a claim not followed by `start` within this is released (attach makes its run dir meanwhile)
MAIN_THREAD_TIMEOUT_S = 10.0  # how long the main thread may take to run a queued call before it is cancelled
EXIT_NOTIFY_S = 2.0  # at exit, how long to wait for lowprof to be told the window ended


def runtime_dir(uid: int | None = None, environ: dict | None = None) -> str:
    """The folder for ``uid``'s agent sockets: ``$XDG_RUNTIME_DIR/lowprof`` when that is set (an absolute
    path), else ``/tmp/lowprof-<uid>``. Short on purpose: a Unix socket path holds at most 107 bytes."""
    uid = os.getuid() if uid is None else uid
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg) and os.path.isdir(xdg):
        return os.path.join(xdg, "lowprof")
    return f"/tmp/lowprof-{uid}"


def ensure_private_dir(path: str) -> None:
    """Create ``path`` with mode 0700, or check that it is a real folder (no symlink) owned by this user that
    nobody else may enter; PermissionError saying what is wrong otherwise."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise PermissionError(f"{path} is not a folder (a symlink or file there is refused)")
    if st.st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to uid {st.st_uid}, not to this user (uid {os.getuid()})")
    if st.st_mode & 0o077:
        raise PermissionError(f"{path} has mode {stat.S_IMODE(st.st_mode):04o}; it must be 0700")


def socket_path(sock_dir: str, pid: int) -> str:
    return os.path.join(sock_dir, f"{pid}.sock")


def _remove_stale_sockets(sock_dir: str) -> None:
    """Remove ``<pid>.sock`` files of processes that are gone (killed before their atexit could)."""
    try:
        names = os.listdir(sock_dir)
    except OSError:
        return
    for name in names:
        pid = name[:-5]
        if not (name.endswith(".sock") and pid.isdigit()):
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            try:
                os.unlink(os.path.join(sock_dir, name))
            except OSError:
                pass
        except OSError:
            pass


def _free_rt_signal() -> int | None:
    """A real-time signal the workload has left at its default (SIGRTMIN+6 first; +5 rolls segments)."""
    for n in range(6, int(signal.SIGRTMAX) - int(signal.SIGRTMIN)):
        sig = signal.SIGRTMIN + n
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            return sig
    return None


class _Job:
    """One call queued for the main thread."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.lock = threading.Lock()
        self.started = self.cancelled = False
        self.done = threading.Event()
        self.result = self.error = None


class _Lines:
    """JSON lines over a stream socket."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buf = conn, b""
        self.send_lock = threading.Lock()

    def read(self, timeout: float):
        """The next message; None at end of stream; socket.timeout when nothing came within ``timeout`` s."""
        while b"\n" not in self.buf:
            self.conn.settimeout(timeout)
            chunk = self.conn.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
            if len(self.buf) > 1 << 20:
                raise ValueError("message over 1 MiB")
        line, self.buf = self.buf.split(b"\n", 1)
        msg = json.loads(line)
        if not isinstance(msg, dict):
            raise ValueError("a message is a JSON object")
        return msg

    def send(self, **msg) -> bool:
        """Send one message; False if the peer is gone."""
        data = (json.dumps(msg) + "\n").encode()
        with self.send_lock:
            try:
                self.conn.settimeout(5.0)
                self.conn.sendall(data)
                return True
            except OSError:
                return False


_CUPTI_KINDS = ("RUNTIME", "DRIVER", "CONCURRENT_KERNEL", "MEMCPY", "MEMSET")


def _window_class():
    from _lowprof_kineto_agent import KinetoSegments, clock_pair

    class TorchWindow(KinetoSegments):
        """One window: a KinetoSegments with one segment numbered ``window``, each log line marked with it."""

        def __init__(self, out_dir: str, window: int) -> None:
            super().__init__(out_dir, 0.0)
            self.n = self.window = window
            self.entries: list[dict] = []

        def log(self, **entry) -> None:
            entry["window"] = self.window
            stopped = getattr(getattr(self, "_session", None), "stop_monotonic_ns", None)
            if entry.get("event") == "segment" and stopped is not None:
                # The window ends where tracing stopped: the stop itself (Kineto's processing, on the main
                # thread, where no traced op can run meanwhile) is kept apart as the window's cost.
                entry["stop_done_monotonic_ns"] = entry["end_monotonic_ns"]
                entry["end_monotonic_ns"] = stopped
            super().log(**entry)
            self.entries.append(entry)

        def _begin(self) -> None:
            # torch.autograd.profiler.profile, the session torch.profiler.profile wraps: the latter's first
            # start runs `hasattr(torch, "_inductor")`, which imports inductor and dynamo (8 s of a stalled
            # main thread on the 2-core test VM); the Kineto session and its trace are the same.
            from torch.autograd.profiler import profile
            from torch.profiler import ProfilerActivity

            cuda = ProfilerActivity.CUDA in self._acts
            self.prof = _Session(profile(use_cpu=True, use_device="cuda" if cuda else None, use_kineto=True,
                                         record_shapes=False, with_stack=False))
            self.prof.start()
            self._session = self.prof
            self._seg_start = clock_pair()  # after the start: the window holds only what was traced

    return TorchWindow


class _Session:
    """torch.autograd.profiler.profile driven as torch.profiler.profile is (start, stop, export)."""

    def __init__(self, prof) -> None:
        self.prof = prof
        self.stop_monotonic_ns: int | None = None

    def start(self) -> None:
        self.prof.__enter__()

    def stop(self) -> None:
        self.stop_monotonic_ns = time.monotonic_ns()
        self.prof.__exit__(None, None, None)

    def export_chrome_trace(self, path: str) -> None:
        self.prof.export_chrome_trace(path)


def _cupti_window_class():
    """CUPTI's Activity API for one window (CuPy without torch). Written against cupti-python's documented
    bindings, as the CuPy agent of ``--trace kernels``; not yet run on a GPU."""
    try:
        from _lowprof_cupti_agent import CuptiSegments
        import cupti  # noqa: F401
    except ImportError:
        raise RuntimeError("cupy is imported but NVIDIA's cupti-python is not installed "
                           "(pip install cupti-python): no GPU launches can be traced") from None

    class CuptiWindow(CuptiSegments):
        def __init__(self, out_dir: str, window: int) -> None:
            log = _window_class()(out_dir, window)  # only its durable, window-marked log is used
            super().__init__(log, 0.0)
            self.n = window
            self.entries = log.entries

        def start(self) -> "CuptiWindow":
            c = self.cupti
            c.activity_register_callbacks(self._buffer_requested, self._buffer_completed)
            for kind in _CUPTI_KINDS:
                c.activity_enable(getattr(c.ActivityKind, kind))
            self._seg = self._pair()
            self.start_monotonic_ns = self._seg[0]
            self.log.log(event="start", tracer="cupti", no_gpu_reason=None, segment_s=0.0)
            return self

        def close(self, why: str = "stop") -> None:
            if self.closed:
                return
            self.closed = True
            try:  # wait for the kernels queued so far, so that their records are whole (this thread only)
                sys.modules["cupy"].cuda.runtime.deviceSynchronize()
            except Exception:  # noqa: BLE001
                pass
            try:
                self.export(why)
            finally:
                for kind in _CUPTI_KINDS:  # tracing stops here: an idle armed process records nothing
                    try:
                        self.cupti.activity_disable(getattr(self.cupti.ActivityKind, kind))
                    except Exception:  # noqa: BLE001
                        pass
                self.log._log.close()

    return CuptiWindow


class OnDemandAgent:
    """The armed agent of one process. :meth:`arm` starts it; everything else runs on its own threads, or on
    the main thread inside the :data:`CALL_SIGNAL` handler."""

    def __init__(self, sock_dir: str, kineto_dir: str) -> None:
        self.pid = os.getpid()
        self.sock_dir, self.kineto_dir = sock_dir, kineto_dir
        self.path = socket_path(sock_dir, self.pid)
        self.next_window = 0
        self._lock = threading.Lock()  # guards _session
        self._session: dict | None = None  # who holds the claim
        self._window = None  # the open window (TorchWindow / CUPTI), set and cleared on the tracing thread
        self._ended = threading.Event()  # set when the open window has been closed (by anyone)
        self._end_why: str | None = None
        self._last_entries: list[dict] = []  # the log lines of the window closed last
        self._notified = threading.Event()  # set once lowprof was told the window ended
        self._calls: collections.deque = collections.deque()
        self._main = threading.main_thread().ident
        self._sig = None
        self._sock = None
        self._old_term: dict = {}

    # -- arming ------------------------------------------------------------------------------
    def arm(self) -> "OnDemandAgent":
        ensure_private_dir(self.sock_dir)
        sig = _free_rt_signal()
        if sig is None:
            raise RuntimeError("every real-time signal is taken by the workload")
        _remove_stale_sockets(self.sock_dir)
        try:
            os.unlink(self.path)  # a socket left by a dead process that had this PID
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.path)
        os.chmod(self.path, 0o600)  # the folder is 0700 already: nobody else could reach it in between
        s.listen(4)
        self._sock = s
        self._sig = sig
        signal.signal(sig, self._on_call_signal)
        threading.Thread(target=self._accept_loop, name="lowprof-on-demand", daemon=True).start()
        atexit.register(self._at_exit)
        os.register_at_fork(after_in_child=self._after_fork_in_child)
        return self

    def _after_fork_in_child(self) -> None:
        """A forked child (no exec) is not armed: it closes the inherited socket and never unlinks it."""
        self.pid = None
        try:
            self._sock.close()
        except OSError:
            pass

    def _at_exit(self) -> None:
        if self.pid != os.getpid():
            return
        if self._window is not None:
            self._close_window("the workload exited")
            self._notified.wait(EXIT_NOTIFY_S)
        try:
            os.unlink(self.path)
        except OSError:
            pass

    # -- the main thread ---------------------------------------------------------------------
    def _on_call_signal(self, signum, frame) -> None:
        while self._calls:
            job = self._calls.popleft()
            with job.lock:
                if job.cancelled:
                    continue
                job.started = True
            try:
                job.result = job.fn()
            except BaseException as e:  # noqa: BLE001 - reported to lowprof, never raised in the workload
                job.error = e
            finally:
                job.done.set()

    def _on_main(self, fn, timeout: float = MAIN_THREAD_TIMEOUT_S):
        """Run ``fn`` on the main thread and return its result (its exception is raised here). TimeoutError
        when the main thread ran no Python code for ``timeout`` s (the call is then cancelled)."""
        if threading.get_ident() == self._main:
            return fn()
        job = _Job(fn)
        self._calls.append(job)
        try:
            signal.pthread_kill(self._main, self._sig)
        except (OSError, ProcessLookupError):
            pass
        if not job.done.wait(timeout):
            with job.lock:
                if not job.started:
                    job.cancelled = True
                    raise TimeoutError(f"the workload's main thread ran no Python code for {timeout:g} s "
                                       "(inside a long C call?)")
            job.done.wait()  # it is running now: a long export, let it finish
        if job.error is not None:
            raise job.error
        return job.result

    # -- windows -----------------------------------------------------------------------------
    def _tracer(self) -> str | None:
        if "torch" in sys.modules:
            return "torch"
        if "cupy" in sys.modules:
            return "cupy"
        return None

    def _open_window(self, tracer: str, n: int) -> dict:
        """Start window ``n`` (torch: on the main thread, from the signal handler). Returns its start."""
        if tracer == "torch":
            torch = sys.modules["torch"]
            if torch.autograd._profiler_enabled():
                raise RuntimeError("the workload's own torch.profiler is running on its main thread")
            w = _window_class()(self.kineto_dir, n).start()
            start = w._seg_start[0]
        else:
            w = _cupti_window_class()(self.kineto_dir, n).start()
            start = w.start_monotonic_ns
        self._ended.clear()
        self._notified.clear()
        self._end_why = None
        self._window = w
        self._catch_termination()
        return {"start_monotonic_ns": start, "entries": list(w.entries)}

    def _close_window(self, why: str) -> None:
        """Export the open window and stop tracing (on the thread that opened it; idempotent)."""
        w, self._window = self._window, None
        if w is None:
            return
        try:
            w.close(why)
        finally:
            self._last_entries = list(w.entries)
            self._end_why = why
            self._release_termination()
            self._ended.set()

    def _catch_termination(self) -> None:
        """SIGTERM/SIGHUP left at their default export the open window first (then kill as before)."""
        if threading.get_ident() != self._main:
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, self._on_termination)
                self._old_term[sig] = signal.SIG_DFL

    def _release_termination(self) -> None:
        if threading.get_ident() != self._main:
            return
        for sig in list(self._old_term):
            if signal.getsignal(sig) == self._on_termination:
                signal.signal(sig, self._old_term.pop(sig))

    def _on_termination(self, signum, frame) -> None:
        self._close_window(f"the workload got {signal.Signals(signum).name}")
        self._notified.wait(EXIT_NOTIFY_S)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # die of the same signal, as without lowprof

    # -- the control channel -----------------------------------------------------------------
    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed (fork child, shutdown)
            threading.Thread(target=self._serve, args=(conn,), name="lowprof-on-demand-session", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        ch = _Lines(conn)
        try:
            self._session_on(ch, conn)
        except Exception as e:  # noqa: BLE001 - a bad peer never breaks the workload
            ch.send(event="error", error=f"{type(e).__name__}: {e}")
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _session_on(self, ch: _Lines, conn: socket.socket) -> None:
        peer_pid, peer_uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                     struct.calcsize("3i")))
        if peer_uid not in (os.getuid(), 0):
            ch.send(ok=False, error=f"uid {peer_uid} may not control this process")
            return
        msg = ch.read(CLAIM_TIMEOUT_S)
        if msg is None:
            return
        if msg.get("op") != "claim":
            ch.send(ok=False, error=f"expected a claim, got {msg.get('op')!r}")
            return
        with self._lock:
            held = self._session
            if held is None:
                self._session = {"lowprof_pid": peer_pid, "since_monotonic_ns": time.monotonic_ns(),
                                 "window": self.next_window}
        if held is not None:
            ch.send(ok=False, busy=True, error="busy", holder=held)
            return
        try:
            self._claimed(ch, peer_pid)
        finally:
            with self._lock:
                self._session = None

    def _claimed(self, ch: _Lines, peer_pid: int) -> None:
        tracer = self._tracer()
        base = {"v": PROTOCOL, "pid": self.pid, "kineto_dir": self.kineto_dir, "window": self.next_window,
                "tracer": tracer}
        if tracer is None:
            ch.send(ok=False, error="not_imported", **base)
            return
        ch.send(ok=True, **base)
        try:
            msg = ch.read(CLAIM_TIMEOUT_S)
        except socket.timeout:
            return
        if msg is None or msg.get("op") != "start":
            return
        duration = msg.get("duration_s")
        n = self.next_window
        self.next_window += 1
        try:
            if tracer == "torch":
                opened = self._on_main(lambda: self._open_window(tracer, n))
            else:
                opened = self._open_window(tracer, n)  # CUPTI is process-wide: any thread
        except Exception as e:  # noqa: BLE001
            ch.send(event="error", error=f"{type(e).__name__}: {e}" if not isinstance(e, TimeoutError) else str(e))
            return
        t0 = time.monotonic()
        ch.send(event="started", window=n, **opened)
        why = self._watch(ch, t0, duration)
        if not self._ended.is_set():
            try:
                if tracer == "torch":
                    self._on_main(lambda: self._close_window(why), timeout=60.0)
                else:
                    self._close_window(why)
            except TimeoutError as e:
                ch.send(event="error", error=f"window {n} could not be closed: {e}")
                return
        self._ended.wait(60.0)
        ch.send(event="done", window=n, why=self._end_why or why, entries=self._last_entries)
        self._notified.set()

    def _watch(self, ch: _Lines, t0: float, duration: float | None) -> str:
        """Until the window should end: returns why."""
        heard = time.monotonic()
        while True:
            if self._ended.is_set():
                return self._end_why or "ended"
            now = time.monotonic()
            if duration is not None and now - t0 >= duration:
                return "duration"
            if now - heard >= HEARTBEAT_TIMEOUT_S:
                return f"no word from lowprof for {HEARTBEAT_TIMEOUT_S:g} s"
            wait = 0.25 if duration is None else max(0.001, min(0.25, duration - (now - t0)))
            try:
                msg = ch.read(wait)
            except socket.timeout:
                continue
            except OSError:
                return "lowprof's connection broke"
            if msg is None:
                return "lowprof went away (its connection closed)"
            heard = time.monotonic()
            if msg.get("op") == "stop":
                return "stopped by lowprof"


_AGENT: OnDemandAgent | None = None


def arm() -> OnDemandAgent | None:
    """Arm this process if ``$LOWPROF_ON_DEMAND_DIR`` asks for it (once); errors go to segments.jsonl."""
    global _AGENT
    sock_dir, kineto_dir = os.environ.get(ENV_SOCK_DIR), os.environ.get(ENV_KINETO_DIR)
    if not sock_dir or not kineto_dir or _AGENT is not None:
        return _AGENT
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        _AGENT = OnDemandAgent(sock_dir, kineto_dir).arm()
    except Exception as e:  # noqa: BLE001 - never break the workload
        try:
            os.makedirs(kineto_dir, exist_ok=True)
            with open(os.path.join(kineto_dir, "segments.jsonl"), "a") as f:
                f.write(json.dumps({"event": "error", "where": "arm", "pid": os.getpid(),
                                    "error": f"{type(e).__name__}: {e}"}) + "\n")
        except OSError:
            pass
    return _AGENT

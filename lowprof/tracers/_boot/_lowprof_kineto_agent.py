"""In-process agent: torch.profiler (Kineto) in rolling segments, exported so that a kill loses little.

Standard library only (plus torch, imported by the workload itself): ``lowprof run --trace kernels``
puts this folder on the workload's PYTHONPATH, and its ``sitecustomize.py`` calls
:func:`install_torch_hook`, which starts the profiler right after the workload imports torch
(or, for a program that imports cupy first, the CUPTI agent in ``_lowprof_cupti_agent.py``).
``lowprof.trace()`` uses :class:`KinetoSegments` directly.

Output, in ``$LOWPROF_KINETO_DIR`` (``<run dir>/kineto/``):

* ``segment-<pid>-<n>.pt.trace.json``: one Kineto/Chrome trace per segment, renamed into place only
  once complete (a kill mid-export leaves a ``.tmp`` that readers ignore);
* ``segments.jsonl``: one JSON line per event (``start``, ``segment``, ``error``), flushed and
  fsync'ed, with the clock pair needed to put Kineto's timestamps on the run clock:
  ``realtime_minus_monotonic_ns`` = CLOCK_REALTIME - CLOCK_MONOTONIC, read in this process.

A segment ends every ``$LOWPROF_KINETO_SEGMENT_S`` seconds (0: only at exit) by a timer thread
that sends ``SIGRTMIN+5`` to the main thread (torch.profiler is per-thread: it must be stopped and
restarted on the thread that started it). SIGTERM/SIGHUP (when the workload left them at their
default) and interpreter exit (atexit, which also covers Ctrl-C's KeyboardInterrupt) export the
open segment first. A SIGKILL loses only the open segment.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import threading
import time

__all__ = ["KinetoSegments", "install_torch_hook", "clock_pair", "ENV_DIR", "ENV_SEGMENT_S"]

ENV_DIR = "LOWPROF_KINETO_DIR"
ENV_SEGMENT_S = "LOWPROF_KINETO_SEGMENT_S"
ROLL_SIGNAL = signal.SIGRTMIN + 5


def clock_pair() -> tuple[int, int]:
    """(CLOCK_MONOTONIC ns, CLOCK_REALTIME - CLOCK_MONOTONIC ns), read back to back (tightest of 3)."""
    best = None
    for _ in range(3):
        m0 = time.monotonic_ns()
        r = time.time_ns()
        m1 = time.monotonic_ns()
        if best is None or m1 - m0 < best[0]:
            best = (m1 - m0, (m0 + m1) // 2, r - (m0 + m1) // 2)
    return best[1], best[2]


class KinetoSegments:
    """torch.profiler (CPU ops + CUDA activity where the build has it) exported in segments to ``out_dir``.

    ``segment_s``: seconds between exports (0: export only at :meth:`close`). Call :meth:`start`
    and :meth:`close` on the same thread.
    """

    def __init__(self, out_dir: str, segment_s: float = 2.0) -> None:
        self.out_dir = out_dir
        self.segment_s = float(segment_s)
        self.pid = os.getpid()
        self.n = 0
        self.prof = None
        self.closed = False
        self._seg_start = None
        self._thread_id = None
        self._timer = None
        self._busy = False  # all calls run on the profiler's thread (signal handlers included)
        os.makedirs(out_dir, exist_ok=True)
        self._log = open(os.path.join(out_dir, "segments.jsonl"), "a")

    def log(self, **entry) -> None:
        """Append one durable line to ``segments.jsonl``."""
        entry.setdefault("pid", self.pid)
        self._log.write(json.dumps(entry) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())

    # -- profiler ----------------------------------------------------------------------------
    def _activities(self):
        import torch
        from torch.profiler import ProfilerActivity, supported_activities

        acts = [ProfilerActivity.CPU]
        have = supported_activities()
        if ProfilerActivity.CUDA in have:
            acts.append(ProfilerActivity.CUDA)
            reason = None
        else:
            reason = (f"torch {torch.__version__} has no CUDA profiler activity "
                      "(CPU-only build): only CPU ops were recorded")
        return acts, reason

    def start(self) -> "KinetoSegments":
        import torch

        acts, reason = self._activities()
        self._acts = acts
        self._thread_id = threading.get_ident()
        self.log(event="start", torch=torch.__version__, activities=[a.name for a in acts],
                 no_gpu_reason=reason, segment_s=self.segment_s, argv=sys.argv[:8])
        self._begin()
        if self.segment_s > 0 and self._thread_id == threading.main_thread().ident:
            if signal.getsignal(ROLL_SIGNAL) in (signal.SIG_DFL, None):
                signal.signal(ROLL_SIGNAL, self._on_roll_signal)
                self._timer = threading.Thread(target=self._tick, name="lowprof-kineto-roll", daemon=True)
                self._timer.start()
        return self

    def _begin(self) -> None:
        from torch.profiler import profile

        mono, offset = clock_pair()
        self._seg_start = (mono, offset)
        self.prof = profile(activities=self._acts, record_shapes=False, with_stack=False)
        self.prof.start()

    def _end(self, why: str) -> None:
        """Stop the open profiler and export it as one complete segment file."""
        prof, self.prof = self.prof, None
        if prof is None:
            return
        t0 = time.monotonic_ns()
        if not sys.modules["torch"].autograd._profiler_enabled():
            # The workload ran its own torch.profiler, which ended ours: exporting now would crash.
            self.log(event="error", where="segment", error=f"segment {self.n} lost: the workload's own "
                                                           "torch.profiler session replaced lowprof's")
            self.n += 1
            return
        prof.stop()
        mono_end, offset_end = clock_pair()
        name = f"segment-{self.pid}-{self.n:04d}.pt.trace.json"
        path = os.path.join(self.out_dir, name)
        prof.export_chrome_trace(path + ".tmp")
        os.replace(path + ".tmp", path)
        cuda = None
        if "torch.cuda" in sys.modules:
            try:
                cuda = bool(sys.modules["torch"].cuda.is_initialized())
            except Exception:  # noqa: BLE001
                cuda = None
        self.log(event="segment", segment=self.n, file=name, why=why,
                 start_monotonic_ns=self._seg_start[0], end_monotonic_ns=mono_end,
                 realtime_minus_monotonic_ns=self._seg_start[1], realtime_minus_monotonic_end_ns=offset_end,
                 export_s=(time.monotonic_ns() - t0) / 1e9, cuda_initialized=cuda)
        self.n += 1

    def roll(self, why: str = "timer") -> None:
        """End the open segment and start the next one (on the profiler's thread)."""
        if self.closed or self._busy or threading.get_ident() != self._thread_id:
            return
        self._busy = True
        try:
            self._end(why)
            self._begin()
        except Exception as e:  # noqa: BLE001 - never break the workload
            self.log(event="error", where="roll", error=f"{type(e).__name__}: {e}")
        finally:
            self._busy = False

    def close(self, why: str = "exit") -> None:
        """Export the open segment and stop for good (idempotent)."""
        if self.closed:
            return
        self.closed = True
        if threading.get_ident() != self._thread_id or self._busy:
            where = "off the profiler's thread" if not self._busy else "during a segment export"
            self.log(event="error", where="close", error=f"close ({why}) came {where}; the open segment is lost")
            return
        try:
            self._end(why)
        except Exception as e:  # noqa: BLE001
            self.log(event="error", where="close", error=f"{type(e).__name__}: {e}")
        self._log.close()

    # -- triggers ----------------------------------------------------------------------------
    def _tick(self) -> None:
        main = threading.main_thread().ident
        while not self.closed:
            time.sleep(self.segment_s)
            if not self.closed:
                try:
                    signal.pthread_kill(main, ROLL_SIGNAL)
                except (OSError, ProcessLookupError):
                    return

    def _on_roll_signal(self, signum, frame) -> None:
        self.roll("timer")

    def install_exit_handlers(self) -> None:
        """Export on interpreter exit and on SIGTERM/SIGHUP left at their default action."""
        atexit.register(self.close, "exit")
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, self._on_fatal_signal)

    def _on_fatal_signal(self, signum, frame) -> None:
        self.close(f"signal {signal.Signals(signum).name}")
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # die of the same signal, as without lowprof


_AGENT: KinetoSegments | None = None
_CUPTI = None  # the CuPy agent, when it started first


def _segment_s() -> float:
    try:
        return float(os.environ.get(ENV_SEGMENT_S, "2"))
    except ValueError:
        return 2.0


def _on_torch_imported() -> None:
    global _AGENT
    out = os.environ.get(ENV_DIR)
    if not out or _AGENT is not None:
        return
    agent = KinetoSegments(out, _segment_s())
    if _CUPTI is not None:
        agent.log(event="error", where="start", error="torch imported after cupy: CUPTI already records "
                                                      "(torch ops are not traced)")
        return
    if threading.current_thread() is not threading.main_thread():
        agent.log(event="error", where="start", error="torch was first imported off the main thread; not traced")
        return
    try:
        _AGENT = agent.start()
        agent.install_exit_handlers()
    except Exception as e:  # noqa: BLE001 - never break the workload
        agent.log(event="error", where="start", error=f"{type(e).__name__}: {e}")


def _on_cupy_imported() -> None:
    global _CUPTI
    out = os.environ.get(ENV_DIR)
    if not out or _AGENT is not None or _CUPTI is not None:
        return
    log = KinetoSegments(out, _segment_s())
    try:
        from _lowprof_cupti_agent import CuptiSegments

        _CUPTI = CuptiSegments(log, log.segment_s).start()
    except ImportError as e:
        log.log(event="error", where="start", error=f"cupy imported but NVIDIA's cupti-python is not installed "
                                                    f"(pip install cupti-python): no GPU launches recorded ({e})")
    except Exception as e:  # noqa: BLE001 - never break the workload
        log.log(event="error", where="start", error=f"CUPTI: {type(e).__name__}: {e}")


_HOOKS = {"torch": _on_torch_imported, "cupy": _on_cupy_imported}


class _TorchImportHook:
    """A meta-path finder that lets torch (or cupy) import normally, then starts an agent."""

    def find_spec(self, name, path=None, target=None):
        if name not in _HOOKS or getattr(self, "_busy", False):
            return None
        import importlib.util

        self._busy = True  # find_spec below re-enters sys.meta_path
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader_exec = spec.loader.exec_module
        started = _HOOKS[name]

        def exec_module(module):
            loader_exec(module)
            started()

        spec.loader.exec_module = exec_module
        return spec


def install_torch_hook() -> None:
    """Start an agent as soon as torch (or cupy) is imported (now, if it already is)."""
    for name, started in _HOOKS.items():
        if name in sys.modules:
            started()
    if not any(isinstance(f, _TorchImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchImportHook())

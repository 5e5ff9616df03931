"""Start a workload as a child, forward signals to it exactly once, and collect how it ended.

The workload is started through ``lowprof/native/lowprof-spawn`` (built at install), which forks it from
its own ~1 MiB image and reports its wait4 rusage: a child forked straight from lowprof would count
lowprof's ~120 MiB in its ``ru_maxrss``. Without the helper, the child is started directly and its
``maxrss_bytes`` is recorded as not the workload's own (``maxrss_source``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Workload", "Ended", "FORWARDED_SIGNALS", "SPAWN_HELPER"]

SPAWN_HELPER = Path(__file__).resolve().parent / "native" / "lowprof-spawn"

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


@dataclass
class Ended:
    """How a workload ended: ``exit_code`` or ``signal``, plus its rusage (CPU s, peak RSS bytes)."""

    exit_code: int | None
    signal: str | None
    user_s: float
    system_s: float
    maxrss_bytes: int
    maxrss_source: str = "wait4 via lowprof-spawn"

    @property
    def shell_status(self) -> int:
        """What a shell would report: the exit code, or 128 + signal number."""
        if self.signal is not None:
            return 128 + signal.Signals[self.signal].value
        return self.exit_code if self.exit_code is not None else 1

    def to_json(self) -> dict:
        return self.__dict__.copy()


class Workload:
    """The child process. It runs in its own process group; when lowprof owns the terminal the
    group becomes the terminal's foreground, so Ctrl-C reaches the workload once, directly.
    Signals sent to lowprof itself are forwarded once to the group.
    """

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        if not argv:
            raise ValueError("no command given")
        self.argv = argv
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._tty_fd: int | None = None
        self._old_handlers: dict = {}
        self.pid: int | None = None  # the workload's own pid (the helper's child)
        self._report = None  # the helper's report pipe (read end), or None when started directly

    @staticmethod
    def resolve(cmd: str) -> str | None:
        """The executable ``cmd`` names, or None (the shell's 127 case)."""
        if os.sep in cmd:
            return cmd if os.access(cmd, os.X_OK) and os.path.isfile(cmd) else None
        return shutil.which(cmd)

    def start(self) -> int:
        """Start the workload; returns its pid. OSError when it cannot be exec'd (errno as execvp's)."""
        env = os.environ | (self.env or {})
        if os.access(SPAWN_HELPER, os.X_OK):
            if "LD_PRELOAD" in env:  # for the workload only (the helper restores it in the child)
                env = {k: v for k, v in env.items() if k != "LD_PRELOAD"} | {"LOWPROF_SPAWN_LD_PRELOAD": env["LD_PRELOAD"]}
            r, w = os.pipe()
            try:
                self.proc = subprocess.Popen([str(SPAWN_HELPER), str(w), *self.argv], env=env, process_group=0,
                                             pass_fds=(w,))
            finally:
                os.close(w)
            self._report = os.fdopen(r, "rb")
            line = self._report.readline().split()
            if not line or line[0] != b"pid":
                self._report.close()
                self._report = None
                self.proc.wait()
                e = int(line[1]) if line and line[0] == b"errno" else 0
                raise OSError(e, os.strerror(e) if e else f"lowprof-spawn failed ({self.proc.returncode})")
            self.pid = int(line[1])
        else:
            self.proc = subprocess.Popen(self.argv, env=env, process_group=0)
            self.pid = self.proc.pid
        self._take_terminal()
        for sig in FORWARDED_SIGNALS:
            self._old_handlers[sig] = signal.signal(sig, self._forward)
        return self.pid

    def _forward(self, signum, _frame) -> None:
        if self.proc and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signum)
            except ProcessLookupError:
                pass

    def _take_terminal(self) -> None:
        """Make the workload's group the terminal's foreground group, if lowprof is in the foreground."""
        try:
            fd = sys.stdin.fileno()
            if not os.isatty(fd) or os.tcgetpgrp(fd) != os.getpgrp():
                return
        except (OSError, ValueError, AttributeError):
            return
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(fd, self.proc.pid)
            self._tty_fd = fd
        except OSError:
            pass
        finally:
            signal.signal(signal.SIGTTOU, old)

    def _give_back_terminal(self) -> None:
        if self._tty_fd is None:
            return
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(self._tty_fd, os.getpgrp())
        except OSError:
            pass
        finally:
            signal.signal(signal.SIGTTOU, old)
            self._tty_fd = None

    def _wait_helper(self) -> tuple[int, float, float, int] | None:
        """(wait status, user s, system s, maxrss B) from the helper's report; None if it said nothing."""
        while True:
            try:
                line = self._report.readline().split()
                break
            except InterruptedError:
                continue
        self._report.close()
        self.proc.wait()
        if len(line) == 5 and line[0] == b"status":
            st, ut, stime, kb = (int(x) for x in line[1:])
            return st, ut / 1e6, stime / 1e6, kb * 1024
        return None

    def wait(self) -> Ended:
        """Wait for the workload (retrying on EINTR), restore signal handlers and the terminal."""
        assert self.proc is not None
        ru = None
        source = "wait4 via lowprof-spawn"
        if self._report is not None:
            got = self._wait_helper()
            if got is not None:
                status, user_s, system_s, maxrss = got
                ru = True
            else:  # the helper was killed: its own status is all there is
                status, user_s, system_s = 0, 0.0, 0.0
                maxrss = 0
                source = "none (lowprof-spawn ended without a report)"
        else:
            source = "wait4 of a child forked from lowprof (counts lowprof's own image)"
            while True:
                try:
                    _, status, r = os.wait4(self.proc.pid, 0)
                    ru = True
                    user_s, system_s, maxrss = r.ru_utime, r.ru_stime, r.ru_maxrss * 1024
                    break
                except InterruptedError:
                    continue
                except ChildProcessError:  # already reaped elsewhere
                    status, user_s, system_s, maxrss = 0, 0.0, 0.0, 0
                    break
        code = os.waitstatus_to_exitcode(status) if ru else (self.proc.returncode or 0)
        self.proc.returncode = code
        self._give_back_terminal()
        for sig, h in self._old_handlers.items():
            signal.signal(sig, h)
        return Ended(
            exit_code=code if code >= 0 else None,
            signal=signal.Signals(-code).name if code < 0 else None,
            user_s=user_s, system_s=system_s, maxrss_bytes=maxrss, maxrss_source=source,
        )

"""Start a workload as a child, forward signals to it exactly once, and collect how it ended."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["Workload", "Ended", "FORWARDED_SIGNALS"]

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


@dataclass
class Ended:
    """How a workload ended: ``exit_code`` or ``signal``, plus its rusage (CPU s, peak RSS bytes)."""

    exit_code: int | None
    signal: str | None
    user_s: float
    system_s: float
    maxrss_bytes: int

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

    @staticmethod
    def resolve(cmd: str) -> str | None:
        """The executable ``cmd`` names, or None (the shell's 127 case)."""
        if os.sep in cmd:
            return cmd if os.access(cmd, os.X_OK) and os.path.isfile(cmd) else None
        return shutil.which(cmd)

    def start(self) -> int:
        env = os.environ | (self.env or {})
        self.proc = subprocess.Popen(self.argv, env=env, process_group=0)
        self._take_terminal()
        for sig in FORWARDED_SIGNALS:
            self._old_handlers[sig] = signal.signal(sig, self._forward)
        return self.proc.pid

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

    def wait(self) -> Ended:
        """Wait for the child (retrying on EINTR), restore signal handlers and the terminal."""
        assert self.proc is not None
        while True:
            try:
                _, status, ru = os.wait4(self.proc.pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:  # already reaped elsewhere
                status, ru = 0, None
                break
        self.proc.returncode = os.waitstatus_to_exitcode(status) if ru is not None else 0
        self._give_back_terminal()
        for sig, h in self._old_handlers.items():
            signal.signal(sig, h)
        code = self.proc.returncode
        return Ended(
            exit_code=code if code >= 0 else None,
            signal=signal.Signals(-code).name if code < 0 else None,
            user_s=ru.ru_utime if ru else 0.0,
            system_s=ru.ru_stime if ru else 0.0,
            maxrss_bytes=(ru.ru_maxrss * 1024) if ru else 0,
        )

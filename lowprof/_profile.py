"""``lowprof.profile()``: record a region of the caller's own code.

The probes run in a child process (``lowprof attach <this pid>``), as pyperf runs its workers,
so sampling never takes the caller's GIL and a crash of either side leaves the other intact.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lowprof import marks as _marks
from lowprof.errors import LowprofError, RunDirError
from lowprof.record import default_out_dir
from lowprof.rundir import Run, load

__all__ = ["profile"]


class profile:
    """Context manager: ``with lowprof.profile(out="runs/x") as p: work()``; then ``p.run`` is the loaded Run.

    ``probes`` is a comma-separated list as for ``--probes``; ``interval_s`` the sampling interval (s).
    """

    def __init__(self, out: str | os.PathLike | None = None, *, probes: str | None = None,
                 interval_s: float = 0.05, stacks: bool = False, force: bool = False,
                 start_timeout_s: float = 30.0) -> None:
        from lowprof.probes.sampler import check_interval

        try:
            interval_s = check_interval(interval_s, "profile: interval_s")
        except ValueError as e:
            raise LowprofError(str(e)) from None
        self.path = Path(out) if out is not None else default_out_dir(f"profile-{os.getpid()}")
        self.probes, self.interval_s, self.stacks, self.force = probes, interval_s, stacks, force
        self.start_timeout_s = start_timeout_s
        self.run: Run | None = None
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> "profile":
        if not self.force and self.path.is_dir() and any(self.path.iterdir()):
            # as the CLI refuses; checked here too, so an earlier run there is never taken for this one
            raise RunDirError(f"{self.path}: exists and is not empty (use force=True to replace an earlier run)")
        cmd = [sys.executable, "-m", "lowprof", "attach", str(os.getpid()), "--out", str(self.path),
               "--interval", str(self.interval_s), "--quiet", "--kind", "profile"]
        if self.probes:
            cmd += ["--probes", self.probes]
        if not self.stacks:
            cmd.append("--no-stacks")
        if self.force:
            cmd.append("--force")
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout_s
        manifest = self.path / "manifest.json"
        while not _sampling(manifest, self._proc.pid):
            if self._proc.poll() is not None:
                msg = self._proc.stderr.read().decode(errors="replace").strip().splitlines()
                raise LowprofError(f"profile: recorder failed to start: {msg[-1] if msg else self._proc.returncode}")
            if time.monotonic() > deadline:
                self._proc.kill()
                raise LowprofError(f"profile: recorder did not start within {self.start_timeout_s} s")
            time.sleep(0.01)
        self._marks_env = _marks.enter_region(self.path)  # lowprof.mark() inside the region goes to this run
        return self

    def __exit__(self, *exc) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc.stderr.close()
        _marks.exit_region(self.path, self._marks_env)
        self.run = load(self.path)


def _sampling(manifest: Path, recorder_pid: int) -> bool:
    """The recorder ``recorder_pid`` has started sampling: its manifest (written from the directory's first
    moment) names it as the recorder and says when its sampler started (``sampler.started_t_ns``, saved as the
    sampling thread starts; the probes' entries are saved earlier, while their tables open). An earlier run's
    manifest at the same place (``force=True``, before it is replaced) does not count."""
    import json

    try:
        m = json.loads(manifest.read_text())
        return (m.get("recorder") or {}).get("pid") == recorder_pid and \
            (m.get("sampler") or {}).get("started_t_ns") is not None
    except (OSError, ValueError, AttributeError):
        return False

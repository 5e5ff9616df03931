"""The sampler: runs probes at a fixed interval on a background thread, off the workload's path."""

from __future__ import annotations

import math
import threading
import time
import traceback

from lowprof.probes.base import Probe, ProbeContext
from lowprof.rundir import RunWriter

__all__ = ["Sampler", "INTERVAL_RANGE_S", "check_interval"]

INTERVAL_RANGE_S = (0.001, 3600.0)  # sampling intervals lowprof accepts (s): below 1 ms a tick costs more than it measures


def check_interval(interval_s: float, what: str = "interval") -> float:
    """``interval_s`` as a float if finite and within INTERVAL_RANGE_S, else ValueError (one line)."""
    lo, hi = INTERVAL_RANGE_S
    try:
        v = float(interval_s)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of seconds, got {interval_s!r}") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{what} must be a finite number of seconds from {lo:g} to {hi:g}, got {interval_s}")
    return v


class Sampler:
    """Samples ``probes`` every ``interval_s`` into ``writer``; flushes tables every ``flush_s``.

    Ticks are scheduled on absolute deadlines (no drift); a tick that overruns skips the missed
    ones rather than bursting. A probe that raises is stopped, recorded in the manifest as
    ``failed`` with the error, and the others go on.
    """

    def __init__(self, writer: RunWriter, probes: list[Probe], ctx: ProbeContext,
                 interval_s: float = 0.05, flush_s: float = 1.0) -> None:
        interval_s = check_interval(interval_s)
        self.writer, self.ctx = writer, ctx
        self.interval_s, self.flush_s = interval_s, flush_s
        self.probes: list[Probe] = []
        self.samples: dict[str, int] = {}
        self.ticks = 0
        self.missed_ticks = 0  # deadlines skipped because a tick overran
        self.late_ticks = 0  # ticks that began more than half an interval after their deadline
        self.cpu_s = 0.0  # CPU time the sampler thread used
        self.write_error: OSError | None = None  # the run directory could not be written (e.g. disk full)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lowprof-sampler", daemon=True)
        for p in probes:
            self._start_probe(p)

    def _entry(self, probe: Probe) -> dict:
        return self.writer.manifest["probes"].setdefault(probe.name, {})

    def _start_probe(self, probe: Probe) -> None:
        entry = self._entry(probe)
        try:
            probe.start(self.ctx)
        except Exception as e:  # noqa: BLE001 - any probe failure is recorded, never fatal
            entry.update(status="failed", error=f"start: {type(e).__name__}: {e}")
            return
        for spec in probe.tables:
            self.writer.table(spec)
        entry.update(status="ok", interval_s=self.interval_s, tables=[s.name for s in probe.tables], samples=0)
        self.probes.append(probe)
        self.samples[probe.name] = 0

    def _fail(self, probe: Probe, e: BaseException, t_ns: int) -> None:
        self.probes.remove(probe)
        entry = self._entry(probe)
        entry.update(status="failed", error=f"{type(e).__name__}: {e}", failed_at_t_ns=t_ns,
                     traceback=traceback.format_exc(limit=3))
        try:
            probe.stop()
        except Exception:  # noqa: BLE001
            pass
        self.writer.save()

    def tick(self) -> None:
        """Sample every live probe once (the thread calls this; tests may too)."""
        for probe in list(self.probes):
            t_ns = self.ctx.clock.t_ns()
            try:
                out = probe.sample(t_ns)
                for table, rows in out.items():
                    self.writer.table(_spec(probe, table)).extend(rows)
            except Exception as e:  # noqa: BLE001
                self._fail(probe, e, t_ns)
                continue
            self.samples[probe.name] += 1
        self.ticks += 1

    def _loop(self) -> None:
        cpu0 = time.thread_time()
        next_t = self._first_tick_t + self.interval_s  # start() took the first sample itself
        last_flush = self._first_tick_t
        self._stop.wait(max(0.0, next_t - time.monotonic()))
        while not self._stop.is_set():
            if time.monotonic() - next_t > 0.5 * self.interval_s:
                self.late_ticks += 1
            self.tick()
            now = time.monotonic()
            if now - last_flush >= self.flush_s:
                try:
                    self.writer.flush()
                except OSError as e:  # disk full, quota, I/O error: what was flushed stays; sampling stops
                    self.write_error = e
                    break
                last_flush = now
            next_t += self.interval_s
            if next_t < now:  # overran: skip to the next future deadline
                skipped = int((now - next_t) / self.interval_s) + 1
                self.missed_ticks += skipped
                next_t += skipped * self.interval_s
            self._stop.wait(max(0.0, next_t - now))  # stop() wakes it at once, whatever the interval
            self.cpu_s = time.thread_time() - cpu0
        self.cpu_s = time.thread_time() - cpu0

    def start(self) -> "Sampler":
        """Take the first sample now, on the caller's thread (not ~1 ms later on a new thread: ``lowprof run``
        calls this as soon as the workload is spawned, before its interpreter starts), then sample every
        ``interval_s`` on the thread."""
        self.started_t_ns = self.ctx.clock.t_ns()
        self._first_tick_t = time.monotonic()
        self.tick()
        # ``sampler.started_t_ns`` in the saved manifest is the sign that sampling has begun (lowprof.profile
        # waits for it): the probes' entries are saved earlier, while their tables are opened.
        self.writer.manifest["sampler"] = {"interval_s": self.interval_s, "started_t_ns": self.started_t_ns}
        self.writer.save()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread, take one last sample, stop the probes, record counts in the manifest."""
        self._stop.set()
        if self._thread.is_alive():  # returns at once (the thread waits on the stop event)
            self._thread.join()
        if self._thread.ident is not None and self.write_error is None:
            self.tick()  # the final sample, at the workload's end
        for probe in list(self.probes):
            try:
                probe.stop()
            except Exception as e:  # noqa: BLE001
                self._entry(probe)["stop_error"] = f"{type(e).__name__}: {e}"
            entry = self._entry(probe)
            entry["samples"] = self.samples[probe.name]
            entry.update(probe.facts())
        self.writer.manifest["sampler"] = {
            "interval_s": self.interval_s, "started_t_ns": getattr(self, "started_t_ns", None), "flush_s": self.flush_s, "ticks": self.ticks,
            "missed_ticks": self.missed_ticks, "late_ticks": self.late_ticks, "cpu_s": round(self.cpu_s, 6),
        }
        if self.write_error is not None:
            self.writer.manifest["sampler"]["write_error"] = f"{type(self.write_error).__name__}: {self.write_error}"
            raise self.write_error
        self.writer.flush()


def _spec(probe: Probe, table: str):
    for s in probe.tables:
        if s.name == table:
            return s
    raise KeyError(f"probe {probe.name!r} returned rows for undeclared table {table!r}")

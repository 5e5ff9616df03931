"""Watch the SM clock and clock-event (throttle) reasons through NVML while a benchmark runs, so a figure
measured while throttled is flagged and cycles convert to ns at the clock actually seen.

Reads only: nothing is locked or changed. A thread samples every ``interval_s``; :meth:`ClockWatch.summary`
reduces the samples with :func:`summarize_clocks`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from lowprof import nvml_adapter
from lowprof.rundir.specs.nvml import THROTTLE_BITS, decode_reasons

__all__ = ["ClockWatch", "summarize_clocks"]


def summarize_clocks(samples: list[dict]) -> dict:
    """``samples``: ``{"sm_clock_hz", "mem_clock_hz", "reasons"}`` dicts (reasons: NVML bitmask).

    Returns median/min/max SM clock (Hz), median memory clock, the union of reasons seen by name, and
    ``throttled`` = any sample had a reason that lowers clocks below demand (power, thermal, sync boost).
    """
    if not samples:
        return {"samples": 0, "sm_clock_hz_median": None, "sm_clock_hz_min": None, "sm_clock_hz_max": None,
                "mem_clock_hz_median": None, "reasons": [], "throttled": None}
    sm = np.array([s["sm_clock_hz"] for s in samples if s.get("sm_clock_hz")], dtype=float)
    mem = np.array([s["mem_clock_hz"] for s in samples if s.get("mem_clock_hz")], dtype=float)
    mask = 0
    for s in samples:
        mask |= int(s.get("reasons") or 0)
    return {"samples": len(samples),
            "sm_clock_hz_median": float(np.median(sm)) if sm.size else None,
            "sm_clock_hz_min": float(sm.min()) if sm.size else None,
            "sm_clock_hz_max": float(sm.max()) if sm.size else None,
            "mem_clock_hz_median": float(np.median(mem)) if mem.size else None,
            "reasons": decode_reasons(mask), "reasons_mask": mask,
            "throttled": bool(mask & THROTTLE_BITS)}


class ClockWatch:
    """``with ClockWatch(nvml, handle) as w: ...; w.summary()``. ``nvml`` is :mod:`pynvml` (or a stand-in)."""

    def __init__(self, nvml: Any, handle: Any, interval_s: float = 0.02) -> None:
        self.nvml, self.handle, self.interval_s = nvml, handle, interval_s
        self._old_reasons_call = False  # True once the driver lacked the clock-event-reasons call
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _reasons(self):
        """Clock-event reasons; drivers before R535 lack that call (FunctionNotFound): the throttle-reasons
        call returns the same bits, and is used from then on (:data:`lowprof.nvml_adapter.REASON_CALLS`)."""
        newest, older = nvml_adapter.REASON_CALLS
        if not self._old_reasons_call:
            try:
                return getattr(self.nvml, newest)(self.handle)
            except Exception as e:  # noqa: BLE001
                if not nvml_adapter.is_missing_symbol(e):
                    raise
                self._old_reasons_call = True
        return getattr(self.nvml, older)(self.handle)

    def read(self) -> dict:
        n, h = self.nvml, self.handle
        s = {"t_s": time.monotonic()}
        for key, fn in (("sm_clock_hz", lambda: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM) * 1e6),
                        ("mem_clock_hz", lambda: n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_MEM) * 1e6),
                        ("reasons", self._reasons)):
            try:
                s[key] = fn()
            except Exception:  # noqa: BLE001 - a refused reading stays absent
                s[key] = None
        return s

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.read())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "ClockWatch":
        self.samples.append(self.read())
        self._thread = threading.Thread(target=self._loop, name="lowprof-clockwatch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.samples.append(self.read())

    def summary(self) -> dict:
        return summarize_clocks(self.samples)

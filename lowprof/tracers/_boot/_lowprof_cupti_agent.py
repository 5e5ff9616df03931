"""In-process agent for non-torch CUDA programs (CuPy): CUPTI's Activity API via NVIDIA's ``cupti-python``.

Started by ``sitecustomize.py`` when the workload imports ``cupy`` (and torch's agent is not
running: both would own CUPTI's activity buffers). Records runtime and driver API calls, kernels,
memcpys and memsets; every ``segment_s`` seconds a timer thread forces a flush
(``cuptiActivityFlushAll(FORCED)``) and writes the records delivered so far to
``cupti-<pid>-<n>.jsonl`` (renamed into place when whole), logged in ``segments.jsonl`` with
``cupti_minus_monotonic_ns`` = CUPTI timestamp - CLOCK_MONOTONIC, read in this process, so the
records can be put on the run clock. Standard library + ``cupti`` only.

A forced flush does not wait for the GPU (the workload is never synchronised mid-run): a record still in
flight comes back with start = end = 0 and its API record may land in another segment than its kernel;
the conversion drops and counts the former and joins across segments (lowprof.tracers.live_convert). At
interpreter exit the device is synchronised first, so the last segment holds only complete records.

Not yet run on a GPU: written against cupti-python 13.x's documented bindings.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import threading
import time

__all__ = ["CuptiSegments"]


class CuptiSegments:
    """CUPTI activity records exported in segments to ``log.out_dir`` (a KinetoSegments-style log)."""

    def __init__(self, log, segment_s: float = 2.0) -> None:
        from cupti import cupti  # noqa: F401 - fails early when cupti-python is missing

        self.cupti = cupti
        self.log = log  # an object with .out_dir, .pid and .log(**entry)
        self.segment_s = segment_s
        self.rows: list[dict] = []
        self.n = 0
        self.closed = False
        self._lock = threading.Lock()
        self._export_lock = threading.Lock()
        self._names: dict[tuple[int, int], str] = {}

    def _pair(self) -> tuple[int, int]:
        best = None
        for _ in range(3):
            m0 = time.monotonic_ns()
            c = int(self.cupti.get_timestamp())
            m1 = time.monotonic_ns()
            if best is None or m1 - m0 < best[0]:
                best = (m1 - m0, (m0 + m1) // 2, c - (m0 + m1) // 2)
        return best[1], best[2]

    def _api_name(self, kind: int, cbid: int) -> str:
        domain = 2 if kind == int(self.cupti.ActivityKind.RUNTIME) else 1
        key = (domain, cbid)
        if key not in self._names:
            try:
                self._names[key] = str(self.cupti.get_callback_name(domain, cbid))
            except Exception:  # noqa: BLE001
                self._names[key] = f"cbid{cbid}"
        return self._names[key]

    def _buffer_requested(self):
        return 8 * 1024 * 1024, 0  # bytes per buffer; 0: as many records as fit

    def _buffer_completed(self, activities) -> None:
        K = self.cupti.ActivityKind
        out = []
        for a in activities:
            k = int(a.kind)
            if k in (int(K.RUNTIME), int(K.DRIVER)):
                out.append({"k": "api", "name": self._api_name(k, a.cbid), "corr": a.correlation_id,
                            "start": a.start, "end": a.end, "pid": a.process_id, "tid": a.thread_id})
            elif k == int(K.CONCURRENT_KERNEL):
                out.append({"k": "kernel", "name": a.name, "device": a.device_id, "stream": a.stream_id,
                            "corr": a.correlation_id, "start": a.start, "end": a.end,
                            "grid": [a.grid_x, a.grid_y, a.grid_z], "block": [a.block_x, a.block_y, a.block_z],
                            "regs": a.registers_per_thread,
                            "smem": a.static_shared_memory + a.dynamic_shared_memory})
            elif k in (int(K.MEMCPY), int(K.MEMSET)):
                out.append({"k": "memcpy" if k == int(K.MEMCPY) else "memset",
                            "name": "Memcpy" if k == int(K.MEMCPY) else "Memset", "device": a.device_id,
                            "stream": a.stream_id, "corr": a.correlation_id, "start": a.start, "end": a.end,
                            "bytes": a.bytes})
        with self._lock:
            self.rows.extend(out)

    def start(self) -> "CuptiSegments":
        c = self.cupti
        c.activity_register_callbacks(self._buffer_requested, self._buffer_completed)
        for kind in ("RUNTIME", "DRIVER", "CONCURRENT_KERNEL", "MEMCPY", "MEMSET"):
            c.activity_enable(getattr(c.ActivityKind, kind))
        self._seg = self._pair()
        self.log.log(event="start", tracer="cupti", no_gpu_reason=None, segment_s=self.segment_s)
        if self.segment_s > 0:
            threading.Thread(target=self._tick, name="lowprof-cupti-roll", daemon=True).start()
        atexit.register(self.close, "exit")
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                signal.signal(sig, self._on_fatal_signal)
        return self

    def export(self, why: str) -> None:
        """Flush CUPTI's buffers and write what they held as one segment file."""
        if not self._export_lock.acquire(timeout=5):  # a signal landed mid-export on this thread
            return
        try:
            self._export(why)
        finally:
            self._export_lock.release()

    def _export(self, why: str) -> None:
        self.cupti.activity_flush_all(int(self.cupti.ActivityFlag.FLUSH_FORCED))
        with self._lock:
            rows, self.rows = self.rows, []
            start, self._seg = self._seg, self._pair()
        name = f"cupti-{self.log.pid}-{self.n:04d}.jsonl"
        path = os.path.join(self.log.out_dir, name)
        with open(path + ".tmp", "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        os.replace(path + ".tmp", path)
        self.log.log(event="segment", tracer="cupti", segment=self.n, file=name, why=why,
                     start_monotonic_ns=start[0], end_monotonic_ns=self._seg[0],
                     cupti_minus_monotonic_ns=start[1], cupti_minus_monotonic_end_ns=self._seg[1],
                     realtime_minus_monotonic_ns=None, realtime_minus_monotonic_end_ns=None,
                     records=len(rows), export_s=0.0)
        self.n += 1

    def _tick(self) -> None:
        while not self.closed:
            time.sleep(self.segment_s)
            if not self.closed:
                try:
                    self.export("timer")
                except Exception as e:  # noqa: BLE001 - never break the workload
                    self.log.log(event="error", where="cupti export", error=f"{type(e).__name__}: {e}")

    def close(self, why: str = "exit") -> None:
        if self.closed:
            return
        self.closed = True
        if why == "exit":  # the workload is done: let its last kernels finish so their records are whole
            try:
                import sys

                sys.modules["cupy"].cuda.runtime.deviceSynchronize()
            except Exception:  # noqa: BLE001 - no cupy device, or a broken context: flush what there is
                pass
        try:
            self.export(why)
        except Exception as e:  # noqa: BLE001
            self.log.log(event="error", where="cupti close", error=f"{type(e).__name__}: {e}")

    def _on_fatal_signal(self, signum, frame) -> None:
        self.close(f"signal {signal.Signals(signum).name}")
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

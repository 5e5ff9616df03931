"""Energy windows in the caller's own code, in the manner of Zeus's ``begin_window``/``end_window``::

    with lowprof.window("q17") as w:
        answer = model.generate(prompt)
    w.duration_s, w.energy_j["gpu0"], w.power_w["gpu0"], w.energy_method["gpu0"]

Inside a recording (``lowprof run``, ``lowprof.profile()``), the probes' sampler runs in the recorder's
process; a window stamps its two ends on the run clock, writes them as a begin/end mark of its name (so
``lowprof power``, ``stacks --phase`` and the Perfetto export see it), and at its end reads the power
readings the sampler has written to the run directory. Energy per device is defined once, in
:mod:`lowprof.analysis.power`: the device's energy counter (NVML total energy, RAPL, hwmon energy)
linearly interpolated at the two ends (method ``counter``), else the trapezoid integral of its power
readings (method ``integrated <signal>``). A window shorter than the sampling interval gets the
interpolation between the readings around it.

The end of a window waits for the sampler's first reading after it to reach the run directory: the
sampler flushes every second, so a window's end costs up to about 1 s plus one sampling interval
(``wait_s`` bounds it); the first window of a process that records power also imports pandas to read
them. Without a recording, or in a recording without power readings (this CPU-only
VM: no NVML, no RAPL, no hwmon), a window measures its duration only: ``energy_j`` is empty and
``reason`` says why. A window never raises because of a probe: what went wrong is in ``reason``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from lowprof.clock import origin_from_env
from lowprof.errors import LowprofError
from lowprof.rundir import ENV_RUN_DIR

__all__ = ["window", "Measurement", "measure_energy", "POWER_PROBES"]

POWER_PROBES = ("nvml", "rapl", "hwmon")  # the probes whose tables hold power and energy readings
_POLL_S = 0.05


@dataclass
class Measurement:
    """What one window measured. Filled when the window ends (``None`` inside it).

    - ``name``: the window's name (also the name of its begin/end marks)
    - ``start_t_ns``, ``end_t_ns``: its ends on the run clock (ns since the run's origin, CLOCK_MONOTONIC);
      None outside a recording
    - ``duration_s``: end - start (s)
    - ``energy_j``: device -> energy drawn in the window (J), every power device the run records
      (``gpu0``, ``gpu0:module``, ``rapl:intel-rapl:0:package-0``...; parts inside others included)
    - ``energy_method``: device -> ``counter`` (energy counter) or ``integrated <signal>`` (trapezoid of power)
    - ``power_w``: device -> mean power in the window, energy_j / duration_s (W)
    - ``total_energy_j``, ``total_devices``: the sum over the devices a whole-run figure takes by
      default (the GPUs; else the CPU packages; else every device inside no other), each part once (J)
    - ``reason``: why ``energy_j`` is empty or partial, else None
    - ``run_dir``: the run directory it was recorded in, or None
    """

    name: str
    start_t_ns: int | None = None
    end_t_ns: int | None = None
    duration_s: float | None = None
    energy_j: dict[str, float] = field(default_factory=dict)
    energy_method: dict[str, str] = field(default_factory=dict)
    power_w: dict[str, float] = field(default_factory=dict)
    total_energy_j: float | None = None
    total_devices: list[str] = field(default_factory=list)
    reason: str | None = None
    run_dir: str | None = None


def _run_clock() -> tuple[Path, int] | None:
    """(run directory, clock origin in CLOCK_MONOTONIC ns) of the recording this process is in, or None."""
    run_dir, origin = os.environ.get(ENV_RUN_DIR), origin_from_env()
    if not run_dir or origin is None:
        return None
    return Path(run_dir), origin[0]


class window:
    """``with lowprof.window("q17") as w: ...`` gives a :class:`Measurement` ``w`` filled at the block's end;
    or ``w = lowprof.window("q17"); w.begin(); ...; m = w.end()``. ``sync=True`` waits for the GPU work
    already launched (torch or CuPy) at both ends, as :class:`lowprof.mark` does. ``wait_s``: the longest
    the end waits for the sampler's readings to reach the run directory (s)."""

    def __init__(self, name: str, *, sync: bool = False, wait_s: float = 5.0) -> None:
        if not isinstance(name, str) or not name:
            raise LowprofError(f"window name must be a non-empty string, got {name!r}")
        if not (isinstance(wait_s, (int, float)) and 0 <= wait_s < 3600):
            raise LowprofError(f"window wait_s must be 0 to 3600 s, got {wait_s!r}")
        self.name, self.sync, self.wait_s = name, bool(sync), float(wait_s)
        self.measurement = Measurement(name)
        self._mark = None
        self._t0 = None
        self._where = None

    def begin(self) -> Measurement:
        """Start the window (stamp, begin mark); returns the Measurement that :meth:`end` fills."""
        from lowprof.marks import mark

        if self._t0 is not None:
            raise LowprofError(f"window {self.name!r} already begun")
        self._where = _run_clock()
        self._mark = mark(self.name, sync=self.sync)
        self._t0 = _stamped(self._mark.__enter__)
        return self.measurement

    def end(self) -> Measurement:
        """End the window and measure it (see the module doc for what the end waits for)."""
        if self._t0 is None:
            raise LowprofError(f"window {self.name!r} ended before it began")
        t1 = _stamped(lambda: self._mark.__exit__(None, None, None))  # waits for the GPU first when sync
        m = self.measurement
        m.duration_s = (t1 - self._t0) / 1e9
        if self._where is None:
            m.reason = ("not inside a lowprof recording (lowprof run, lowprof.profile()): "
                        "the duration only, no energy")
            return m
        run_dir, origin = self._where
        m.run_dir, m.start_t_ns, m.end_t_ns = str(run_dir), self._t0 - origin, t1 - origin
        try:
            measure_energy(m, run_dir, self.wait_s)
        except Exception as e:  # noqa: BLE001 - a window must never break the workload
            m.energy_j, m.energy_method, m.power_w = {}, {}, {}
            m.reason = f"energy not measured: {type(e).__name__}: {' '.join(str(e).split())}"
        return m

    def __enter__(self) -> Measurement:
        return self.begin()

    def __exit__(self, *exc) -> None:
        self.end()


def _stamped(write) -> int:
    """Call ``write`` (a mark's begin or end) and return the monotonic ns it stamped the mark with, so that the
    window and its marks (what ``lowprof power`` shows as its phase) have the same edges; outside a recording,
    where no mark is written, the time now."""
    from lowprof.marks import _state

    seq = _state["seq"]
    write()
    return _state["stamp_ns"] if _state["seq"] != seq and "stamp_ns" in _state else time.monotonic_ns()


def _span(tr) -> tuple[float, float]:
    """First and last reading (run-clock ns) of what a device's energy is measured from: its counter where
    it has one, else its power readings; (inf, -1) when it has none."""
    t = tr.te if tr.has_counter else tr.t
    return (float(t[0]), float(t[-1])) if len(t) else (float("inf"), -1.0)


def _settled(probes: dict) -> bool:
    """The recorder's probe list is final: every probe has its status, and the sampler has started some
    (``ok``/``failed``; the ``unavailable`` ones are known before it starts, the others while it starts)."""
    entries = [e if isinstance(e, dict) else {} for e in probes.values()]
    return bool(entries) and all("status" in e for e in entries) and any(e["status"] in ("ok", "failed") for e in entries)


def _no_power_reason(probes: dict) -> str:
    said = [f"{n}: {(e or {}).get('reason') or (e or {}).get('error') or (e or {}).get('status')}"
            for n, e in probes.items() if n in POWER_PROBES]
    if said:
        return "no power readings in this recording (" + "; ".join(said) + ")"
    ran = [n for n, e in probes.items() if (e or {}).get("status") == "ok"]
    return f"no power probe in this recording (probes: {', '.join(ran) or 'none'})"


def measure_energy(m: Measurement, run_dir: str | os.PathLike, wait_s: float = 5.0) -> Measurement:
    """Fill ``m``'s energy fields for [m.start_t_ns, m.end_t_ns] from the power tables of ``run_dir`` (being
    recorded, or finished), waiting up to ``wait_s`` for a reading of every device at or after the end."""
    from lowprof.rundir import load  # pandas only once there are power tables to read

    a, b = float(m.start_t_ns), float(m.end_t_ns)
    deadline = time.monotonic() + wait_s
    while True:
        run = load(run_dir)
        probes = run.manifest.get("probes") or {}
        recording = run.state == "recording"
        sampling = [n for n in POWER_PROBES if (probes.get(n) or {}).get("status") == "ok"]
        late = time.monotonic() > deadline
        if not sampling:
            if recording and not _settled(probes) and not late:  # the sampler is still starting its probes
                time.sleep(_POLL_S)
                continue
            m.reason = _no_power_reason(probes)
            return m
        from lowprof.analysis.power import device_traces, power_traces

        df = power_traces(run)
        traces = device_traces(df) if len(df) else {}
        last = {d: _span(tr)[1] for d, tr in traces.items()}
        if (traces and min(last.values()) >= b) or not recording or late:
            break
        time.sleep(_POLL_S)
    if not traces:
        m.reason = f"no power readings yet from {', '.join(sampling)} (the sampler had written none in {wait_s:g} s)"
        return m
    notes = []
    for d, tr in traces.items():
        if not tr.has_counter and len(tr.t) < 2:
            notes.append(f"{d}: {len(tr.t)} power reading{'' if len(tr.t) == 1 else 's'}, no energy")
            continue
        first = _span(tr)[0]
        m.energy_j[d] = float(tr.energy_j(a, b))
        m.energy_method[d] = tr.method
        m.power_w[d] = m.energy_j[d] / m.duration_s if m.duration_s else float("nan")
        if last[d] < b:
            notes.append(f"{d}: readings end {(b - last[d]) / 1e9:.3g} s before the window's end (energy up to them)")
        if first > a:
            notes.append(f"{d}: readings begin {(first - a) / 1e9:.3g} s after the window's start (energy from them)")
    from lowprof.analysis.devices import AUTO, choose_devices

    try:
        chosen = [d for d in choose_devices(df, AUTO).devices if d in m.energy_j]
    except LowprofError:
        chosen = []
    if chosen:
        m.total_devices = chosen
        m.total_energy_j = float(sum(m.energy_j[d] for d in chosen))
    m.reason = "; ".join(notes) or None
    return m

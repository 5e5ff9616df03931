"""Power and energy per device of a run: distribution, peak, energy two ways, throttling, limit
headroom, and the breakdown by phase (marks).

Sources, as one long frame by :func:`power_traces`: ``gpu_power`` (nvml, or an imported power log),
``rapl`` and ``hwmon_power``. Every figure is in SI units (W, J, s); times are on the run clock.

Which signal each figure uses (every table names it, per row):

- **energy** of a window [a, b]: the device's energy counter wherever it has one (NVML total energy,
  NVML module energy, RAPL, hwmon ``energyK_input``), linearly interpolated at a and b on the
  counter's own timestamps: ``E = e(b) - e(a)`` (method ``counter``; Zeus and the
  Intelligence-per-Watt harness measure energy this way). A device without a counter falls back to
  the trapezoid integral of its power signal, the power interpolated at a and b (method
  ``integrated``). Where a device has both, both are reported with ``disagreement = (integrated -
  counter) / counter``.
- **power** (percentiles, peaks, headroom, the power a POLCA server draws): the instantaneous power
  where the driver gives it (NVML field 186; on GPUs whose ``power_w`` is not averaged, ``power_w``),
  else the driver's reading, labelled with its averaging (``1 s average`` on Ampere-and-newer NVIDIA
  GPUs). ``signal="instant"`` requires instantaneous power for every GPU, ``signal="average"`` takes
  the driver's averaged reading. RAPL and hwmon energy sensors: the counter's mean power over each
  sample interval; hwmon power sensors: their reading (``powerK_average`` over its averaging interval).

Definitions (the README states them too):

- energy, integrated: trapezoid rule over the readings, ``sum (p_i + p_{i+1}) / 2 * (t_{i+1} - t_i)``
- mean power: energy (counter where there is one) / span of the power readings
- median, p95, p99: percentiles of the readings (numpy's linear interpolation); peak: the largest
  reading, or with ``window_s`` the largest time-weighted mean over any trailing window of that
  length ending at a reading
- throttled time: a reading's clock-event reasons hold until the next reading (left-point rule)
- headroom: ``limit - p99`` and ``limit - peak``, in W and in % of the limit
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lowprof.errors import LowprofError, SignalUnavailable
from lowprof.rundir import Run
from lowprof.rundir.specs.marks import read_marks
from lowprof.rundir.specs.nvml import CLOCK_EVENT_REASONS, THROTTLE_BITS

__all__ = ["power_traces", "device_traces", "DeviceTrace", "device_summary", "summarize_power", "phase_intervals",
           "phase_breakdown", "energy_between", "window_energy", "total_power", "trapezoid_j", "section_power",
           "selected", "SIGNALS", "COUNTER_SIGNAL"]

SIGNALS = ("auto", "instant", "average")
COUNTER_SIGNAL = "counter ΔE/Δt"  # power derived from an energy counter: its mean over each sample interval
_COLS = ["device", "kind", "inside", "source", "signal", "t_ns", "power_w", "power_average_w", "power_instant_w",
         "average_t_ns", "instant_t_ns",
         "energy_t_ns", "energy_j", "limit_w", "reasons"]
_AVERAGED = {"1s": "1 s average", "none": "instant (driver)", "unknown": "driver average (window unknown)"}
_GRACE = re.compile(r"^(Module|Grace|CPU|SysIO) Power Socket (\d+)$")


def _col(d: pd.DataFrame, name: str) -> pd.Series:
    """A column as float, or NaN where the table (an older version, an import) lacks it."""
    return d[name].astype("float64") if name in d else pd.Series(np.nan, index=d.index)


def _at(d: pd.DataFrame, name: str) -> pd.Series:
    """A reading's own timestamp column where given, else the row's t_ns."""
    t = _col(d, "t_ns")
    return _col(d, name).fillna(t) if name in d else t


def _frame(**cols) -> pd.DataFrame:
    n = max(len(v) for v in cols.values() if hasattr(v, "__len__") and not isinstance(v, str))
    return pd.DataFrame({c: (cols[c] if c in cols else np.nan) for c in _COLS}, index=range(n))


def _gpu_devices(run: Run) -> dict[int, dict]:
    devs = run.section("probes").entry("nvml").devices or []
    return {d.index: d.raw for d in devs if d.index is not None}


def _gpu_parts(run: Run, signal: str) -> list[pd.DataFrame]:
    g = run["gpu_power"]
    info = _gpu_devices(run)
    parts, no_instant = [], []
    for gpu, d in g.groupby("gpu", sort=True):
        gpu = int(gpu)
        meta = info.get(gpu, {})
        averaging = (meta.get("power_w") or {}).get("averaging", "unknown")
        avg, inst = _col(d, "power_w"), _col(d, "power_instant_w")
        has_inst = inst.notna().any()
        use_inst = has_inst and signal != "average"
        if signal == "instant" and not has_inst and averaging != "none":
            no_instant.append(f"gpu{gpu}")
        power, when = (inst, _at(d, "power_instant_t_ns")) if use_inst else (avg, _at(d, "power_t_ns"))
        label = (meta.get("power_instant_w") or {}).get("label", "instant") if use_inst else _AVERAGED[averaging]
        values = d.reset_index(drop=True)
        parts.append(_frame(
            device=f"gpu{gpu}", kind="gpu", inside="", source=meta.get("source", "nvml"), signal=label,
            t_ns=when.to_numpy(), power_w=power.to_numpy(), power_average_w=avg.to_numpy(),
            power_instant_w=inst.to_numpy(), average_t_ns=_at(d, "power_t_ns").to_numpy(),
            instant_t_ns=_at(d, "power_instant_t_ns").to_numpy(), energy_t_ns=_at(values, "energy_t_ns").to_numpy(),
            energy_j=_col(values, "energy_j").to_numpy(), limit_w=_col(values, "power_limit_w").to_numpy(),
            reasons=_col(values, "clock_event_reasons").to_numpy()))
        m_inst, m_avg, m_e = _col(d, "module_power_instant_w"), _col(d, "module_power_w"), _col(d, "module_energy_j")
        if m_inst.notna().any() or m_avg.notna().any() or m_e.notna().any():
            m_use_inst = m_inst.notna().any() and signal != "average"

            def when(name: str) -> np.ndarray:  # the field's own timestamp, else the module read's, else the row's
                return _col(d, name).fillna(_at(d, "module_t_ns")).to_numpy()

            parts.append(_frame(
                device=f"gpu{gpu}:module", kind="gpu_module", inside="", source="nvml scope 1",
                signal="instant" if m_use_inst else "1 s average",
                t_ns=when("module_power_instant_t_ns" if m_use_inst else "module_power_t_ns"),
                power_w=(m_inst if m_use_inst else m_avg).to_numpy(), power_average_w=m_avg.to_numpy(),
                power_instant_w=m_inst.to_numpy(), average_t_ns=when("module_power_t_ns"),
                instant_t_ns=when("module_power_instant_t_ns"), energy_t_ns=when("module_energy_t_ns"),
                energy_j=m_e.to_numpy()))
    if no_instant:
        raise SignalUnavailable(f"--instant: no instantaneous power recorded for {', '.join(no_instant)} "
                           f"(NVML field 186 refused or not logged); drop --instant to use the driver's average")
    return parts


def _rapl_parts(run: Run) -> list[pd.DataFrame]:
    r = run["rapl"]
    kinds = {"core": "cpu_plane", "uncore": "cpu_plane", "dram": "dram", "psys": "platform"}
    parts = []
    for (zone, domain), d in r.groupby(["zone", "domain"], sort=True):
        kind = "cpu_package" if str(domain).startswith("package") else kinds.get(str(domain), "rapl")
        parts.append(_frame(device=f"rapl:{zone}:{domain}", kind=kind, inside="", source="rapl",
                            signal=COUNTER_SIGNAL, t_ns=_col(d, "t_ns").to_numpy(), power_w=_col(d, "power_w").to_numpy(),
                            energy_t_ns=_col(d, "t_ns").to_numpy(), energy_j=_col(d, "energy_j").to_numpy()))
    return parts


def _hwmon_parts(run: Run) -> list[pd.DataFrame]:
    h = run["hwmon_power"]
    sensors = run.section("probes").entry("hwmon").sensors or []
    interval = {s.sensor: s.average_interval_ms for s in sensors}
    kinds = {"Module": "module", "Grace": "cpu_socket", "CPU": "cpu_rail", "SysIO": "cpu_rail"}
    parts = []
    for (label, sensor), d in h.groupby(["label", "sensor"], sort=True):
        m = _GRACE.match(str(label))
        power = _col(d, "power_w")
        if power.notna().any():
            ms = interval.get(sensor)
            signal = f"hwmon average {ms:g} ms" if ms else ("hwmon average" if "average" in str(sensor) else "hwmon input")
        else:
            signal = COUNTER_SIGNAL
        parts.append(_frame(device=f"hwmon:{label} ({sensor})", kind=kinds[m.group(1)] if m else "hwmon", inside="",
                            source="hwmon", signal=signal, t_ns=_col(d, "t_ns").to_numpy(), power_w=power.to_numpy(),
                            energy_t_ns=_col(d, "t_ns").to_numpy(), energy_j=_col(d, "energy_j").to_numpy()))
    return parts


def _containment(df: pd.DataFrame) -> pd.Series:
    """``inside`` per row: the recorded device whose reading includes this row's device (see analysis.devices)."""
    first = df.drop_duplicates("device").set_index("device")
    names = set(first.index)
    inside: dict[str, str] = {}
    zones = {d.split(":", 1)[1].rsplit(":", 1)[0]: d for d in names if d.startswith("rapl:")}
    psys = [d for d in names if first.kind[d] == "platform"]
    grace: dict[tuple[str, str], str] = {}
    for d in names:
        m = _GRACE.match(d.removeprefix("hwmon:").rsplit(" (", 1)[0]) if d.startswith("hwmon:") else None
        if m:
            grace[(m.group(1), m.group(2))] = d
    for d in names:
        kind = first.kind[d]
        if d.startswith("rapl:"):
            zone = d.split(":", 1)[1].rsplit(":", 1)[0]
            parent = zone.rsplit(":", 1)[0] if zone.count(":") >= 2 else None
            if kind in ("cpu_plane", "rapl") and parent in zones:
                inside[d] = zones[parent]
            elif kind in ("cpu_package", "dram") and psys:
                inside[d] = psys[0]
        elif d.startswith("hwmon:"):
            m = _GRACE.match(d.removeprefix("hwmon:").rsplit(" (", 1)[0])
            if m and m.group(1) in ("CPU", "SysIO"):
                inside[d] = grace.get(("Grace", m.group(2)), grace.get(("Module", m.group(2)), ""))
            elif m and m.group(1) == "Grace":
                inside[d] = grace.get(("Module", m.group(2)), "")
        elif kind in ("gpu", "gpu_module"):
            n = re.match(r"gpu(\d+)", d).group(1)
            module_meter = grace.get(("Module", n), "")
            if kind == "gpu":
                inside[d] = f"gpu{n}:module" if f"gpu{n}:module" in names else module_meter
            else:
                inside[d] = module_meter
    return df.device.map(lambda d: inside.get(d) or "")


def power_traces(run: Run, signal: str = "auto") -> pd.DataFrame:
    """All power readings of a run, long: device, kind, inside, source, signal (the power signal's name),
    t_ns, power_w (that signal), power_average_w / power_instant_w (GPUs: both NVML readings) with their own
    timestamps average_t_ns / instant_t_ns,
    energy_t_ns and energy_j (the counter), limit_w, reasons. ``signal``: ``auto``, ``instant`` or
    ``average`` (see the module doc)."""
    if signal not in SIGNALS:
        raise LowprofError(f"power signal must be one of {SIGNALS}, got {signal!r}")
    parts = []
    for table, fn in (("gpu_power", lambda: _gpu_parts(run, signal)), ("rapl", lambda: _rapl_parts(run)),
                      ("hwmon_power", lambda: _hwmon_parts(run))):
        if table in run.tables and len(run[table]):
            parts.extend(fn())
    if not parts:
        return pd.DataFrame(columns=_COLS)
    df = pd.concat(parts, ignore_index=True)
    # A sensor with only an energy counter: power from its differences (W = ΔJ / Δs), assigned to the later reading.
    for dev, d in df.groupby("device", sort=False):
        if d.power_w.isna().all() and d.energy_j.notna().any():
            df.loc[d.index, "power_w"] = d.energy_j.diff() / (d.energy_t_ns.diff() / 1e9)
            df.loc[d.index, "signal"] = COUNTER_SIGNAL
    df["inside"] = _containment(df)
    return df.sort_values(["device", "t_ns"], kind="stable").reset_index(drop=True)


def _readings(t_ns, v) -> tuple[np.ndarray, np.ndarray]:
    """Times (ns) and values as float arrays, NaN readings dropped, in time order."""
    t, v = np.asarray(t_ns, dtype=float), np.asarray(v, dtype=float)
    ok = ~(np.isnan(v) | np.isnan(t))
    t, v = t[ok], v[ok]
    order = np.argsort(t, kind="stable")
    return t[order], v[order]


def _clip(t: np.ndarray, a, b) -> tuple[np.ndarray, np.ndarray]:
    """Window edges clipped to the span of the readings at ``t`` (b < a after clipping: an empty window)."""
    a, b = np.maximum(np.asarray(a, dtype=float), t[0]), np.minimum(np.asarray(b, dtype=float), t[-1])
    return a, np.maximum(a, b)


def _cumulative(t: np.ndarray, p: np.ndarray, x) -> np.ndarray:
    """∫ from t[0] to x of the piecewise-linear power through (t, p), in W·ns (x within [t0, tN])."""
    c = np.concatenate([[0.0], np.cumsum((p[1:] + p[:-1]) / 2 * np.diff(t))])
    x = np.asarray(x, dtype=float)
    k = np.clip(np.searchsorted(t, x, side="right") - 1, 0, len(t) - 2)
    return c[k] + (x - t[k]) * (p[k] + np.interp(x, t, p)) / 2


def trapezoid_j(t_ns, p_w) -> float:
    """Energy (J) of power readings ``p_w`` (W) at ``t_ns`` by the trapezoid rule (NaN readings dropped)."""
    t, p = _readings(t_ns, p_w)
    if len(t) < 2:
        return 0.0
    return float(np.sum((p[1:] + p[:-1]) / 2 * np.diff(t)) / 1e9)


def _integrated(t: np.ndarray, p: np.ndarray, a, b) -> np.ndarray:
    if len(t) < 2:
        return np.full(np.shape(a), np.nan)
    a, b = _clip(t, a, b)
    return (_cumulative(t, p, b) - _cumulative(t, p, a)) / 1e9


def energy_between(t_ns, p_w, a_ns: float, b_ns: float) -> float:
    """Integrated energy (J) between run-clock times a and b: power linearly interpolated at the ends."""
    t, p = _readings(t_ns, p_w)
    return float(_integrated(t, p, a_ns, b_ns))


@dataclass
class DeviceTrace:
    """One device's readings as arrays: power (``t``, ``p``: ns, W) of its ``signal``, and its energy counter
    (``te``, ``e``: ns, J; empty without one)."""

    name: str
    kind: str
    inside: str
    signal: str
    t: np.ndarray
    p: np.ndarray
    te: np.ndarray
    e: np.ndarray

    @classmethod
    def of(cls, d: pd.DataFrame) -> "DeviceTrace":
        t, p = _readings(d.t_ns, d.power_w)
        te, e = _readings(d.energy_t_ns, d.energy_j)
        first = d.iloc[0]
        return cls(str(first.device), str(first.kind), str(first.inside or ""), str(first.signal), t, p, te, e)

    @property
    def has_counter(self) -> bool:
        return len(self.te) >= 2

    @property
    def method(self) -> str:
        """How :meth:`energy_j` measures: ``counter`` or ``integrated <signal>``."""
        return "counter" if self.has_counter else f"integrated {self.signal}"

    def counter_j(self, a, b) -> np.ndarray:
        """Counter difference (J) between run-clock times a and b (arrays), interpolated at the ends."""
        if not self.has_counter:
            return np.full(np.shape(a), np.nan)
        a, b = _clip(self.te, a, b)
        return np.interp(b, self.te, self.e) - np.interp(a, self.te, self.e)

    def integrated_j(self, a, b) -> np.ndarray:
        """Trapezoid integral (J) of the power signal between a and b (arrays), power interpolated at the ends."""
        return _integrated(self.t, self.p, a, b)

    def energy_j(self, a, b) -> np.ndarray:
        """Energy (J) between a and b: the counter where there is one, else the integrated power."""
        return self.counter_j(a, b) if self.has_counter else self.integrated_j(a, b)

    def coverage(self, a, b) -> tuple[np.ndarray, np.ndarray]:
        """(share of each window [a, b] inside the readings :meth:`energy_j` uses, whether that is enough): a
        window is measured when at least 99 % of it lies inside them, or at least 90 % and the part outside is no
        longer than one sample interval (the uncertainty the edges have anyway, e.g. the last phase of a run whose
        final reading came just before its end); otherwise its energy would leave unmeasured time out."""
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        span = self.te if self.has_counter else self.t
        if len(span) < 2:
            return np.zeros(np.shape(a)), np.zeros(np.shape(a), dtype=bool)
        step = float(np.median(np.diff(span)))
        with np.errstate(invalid="ignore", divide="ignore"):
            covered = np.where(b > a, np.clip(np.minimum(b, span[-1]) - np.maximum(a, span[0]), 0, None) / (b - a),
                               ((a >= span[0]) & (a <= span[-1])).astype(float))
        return covered, (covered >= 0.99) | ((covered >= 0.9) & ((1 - covered) * (b - a) <= step))


def device_traces(df: pd.DataFrame, devices: list[str] | None = None) -> dict[str, DeviceTrace]:
    """Device -> :class:`DeviceTrace` of a :func:`power_traces` frame (all devices, or ``devices``)."""
    groups = dict(tuple(df.groupby("device", sort=True)))
    return {d: DeviceTrace.of(groups[d]) for d in (devices if devices is not None else groups)}


def window_energy(traces: dict[str, DeviceTrace], devices: list[str], a, b) -> tuple[np.ndarray, str]:
    """Summed energy (J) of ``devices`` over windows [a, b] (arrays of run-clock ns), each device measured by
    its own method; returns (joules, method): ``counter``, ``integrated <signal>`` or ``mixed (dev: method; ...)``."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    total = np.zeros(np.shape(a))
    methods = {d: traces[d].method for d in devices}
    for d in devices:
        total = total + traces[d].energy_j(a, b)
    kinds = set(methods.values())
    method = kinds.pop() if len(kinds) == 1 else "mixed (" + "; ".join(f"{d}: {m}" for d, m in methods.items()) + ")"
    return total, method


def _peak(t: np.ndarray, p: np.ndarray, window_s: float) -> tuple[float, float, float]:
    """(peak W, t at its end in s, window s): max reading, or max trailing time-weighted mean over window_s."""
    if window_s <= 0:
        i = int(np.nanargmax(p))
        return float(p[i]), float(t[i] / 1e9), 0.0
    w = window_s * 1e9
    ends = t[t - w >= t[0]]
    if not len(ends):
        return float("nan"), float("nan"), window_s
    means = _integrated(t, p, ends - w, ends) / window_s
    i = int(np.argmax(means))
    return float(means[i]), float(ends[i] / 1e9), window_s


def _throttle(t: np.ndarray, reasons: np.ndarray) -> dict:
    """Seconds each clock-event reason held (left-point rule) and seconds any throttling reason held."""
    ok = ~np.isnan(reasons)
    if ok.sum() < 2:
        return {}
    t, r = t[ok], reasons[ok].astype(np.int64)
    dt = np.diff(t) / 1e9
    out = {"throttled_s": float(dt[(r[:-1] & THROTTLE_BITS) != 0].sum())}
    for bit, name in CLOCK_EVENT_REASONS.items():
        s = float(dt[(r[:-1] & bit) != 0].sum())
        if s > 0:
            out[f"{name}_s"] = s
    return out


def _disagreement(integrated: float, counter: float) -> float:
    return 100 * (integrated - counter) / counter if counter else float("nan")


def device_summary(d: pd.DataFrame, window_s: float = 0.0) -> dict:
    """Figures for one device's readings (a slice of :func:`power_traces`); see the module doc."""
    tr = DeviceTrace.of(d)
    t, p = tr.t, tr.p
    if len(p) == 0:
        return {}
    span = (t[-1] - t[0]) / 1e9
    a, b = t[0], t[-1]
    e_int = float(tr.integrated_j(a, b)) if len(t) >= 2 else 0.0
    peak, peak_t, win = _peak(t, p, window_s)
    out = {
        "samples": int(len(p)), "span_s": span, "signal": tr.signal,
        "median_w": float(np.percentile(p, 50)), "p95_w": float(np.percentile(p, 95)),
        "p99_w": float(np.percentile(p, 99)), "peak_w": peak, "peak_at_s": peak_t, "peak_window_s": win,
        "energy_integrated_j": e_int,
    }
    if tr.has_counter:
        counter = float(tr.counter_j(a, b))
        out["energy_counter_j"] = counter
        out["energy_j"], out["energy_method"] = counter, "counter"
        if tr.signal != COUNTER_SIGNAL:  # RAPL / energy-only hwmon: the power IS the counter's differences
            out["energy_disagreement_percent"] = _disagreement(e_int, counter)
            for name in ("average", "instant"):  # GPUs: both NVML power readings, each on its own timestamps
                own = d[f"{name}_t_ns"]
                ts, ps = _readings(own.fillna(d.t_ns) if own.notna().any() else d.t_ns, d[f"power_{name}_w"])
                if len(ts) >= 2:
                    e = float(_integrated(ts, ps, a, b))
                    out[f"energy_integrated_{name}_j"] = e
                    out[f"energy_disagreement_{name}_percent"] = _disagreement(e, counter)
    else:
        out["energy_j"], out["energy_method"] = e_int, f"integrated {tr.signal}"
    out["mean_w"] = out["energy_j"] / span if span > 0 else float(p.mean())
    lim = d.limit_w.dropna()
    if len(lim):
        limit = float(lim.median())
        out["limit_w"] = limit
        out["headroom_p99_w"] = limit - out["p99_w"]
        out["headroom_p99_percent"] = 100 * (limit - out["p99_w"]) / limit
        out["headroom_peak_w"] = limit - peak
        out["headroom_peak_percent"] = 100 * (limit - peak) / limit
    r = d.dropna(subset=["reasons"])
    out.update(_throttle(r.t_ns.to_numpy(dtype=float), r.reasons.to_numpy(dtype=float)))
    return out


def selected(df: pd.DataFrame, devices: str | None = None) -> pd.DataFrame:
    """The rows of a :func:`power_traces` frame of the devices ``devices`` selects (as
    :func:`lowprof.analysis.devices.choose_devices`); every row for None (and for a frame without rows)."""
    if devices is None or not len(df):
        return df
    from lowprof.analysis.devices import choose_devices

    return df[df.device.isin(choose_devices(df, devices).devices)]


def summarize_power(run: Run, window_s: float = 0.0, signal: str = "auto", devices: str | None = None) -> dict[str, dict]:
    """Device -> :func:`device_summary` for every device with power readings (``devices``: only those that
    selection takes, see :mod:`lowprof.analysis.devices`)."""
    df = selected(power_traces(run, signal), devices)
    return {dev: device_summary(d, window_s) for dev, d in df.groupby("device", sort=True)}


def phase_intervals(marks: pd.DataFrame, end_ns: int) -> pd.DataFrame:
    """Phases from marks: each begin/end pair (matched per process and name, nesting allowed; an
    unmatched begin runs to ``end_ns``), and each instant mark up to the next mark of any kind (instant,
    begin or end, of any process) or ``end_ns``. Returns name, start_ns, end_ns."""
    rows = []
    open_: dict[tuple, list[int]] = {}
    for r in marks.itertuples(index=False):
        key = (r.pid, r.name)
        if r.kind == "begin":
            open_.setdefault(key, []).append(int(r.t_ns))
        elif r.kind == "end" and open_.get(key):
            rows.append((r.name, open_[key].pop(), int(r.t_ns)))
    for (pid, name), starts in open_.items():
        rows.extend((name, s, int(end_ns)) for s in starts)
    times = np.sort(marks.t_ns.to_numpy(dtype=np.int64))
    for r in marks[marks.kind == "instant"].itertuples(index=False):
        later = times[np.searchsorted(times, int(r.t_ns), side="right"):]
        rows.append((r.name, int(r.t_ns), int(max(r.t_ns, later[0] if len(later) else end_ns))))
    return pd.DataFrame(rows, columns=["name", "start_ns", "end_ns"]).sort_values("start_ns", kind="stable").reset_index(drop=True)


def phase_breakdown(run: Run, marks: pd.DataFrame | None = None, signal: str = "auto",
                    devices: str | None = None) -> pd.DataFrame:
    """Per phase x device: start_s, duration_s, energy_j and energy_method (the counter where there is one),
    energy_counter_j, energy_integrated_j, energy_disagreement_percent ((integrated - counter) / counter, where
    both exist and the power is not the counter's own differences), mean_w (energy_j / the phase's measured
    duration), covered_percent
    (the share of the phase inside the device's readings). A phase not measured by
    :meth:`DeviceTrace.coverage` (less than 99 % inside the readings, or 90 % with at most one sample interval
    outside) has no energy (NaN): the part outside was not measured, and it is not zero. ``devices``: only the
    devices that selection takes (:mod:`lowprof.analysis.devices`; default every device)."""
    marks = read_marks(run) if marks is None else marks
    df = selected(power_traces(run, signal), devices)
    cols = ["phase", "device", "start_s", "duration_s", "energy_j", "energy_method", "energy_counter_j",
            "energy_integrated_j", "energy_disagreement_percent", "mean_w", "covered_percent"]
    if not len(marks) or not len(df):
        return pd.DataFrame(columns=cols)
    end = run.section("end_t_ns") or int(df.t_ns.max())
    ph = phase_intervals(marks, end)
    a, b = ph.start_ns.to_numpy(dtype=float), ph.end_ns.to_numpy(dtype=float)
    dur = (b - a) / 1e9
    rows = []
    for dev, tr in device_traces(df).items():
        e, c, i = tr.energy_j(a, b), tr.counter_j(a, b), tr.integrated_j(a, b)
        compare = tr.has_counter and tr.signal != COUNTER_SIGNAL  # RAPL's power IS the counter's differences
        covered, measured = tr.coverage(a, b)
        e, c, i = (np.where(measured, x, np.nan) for x in (e, c, i))
        for k, name in enumerate(ph.name):
            rows.append({"phase": name, "device": dev, "start_s": a[k] / 1e9, "duration_s": dur[k],
                         "energy_j": float(e[k]), "energy_method": tr.method, "energy_counter_j": float(c[k]),
                         "energy_integrated_j": float(i[k]),
                         "energy_disagreement_percent": _disagreement(float(i[k]), float(c[k])) if compare
                         else float("nan"),
                         "mean_w": float(e[k] / (dur[k] * covered[k])) if dur[k] * covered[k] > 0 else float("nan"),
                         "covered_percent": float(100 * covered[k])})
    return pd.DataFrame(rows, columns=cols).sort_values(["start_s", "device"], kind="stable").reset_index(drop=True)


def total_power(df: pd.DataFrame, devices: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Summed power (W) of ``devices`` on the union of their reading times, over the span all of them cover
    (each device linearly interpolated). Returns (t_ns, p_w)."""
    sel = [_readings(*df[df.device == d][["t_ns", "power_w"]].T.values) for d in devices]
    sel = [s for s in sel if len(s[0]) >= 2]
    if not sel:
        return np.array([]), np.array([])
    lo = max(t[0] for t, _ in sel)
    hi = min(t[-1] for t, _ in sel)
    grid = np.unique(np.concatenate([t for t, _ in sel]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    total = np.zeros_like(grid)
    for t, p in sel:
        total += np.interp(grid, t, p)
    return grid, total


def section_power(run: Run, signal: str = "auto", devices: str | None = None) -> dict | None:
    """``lowprof report`` section: per device (``devices``: only that selection's, lowprof.analysis.devices)
    its power signal (``signal``: auto, instant or average), mean / p99 / peak W, energy (and how it was
    measured), both ways where both exist, headroom, throttled time (None without power tables)."""
    if not any(t in run.tables for t in ("gpu_power", "rapl", "hwmon_power")):
        return None
    out: dict = {}
    for dev, s in summarize_power(run, signal=signal, devices=devices).items():
        if not s:
            continue
        out[f"{dev} power signal"] = s["signal"]
        for key in ("mean_w", "p99_w", "peak_w", "energy_j"):
            out[f"{dev} {key}"] = s[key]
        out[f"{dev} energy from"] = s["energy_method"]
        for key in ("energy_counter_j", "energy_integrated_j", "energy_disagreement_percent", "headroom_p99_w",
                    "throttled_s"):
            if key in s:
                out[f"{dev} {key}"] = s[key]
    return out or None

"""Power and energy per device of a run: distribution, peak, energy two ways, throttling, limit
headroom, and the breakdown by phase (marks).

Sources, as one long frame by :func:`power_traces`: ``gpu_power`` (nvml), ``rapl`` and
``hwmon_power``. Every figure is in SI units (W, J, s); times are on the run clock.

Definitions (the README states them too):

- energy, integrated: trapezoid rule over the readings, ``sum (p_i + p_{i+1}) / 2 * (t_{i+1} - t_i)``
- energy, counter: last - first reading of the device's energy counter (NVML total energy, RAPL,
  hwmon ``energyK_input``); ``disagreement = (integrated - counter) / counter``
- mean power: integrated energy / span (time-weighted); median, p95, p99: percentiles of the
  readings (numpy's linear interpolation); peak: the largest reading, or with ``window_s`` the
  largest time-weighted mean over any trailing window of that length ending at a reading
- throttled time: a reading's clock-event reasons hold until the next reading (left-point rule)
- headroom: ``limit - p99`` and ``limit - peak``, in W and in % of the limit
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lowprof.marks import read_marks
from lowprof.probes.nvml import CLOCK_EVENT_REASONS, THROTTLE_BITS
from lowprof.rundir import Run

__all__ = ["power_traces", "device_summary", "summarize_power", "phase_intervals", "phase_breakdown",
           "energy_between", "total_power", "trapezoid_j", "section_power"]

_COLS = ["device", "source", "t_ns", "power_w", "energy_j", "limit_w", "reasons"]


def power_traces(run: Run, instant: bool = False) -> pd.DataFrame:
    """All power readings of a run, long: device, source, t_ns, power_w, energy_j (counter), limit_w, reasons.

    ``instant``: for GPUs use NVML's instantaneous power where recorded instead of the driver's
    averaged reading (which lags by its averaging window, ~1 s on recent boards)."""
    parts = []
    if "gpu_power" in run.tables and len(run["gpu_power"]):
        g = run["gpu_power"]
        power = g.power_instant_w.where(g.power_instant_w.notna(), g.power_w) if instant else g.power_w
        parts.append(pd.DataFrame({
            "device": "gpu" + g.gpu.astype(str), "source": "nvml", "t_ns": g.t_ns, "power_w": power,
            "energy_j": g.energy_j, "limit_w": g.power_limit_w, "reasons": g.clock_event_reasons}))
    if "rapl" in run.tables and len(run["rapl"]):
        r = run["rapl"]
        parts.append(pd.DataFrame({
            "device": "rapl:" + r.zone + ":" + r.domain, "source": "rapl", "t_ns": r.t_ns, "power_w": r.power_w,
            "energy_j": r.energy_j, "limit_w": np.nan, "reasons": np.nan}))
    if "hwmon_power" in run.tables and len(run["hwmon_power"]):
        h = run["hwmon_power"]
        parts.append(pd.DataFrame({
            "device": "hwmon:" + h.label + " (" + h.sensor + ")", "source": "hwmon", "t_ns": h.t_ns,
            "power_w": h.power_w, "energy_j": h.energy_j, "limit_w": np.nan, "reasons": np.nan}))
    if not parts:
        return pd.DataFrame(columns=_COLS)
    df = pd.concat(parts, ignore_index=True)
    # A sensor with only an energy counter: power from its differences (W = ΔJ / Δs), assigned to the later reading.
    for dev, d in df.groupby("device", sort=False):
        if d.power_w.isna().all() and d.energy_j.notna().any():
            p = d.energy_j.diff() / (d.t_ns.diff() / 1e9)
            df.loc[d.index, "power_w"] = p
    return df.sort_values(["device", "t_ns"], kind="stable").reset_index(drop=True)


def _readings(t_ns, v) -> tuple[np.ndarray, np.ndarray]:
    """Times (ns) and values as float arrays, NaN readings dropped."""
    t, v = np.asarray(t_ns, dtype=float), np.asarray(v, dtype=float)
    ok = ~np.isnan(v)
    return t[ok], v[ok]


def _window(t: np.ndarray, a_ns: float, b_ns: float) -> tuple[float, float]:
    """[a, b] clipped to the span of the readings at ``t`` (b <= a: no overlap)."""
    return max(a_ns, t[0]), min(b_ns, t[-1])


def trapezoid_j(t_ns: np.ndarray, p_w: np.ndarray) -> float:
    """Energy (J) of power readings ``p_w`` (W) at ``t_ns`` by the trapezoid rule (NaN readings dropped)."""
    t, p = _readings(t_ns, p_w)
    if len(t) < 2:
        return 0.0
    return float(np.sum((p[1:] + p[:-1]) / 2 * np.diff(t)) / 1e9)


def energy_between(t_ns, p_w, a_ns: float, b_ns: float) -> float:
    """Integrated energy (J) between run-clock times a and b: power linearly interpolated at the ends."""
    t, p = _readings(t_ns, p_w)
    if len(t) < 2:
        return float("nan")
    a, b = _window(t, a_ns, b_ns)
    if b <= a:
        return 0.0
    inside = (t > a) & (t < b)
    tt = np.concatenate([[a], t[inside], [b]])
    pp = np.concatenate([[np.interp(a, t, p)], p[inside], [np.interp(b, t, p)]])
    return trapezoid_j(tt, pp)


def _counter_between(t_ns, e_j, a_ns: float, b_ns: float) -> float:
    """Energy-counter difference (J) between run-clock times a and b, interpolated at the ends."""
    t, e = _readings(t_ns, e_j)
    if len(t) < 2:
        return float("nan")
    a, b = _window(t, a_ns, b_ns)
    if b <= a:
        return 0.0
    return float(np.interp(b, t, e) - np.interp(a, t, e))


def _peak(t: np.ndarray, p: np.ndarray, window_s: float) -> tuple[float, float, float]:
    """(peak W, t at its end in s, window s): max reading, or max trailing time-weighted mean over window_s."""
    if window_s <= 0:
        i = int(np.nanargmax(p))
        return float(p[i]), float(t[i] / 1e9), 0.0
    w = window_s * 1e9
    best, best_t = float("nan"), float("nan")
    for i in range(len(t)):
        if t[i] - w < t[0]:
            continue
        m = energy_between(t, p, t[i] - w, t[i]) / window_s
        if not best >= m:
            best, best_t = m, float(t[i] / 1e9)
    return best, best_t, window_s


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


def device_summary(d: pd.DataFrame, window_s: float = 0.0) -> dict:
    """Figures for one device's readings (a slice of :func:`power_traces`)."""
    d = d[d.power_w.notna()]
    t, p = d.t_ns.to_numpy(dtype=float), d.power_w.to_numpy(dtype=float)
    if len(p) == 0:
        return {}
    span = (t[-1] - t[0]) / 1e9
    e_int = trapezoid_j(t, p)
    peak, peak_t, win = _peak(t, p, window_s)
    out = {
        "samples": int(len(p)), "span_s": span,
        "mean_w": e_int / span if span > 0 else float(p.mean()),
        "median_w": float(np.percentile(p, 50)), "p95_w": float(np.percentile(p, 95)),
        "p99_w": float(np.percentile(p, 99)), "peak_w": peak, "peak_at_s": peak_t, "peak_window_s": win,
        "energy_integrated_j": e_int,
    }
    e = d.energy_j.to_numpy(dtype=float)
    if np.isfinite(e).sum() >= 2:
        ok = np.isfinite(e)
        counter = float(e[ok][-1] - e[ok][0])
        out["energy_counter_j"] = counter
        if (d.source == "nvml").all():  # RAPL / hwmon energy sensors: power IS the counter's differences
            # compare over the same span: integrate only between the counter's first and last reading
            e_same = energy_between(t, p, t[ok][0], t[ok][-1])
            out["energy_disagreement_percent"] = 100 * (e_same - counter) / counter if counter else float("nan")
    lim = d.limit_w.dropna()
    if len(lim):
        limit = float(lim.median())
        out["limit_w"] = limit
        out["headroom_p99_w"] = limit - out["p99_w"]
        out["headroom_p99_percent"] = 100 * (limit - out["p99_w"]) / limit
        out["headroom_peak_w"] = limit - peak
        out["headroom_peak_percent"] = 100 * (limit - peak) / limit
    out.update(_throttle(t, d.reasons.to_numpy(dtype=float)))
    return out


def summarize_power(run: Run, window_s: float = 0.0, instant: bool = False) -> dict[str, dict]:
    """Device -> :func:`device_summary` for every device with power readings."""
    df = power_traces(run, instant)
    return {dev: device_summary(d, window_s) for dev, d in df.groupby("device", sort=True)}


def phase_intervals(marks: pd.DataFrame, end_ns: int) -> pd.DataFrame:
    """Phases from marks: each begin/end pair (matched per process and name, nesting allowed; an
    unmatched begin runs to ``end_ns``), and each instant mark up to the next instant or ``end_ns``.
    Returns name, start_ns, end_ns."""
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
    inst = marks[marks.kind == "instant"].sort_values("t_ns", kind="stable")
    ts = inst.t_ns.tolist() + [int(end_ns)]
    rows.extend((n, int(ts[i]), int(max(ts[i], ts[i + 1]))) for i, n in enumerate(inst.name))
    return pd.DataFrame(rows, columns=["name", "start_ns", "end_ns"]).sort_values("start_ns", kind="stable").reset_index(drop=True)


def phase_breakdown(run: Run, marks: pd.DataFrame | None = None, instant: bool = False) -> pd.DataFrame:
    """Per phase x device: duration_s, energy_integrated_j, energy_counter_j, mean_w (integrated / duration)."""
    marks = read_marks(run) if marks is None else marks
    df = power_traces(run, instant)
    cols = ["phase", "device", "start_s", "duration_s", "energy_integrated_j", "energy_counter_j", "mean_w"]
    if not len(marks) or not len(df):
        return pd.DataFrame(columns=cols)
    end = run.manifest.get("end_t_ns") or int(df.t_ns.max())
    rows = []
    for ph in phase_intervals(marks, end).itertuples(index=False):
        for dev, d in df.groupby("device", sort=True):
            e = energy_between(d.t_ns, d.power_w, ph.start_ns, ph.end_ns)
            c = _counter_between(d.t_ns, d.energy_j, ph.start_ns, ph.end_ns)
            dur = (ph.end_ns - ph.start_ns) / 1e9
            rows.append({"phase": ph.name, "device": dev, "start_s": ph.start_ns / 1e9, "duration_s": dur,
                         "energy_integrated_j": e, "energy_counter_j": c, "mean_w": e / dur if dur > 0 else float("nan")})
    return pd.DataFrame(rows, columns=cols)


def total_power(df: pd.DataFrame, devices: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Summed power (W) of ``devices`` on the union of their reading times, over the span all of them cover
    (each device linearly interpolated). Returns (t_ns, p_w)."""
    sel = [df[(df.device == d) & df.power_w.notna()] for d in devices]
    sel = [s for s in sel if len(s) >= 2]
    if not sel:
        return np.array([]), np.array([])
    lo = max(float(s.t_ns.min()) for s in sel)
    hi = min(float(s.t_ns.max()) for s in sel)
    grid = np.unique(np.concatenate([s.t_ns.to_numpy(dtype=float) for s in sel]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    total = np.zeros_like(grid)
    for s in sel:
        total += np.interp(grid, s.t_ns.to_numpy(dtype=float), s.power_w.to_numpy(dtype=float))
    return grid, total


def section_power(run: Run) -> dict | None:
    """``lowprof report`` section: per device mean / p99 / peak W, energy both ways, headroom (None without power tables)."""
    if not any(t in run.tables for t in ("gpu_power", "rapl", "hwmon_power")):
        return None
    out: dict = {}
    for dev, s in summarize_power(run).items():
        if not s:
            continue
        out[f"{dev} mean_w"] = s["mean_w"]
        out[f"{dev} p99_w"] = s["p99_w"]
        out[f"{dev} peak_w"] = s["peak_w"]
        out[f"{dev} energy_integrated_j"] = s["energy_integrated_j"]
        if "energy_counter_j" in s:
            out[f"{dev} energy_counter_j"] = s["energy_counter_j"]
        if "energy_disagreement_percent" in s:
            out[f"{dev} energy_disagreement_percent"] = s["energy_disagreement_percent"]
        if "headroom_p99_w" in s:
            out[f"{dev} headroom_p99_w"] = s["headroom_p99_w"]
        if "throttled_s" in s:
            out[f"{dev} throttled_s"] = s["throttled_s"]
    return out or None

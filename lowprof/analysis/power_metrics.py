"""Metrics of power and energy (:mod:`lowprof.analysis.power`): mean and p99 power and energy per device,
energy per pass and per marked phase over the one device policy (:mod:`lowprof.analysis.devices`).

Each figure depends on the GPU power signal asked for (``auto``, ``instant``, ``average``): the functions
take it as their second argument, and each row names how it was measured (``signal`` or ``from``). They also
take the devices asked for (``--devices`` of ``report`` and ``compare``, last argument): the sums (per pass,
per phase) are over that selection (default :data:`~lowprof.analysis.devices.AUTO`), the per-device figures
only that selection's devices (default every device). The analyses are computed once per loaded run, signal
and selection (``Run.derived``). Light: numpy and the analysis are
imported when a figure is computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.analysis.metric import Metric, metric

if TYPE_CHECKING:
    from lowprof.rundir import Run

__all__ = ["metrics", "power_summary", "has_power", "check_devices", "energy_sums"]

POWER_TABLES = ("gpu_power", "rapl", "hwmon_power")


def _has_power(run: Run) -> bool:
    return any(t in run.tables and len(run[t]) for t in POWER_TABLES)


def power_summary(run: Run, signal: str, devices: str | None = None) -> dict:
    """:func:`lowprof.analysis.power.summarize_power` of the run (device -> figures; ``devices``: only that
    selection's), computed once per signal and selection; ``{}`` for a run without power readings."""
    from lowprof.analysis.power import summarize_power

    if not _has_power(run):
        return {}
    return run.derived(("summarize_power", signal, devices),
                       lambda: summarize_power(run, signal=signal, devices=devices))


def _traces(run: Run, signal: str):
    """:func:`lowprof.analysis.power.power_traces` of the run, computed once per signal (shared: never modified)."""
    from lowprof.analysis.power import power_traces

    return run.derived(("power_traces", signal), lambda: power_traces(run, signal))


def has_power(run: Run, signal: str) -> bool:
    """True when the run has power readings (on ``signal``: raises as power_traces does for one it lacks);
    cheaper than a summary of them."""
    return _has_power(run) and len(_traces(run, signal)) > 0


def check_devices(run: Run, signal: str, devices: str | None) -> None:
    """Raise LowprofError (one line) when ``devices`` is a selection the run's power devices do not allow (a
    name it lacks, a device with one it is inside, a kind it has none of); nothing for None or a run without
    power readings (no figure to select)."""
    from lowprof.analysis.devices import choose_devices

    if devices is not None and _has_power(run):
        choose_devices(_traces(run, signal), devices)


def _per_device(run: Run, signal: str, devices: str | None, key: str, how: str):
    """Per device: (value, {device, and how it was measured}); ``how``: ``from`` (the energy method) or
    ``signal`` (the power signal), so a comparison never pairs figures measured two ways without saying so."""
    by = {"from": "energy_method", "signal": "signal"}[how]
    return [(s[key], {"device": dev, how: s[by]}) for dev, s in power_summary(run, signal, devices).items()
            if s.get(key) is not None] or None


@metric("power_mean_w", "W", "lower",
        "mean power per device: its energy (the energy counter where it has one, else integrated power) / the span "
        "of its power readings", signal=True, devices=True)
def power_mean_w(run: Run, signal: str, devices: str | None = None):
    return _per_device(run, signal, devices, "mean_w", "from")


@metric("power_p99_w", "W", "lower",
        "99th percentile per device of its power signal: instantaneous where recorded (NVML field 186), else the "
        "driver's reading (a 1 s average on Ampere and newer GPUs)", signal=True, devices=True)
def power_p99_w(run: Run, signal: str, devices: str | None = None):
    return _per_device(run, signal, devices, "p99_w", "signal")


@metric("energy_j", "J", "lower",
        "energy per device over its power readings' span: the energy counter where it has one (NVML, RAPL, hwmon "
        "energy), else the trapezoid integral of its power", signal=True, devices=True)
def energy_j(run: Run, signal: str, devices: str | None = None):
    return _per_device(run, signal, devices, "energy_j", "from")


def _energy_devices(run: Run, signal: str, spec: str | None = None):
    """(device traces, devices summed for per-pass/per-phase energy, label) by the one device policy
    (lowprof.analysis.devices: ``spec``, default the GPUs, else the CPU packages, else every device inside no
    other)."""
    from lowprof.analysis.devices import choose_devices
    from lowprof.analysis.power import device_traces

    def compute():
        df = _traces(run, signal)
        sel = choose_devices(df, spec)
        return device_traces(df, sel.devices), sel.devices, sel.label
    return run.derived(("energy_devices", signal, spec), compute)


def _window_energies(run: Run, signal: str, spec: str | None, starts, ends) -> tuple[list[float], str]:
    """Summed energy (J) of the selection's devices over each window, and how it was measured."""
    from lowprof.analysis.power import window_energy

    traces, devices, _ = _energy_devices(run, signal, spec)
    e, method = window_energy(traces, devices, starts, ends)
    return e.tolist(), method


@metric("energy_per_pass_j", "J", "lower",
        "median over non-warm-up passes of the energy the GPUs (else the CPU packages, else every device inside no "
        "other) drew during the pass (pass = its annotation's span; each device's energy counter interpolated at the "
        "pass's edges, integrated power where it has none; a RAPL subzone is never added to its package)",
        signal=True, devices=True)
def energy_per_pass_j(run: Run, signal: str, devices: str | None = None):
    import numpy as np

    from lowprof.rundir.specs.launches import is_warmup

    if not has_power(run, signal) or "steps" not in run.tables or not len(run["steps"]):
        return None
    traces, _, label = _energy_devices(run, signal, devices)
    lo = max(float((tr.te if tr.has_counter else tr.t)[0]) for tr in traces.values())
    hi = min(float((tr.te if tr.has_counter else tr.t)[-1]) for tr in traces.values())
    s = run["steps"]
    s = s[~s["name"].map(is_warmup) & (s["start_ns"] >= lo) & (s["end_ns"] <= hi)]
    if not len(s):
        return None
    e, method = _window_energies(run, signal, devices, s["start_ns"], s["end_ns"])
    return [(float(np.median(e)), {"devices": label, "from": method})]


@metric("phase_energy_j", "J", "lower",
        "median over a marked phase's occurrences of the energy the GPUs (else the CPU packages, else every device "
        "inside no other) drew in it (energy counters at the phase's edges, integrated power where there is none)",
        signal=True, devices=True)
def phase_energy_j(run: Run, signal: str, devices: str | None = None):
    import numpy as np

    from lowprof.analysis.phases import marked_phases

    ph = marked_phases(run)
    if not has_power(run, signal) or not len(ph):
        return None
    traces, summed, label = _energy_devices(run, signal, devices)
    out = []
    for name, g in ph.groupby("name"):
        a, b = g["start_ns"].to_numpy(float), g["end_ns"].to_numpy(float)
        measured = np.logical_and.reduce([traces[d].coverage(a, b)[1] for d in summed])
        if not measured.any():  # an occurrence outside the readings was not measured: it is not 0 J
            continue
        e, method = _window_energies(run, signal, devices, a[measured], b[measured])
        out.append((float(np.median(e)), {"phase": name, "devices": label, "from": method}))
    return out


def energy_sums(run: Run, signal: str = "auto", devices: str | None = None) -> dict:
    """``lowprof report``'s summed energy figures: the selection's devices (``devices``, default the GPUs, else the
    CPU packages, else all) and, where the run has passes / marked phases, :func:`energy_per_pass_j` and
    :func:`phase_energy_j` over them (J; how measured beside); ``{}`` when it has neither."""
    out: dict = {}
    per_pass = energy_per_pass_j(run, signal, devices) or []
    phases = phase_energy_j(run, signal, devices) or []
    for value, p in per_pass:
        out.update({"energy summed over": p["devices"], "energy_per_pass_j": value, "energy per pass from": p["from"]})
    for value, p in phases:
        out.setdefault("energy summed over", p["devices"])
        out[f"phase {p['phase']} energy_j"] = value
        out[f"phase {p['phase']} energy from"] = p["from"]
    return out


def metrics() -> tuple[Metric, ...]:
    return (power_mean_w, power_p99_w, energy_j, energy_per_pass_j, phase_energy_j)

"""Paper figures from run directories (matplotlib, Agg): PNG and PDF, readable in greyscale.

Every series has its own marker and line style as well as its colour (Okabe-Ito palette), so a
figure printed in black and white still tells the machines apart. Each ``plot_*`` function writes
``<name>.png`` and ``<name>.pdf`` and returns a :class:`Figure` holding the numbers it plotted
(series label -> DataFrame of x and y) and the marked points, so tests and users can check them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import matplotlib.ticker
import matplotlib.container

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lowprof.analysis import bound_metrics, launch_metrics, phases, summary_metrics  # noqa: E402
from lowprof.analysis.metrics import Registry  # noqa: E402
from lowprof.errors import LowprofError  # noqa: E402
from lowprof.rundir import Run  # noqa: E402
from lowprof.rundir.many import expand  # noqa: E402

__all__ = ["Figure", "style", "plot_sweep", "plot_tlb", "plot_power", "plot_microbench", "plot_system", "plot_ranks", "plot_ratios", "FORMATS"]

FORMATS = ("png", "pdf")
_COLOURS = ("#000000", "#E69F00", "#0072B2", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_LINES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 2)))


@dataclass
class Figure:
    """A written figure: its files, the plotted series (label -> x/y frame) and marked points."""

    name: str
    paths: list[Path]
    series: dict[str, pd.DataFrame] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    figure: object = None  # the matplotlib Figure drawn (closed once saved; its axes and artists stay readable)


def style(i: int) -> dict:
    """Colour, marker and line style of series ``i`` (distinct in greyscale by marker and dash)."""
    return {"color": _COLOURS[i % len(_COLOURS)], "marker": _MARKERS[i % len(_MARKERS)],
            "linestyle": _LINES[i % len(_LINES)], "markersize": 5, "linewidth": 1.4}


def _save(fig, out_dir: Path, name: str, formats=FORMATS) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        p = out_dir / f"{name}.{fmt}"
        fig.savefig(p, dpi=150, bbox_inches="tight", metadata={"Software": "lowprof"} if fmt == "png" else None)
        paths.append(p)
    plt.close(fig)
    return paths


def _new(nrows: int = 1, ncols: int = 1, size=(6.0, 3.6)):
    with plt.rc_context({"font.size": 9, "axes.grid": True, "grid.color": "0.85", "grid.linewidth": 0.6}):
        fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.grid(True, color="0.85", linewidth=0.6)
        ax.set_axisbelow(True)
    return fig, axes


def _plain(v: float) -> str:
    """A tick value as a plain number, never e-notation: 0.2, 1, 30, 1500."""
    text = np.format_float_positional(float(v), precision=4, unique=True, trim="-")
    return text.removesuffix(".")


def plain_log_axis(ax, axis: str = "y") -> None:
    """Label a log axis with plain numbers at 1, 2, 5 x 10^k (0.2, 0.5, 1, 2, 5, 10...), a symlog axis at its
    own ticks; never 10^k or 2e-01."""
    a = ax.xaxis if axis == "x" else ax.yaxis
    if a.get_scale() == "log":
        a.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=30))
    a.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: _plain(v)))
    a.set_minor_formatter(matplotlib.ticker.NullFormatter())


def log2_axis(ax, axis: str = "x") -> None:
    """A log2 axis labelled with the plain numbers 1, 2, 4, 8... (never 2^3 or 8.0): batch sizes."""
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log", base=2)
    a.set_major_locator(matplotlib.ticker.LogLocator(base=2, numticks=24))
    a.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.0f}" if v >= 1 else f"{v:g}"))
    a.set_minor_locator(matplotlib.ticker.NullLocator())


def shade_phases(axes, runs: dict[str, Run], result: "Figure") -> None:
    """Shade each run's marked phases (lowprof.mark; lowprof.analysis.power.phase_intervals) on timeline
    ``axes`` (run clock in s), named at the top of the first; marked as ``phase <name> <i>`` (start, s).
    One run: alternating greys; several: each run's phases in its series colour, named ``<run>: <phase>``."""
    from lowprof.analysis.power import phase_intervals
    from lowprof.rundir.specs.marks import read_marks

    axes = list(axes)
    for i, (label, run) in enumerate(runs.items()):
        marks = read_marks(run)
        if not len(marks):
            continue
        end = run.section("end_t_ns") or int(marks["t_ns"].max())
        for j, ph in enumerate(phase_intervals(marks, end).itertuples(index=False)):
            a, b = ph.start_ns / 1e9, ph.end_ns / 1e9
            name = ph.name if len(runs) == 1 else f"{label}: {ph.name}"
            for ax in axes:
                if len(runs) == 1:
                    ax.axvspan(a, b, color="0.88" if j % 2 == 0 else "0.94", zorder=0, linewidth=0)
                else:
                    ax.axvspan(a, b, color=style(i)["color"], alpha=0.10, zorder=0, linewidth=0)
            axes[0].annotate(name, ((a + b) / 2, 1.0), xycoords=("data", "axes fraction"), ha="center",
                             va="bottom", fontsize=7)
            result.marks[f"phase {name} {j}"] = a


# --- TKLQT and step time vs batch (sweep folders, one per machine) ---------------------------------

# The figures a sweep's plot reads: pass time (first of these a run has) and TKLQT, per run; the transition.
_SWEEP_SERIES = Registry.of((launch_metrics.step_time_s, launch_metrics.pass_latency_s, launch_metrics.tklqt_s,
                             phases.phase_time_s, bound_metrics.transition_batch))


def sweep_series(path: str | os.PathLike, param: str = "batch") -> tuple[pd.DataFrame, float | None]:
    """Per swept value: pass time (s) and TKLQT (s, NaN without launches); plus the sweep's transition
    batch (None if not found). Pass time, the first the run has: ``pass_latency_s`` (launches),
    ``step_time_s`` (pass annotations; phase ``pass`` if there are several), ``phase_time_s`` of
    the phase marked ``pass`` (lowprof.mark); column ``step_metric`` names the one used."""
    rows = []
    for m in expand(path):
        if param not in m.params:
            continue
        met = _SWEEP_SERIES.run_metrics(m.run)
        val = dict(zip(met["metric"], met["value"]))
        step = val.get("pass_latency_s")
        used = "pass_latency_s" if step is not None else None
        for name in ("step_time_s", "phase_time_s"):
            st = met[met["metric"] == name]
            st = st[[p.get("phase") == "pass" for p in st["params"]]] if (len(st) > 1 or name == "phase_time_s") else st
            if step is None and len(st):
                step, used = float(st["value"].iloc[0]), name
        rows.append({param: float(m.params[param]), "step_time_s": step, "tklqt_s": val.get("tklqt_s", np.nan),
                     "step_metric": used})
    df = pd.DataFrame(rows, columns=[param, "step_time_s", "tklqt_s", "step_metric"]).sort_values(param).reset_index(drop=True)
    sm = _SWEEP_SERIES.sweep_metrics(path)
    return df, (float(sm["value"].iloc[0]) if len(sm) else None)


def plot_sweep(sweeps: dict[str, str | os.PathLike], out_dir: str | os.PathLike, param: str = "batch",
               name: str = "sweep_step_tklqt") -> Figure:
    """Step time and TKLQT vs ``param`` (log2 axes), one series per machine; transitions marked."""
    data = {label: sweep_series(p, param) for label, p in sweeps.items()}
    has_tklqt = any(df["tklqt_s"].notna().any() for df, _ in data.values())
    fig, axes = _new(1, 2 if has_tklqt else 1, size=(7.5 if has_tklqt else 4.5, 3.4))
    result = Figure(name, [], figure=fig)
    used = sorted({u for df, _ in data.values() for u in df["step_metric"].dropna()})
    panels = [("step_time_s", f"pass time: {' / '.join(used) or 'step_time_s'} (ms)", axes[0, 0])]
    if has_tklqt:
        panels.append(("tklqt_s", "TKLQT per pass: tklqt_s (ms)", axes[0, 1]))
    else:
        result.notes.append("no launches table in any run: TKLQT not plotted")
    for i, (label, (df, trans)) in enumerate(data.items()):
        for col, ylabel, ax in panels:
            d = df.dropna(subset=[col])
            if not len(d):
                continue
            ax.plot(d[param], d[col] * 1e3, label=label, **style(i))
            result.series[f"{label}:{col}"] = d[[param, col]].reset_index(drop=True)
            if trans is not None and col == panels[-1][0]:
                ax.axvline(trans, color=style(i)["color"], linestyle=style(i)["linestyle"], linewidth=0.9)
                y = np.interp(np.log2(trans), np.log2(d[param]), d[col] * 1e3)
                ax.plot([trans], [y], marker="*", markersize=11, color=style(i)["color"], linestyle="none",
                        markeredgecolor="black")
                ax.annotate(f"transition {trans:g}", (trans, y), textcoords="offset points", xytext=(4, -12), fontsize=7)
                result.marks[label] = trans
    for col, ylabel, ax in panels:
        log2_axis(ax)
        ax.set_yscale("log")
        plain_log_axis(ax)
        ax.set_xlabel(param)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7, frameon=False)
    result.paths = _save(fig, Path(out_dir), name)
    return result


def _bytes_label(v: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} B"


# --- TLB latency curve -----------------------------------------------------------------------------

def plot_tlb(runs: dict[str, Run], out_dir: str | os.PathLike, name: str = "tlb_latency") -> Figure:
    """Address-translation cost per load vs working set, per run and page size: ``extra_ns`` =
    ``ns_per_access - cache_only_ns``, the chase time minus the same number of lines packed densely (the
    cache-only baseline ``lowprof bench tlb`` measures beside it), not the total chase time. Symmetric-log y
    (noise around 0 ns stays visible). The detected L1 dTLB and STLB reach marked with vertical lines."""
    fig, axes = _new(size=(6.0, 3.6))
    ax = axes[0, 0]
    result = Figure(name, [], figure=fig)
    i = 0
    for label, run in runs.items():
        if "tlb" not in run.tables:
            raise LowprofError(f"{run.path}: no tlb table (record one with `lowprof bench tlb`)")
        t = run["tlb"]
        sweeps = run.section("tlb").sweeps
        for page, g in t.groupby("page_size_bytes"):
            g = g.sort_values("working_set_bytes")
            key = f"{label} {int(page) // 1024} KiB" if page < (1 << 20) else f"{label} {int(page) >> 20} MiB"
            extra = g["ns_per_access"] - g["cache_only_ns"]
            ax.plot(g["working_set_bytes"], extra, label=key, **style(i))
            result.series[key] = g[["working_set_bytes", "ns_per_access", "cache_only_ns"]].assign(
                extra_ns=extra).reset_index(drop=True)
            for level in ("l1_dtlb", "l2_stlb"):
                lv = getattr(sweeps.entry(str(int(page))), level)
                if lv:
                    ax.axvline(lv.bytes, color=style(i)["color"], linestyle=style(i)["linestyle"], linewidth=0.8)
                    label = level.replace("_", " ").upper().replace("L2 STLB", "STLB")
                    label += " (uncertain)" if lv.status == "uncertain" else ""
                    ax.annotate(label, (lv.bytes, 1),
                                xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right", fontsize=6)
                    result.marks[f"{key} {level}"] = float(lv.bytes)
            i += 1
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: _bytes_label(v)))
    ax.set_yscale("symlog", linthresh=1.0)
    plain_log_axis(ax)
    lowest = min((float(v["extra_ns"].min()) for v in result.series.values()), default=0.0)
    ax.set_ylim(bottom=min(0.0, lowest * 1.2))  # no empty negative decade unless translation went below 0
    ax.set_xlabel("working set mapped: working_set_bytes (one 64 B line per page)")
    ax.set_ylabel("address translation per load:\nextra_ns = chase - cache-only (ns)")
    ax.legend(fontsize=7, frameon=False)
    result.paths = _save(fig, Path(out_dir), name)
    return result


# --- power over time with the limit ---------------------------------------------------------------

def plot_power(runs: dict[str, Run], out_dir: str | os.PathLike, name: str = "power_timeline",
               signal: str = "auto") -> Figure:
    """Power (W) of every device over the run clock (s), one series per run and device; each device's
    enforced limit as a thin horizontal line in the series' style (marked as ``<series> limit``); for
    the runs' marked phases shaded and named (:func:`shade_phases`; marked as ``phase <name> <i>``, s).
    ``signal``: the GPU power signal drawn (``auto``: instantaneous where recorded, else the driver's
    average; ``instant``; ``average``), named in each series' legend label."""
    from lowprof.analysis.power import power_traces

    fig, axes = _new(size=(6.5, 3.6))
    ax = axes[0, 0]
    result = Figure(name, [], figure=fig)
    i = 0
    for label, run in runs.items():
        df = power_traces(run, signal)
        if not len(df):
            result.notes.append(f"{label}: no power readings")
            continue
        for dev, d in df.groupby("device", sort=True):
            d = d.dropna(subset=["power_w"])
            if not len(d):
                continue
            key = f"{label} {dev}"
            sig = str(d["signal"].iloc[0])
            st = style(i) | {"markevery": max(1, len(d) // 12)}
            ax.plot(d["t_ns"] / 1e9, d["power_w"], label=f"{key} ({sig})", **st)
            result.series[key] = pd.DataFrame({"t_s": d["t_ns"].to_numpy() / 1e9, "power_w": d["power_w"].to_numpy()})
            lim = d["limit_w"].dropna()
            if len(lim):
                ax.axhline(float(lim.median()), color=st["color"], linestyle=st["linestyle"], linewidth=0.8)
                if float(lim.median()) not in result.marks.values():  # one label per distinct limit
                    ax.annotate(f"limit {float(lim.median()):g} W", (0.01, float(lim.median())),
                                xycoords=("axes fraction", "data"), va="bottom", fontsize=7)
                result.marks[f"{key} limit"] = float(lim.median())
            i += 1
    if not result.series:
        plt.close(fig)
        raise LowprofError(f"{list(runs)}: no power readings to plot (gpu_power, rapl or hwmon_power)")
    shade_phases([ax], runs, result)
    ax.set_xlabel("run clock (s)")
    ax.set_ylabel("power (W), signal in each label")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, frameon=False, ncols=2)
    result.paths = _save(fig, Path(out_dir), name)
    return result


# --- microbenchmark figures against published references ------------------------------------------

def plot_microbench(runs: dict[str, Run], out_dir: str | os.PathLike, name: str = "microbench") -> Figure:
    """Horizontal bars of every ``bench_results`` figure per run (one panel per unit, grouped bars per
    run; the median over repeats, error bars from p5 to p95 where recorded), with the published
    reference as a black diamond where ``references.json`` has one."""
    frames = []
    for label, run in runs.items():
        if "bench_results" not in run.tables or not len(run["bench_results"]):
            continue
        b = run["bench_results"]
        frames.append(pd.DataFrame({"run": label, "figure": b["benchmark"] + ": " + b["metric"], "unit": b["unit"],
                                    "value": b["value"], "p5": b["p5"], "p95": b["p95"],
                                    "reference": b["reference_value"],
                                    "reference_source": b["reference_source"]}))
    if not frames:
        raise LowprofError(f"{list(runs)}: no bench_results table (record one with `lowprof bench gpu` or `host`)")
    df = pd.concat(frames, ignore_index=True)
    df = df.drop_duplicates(["run", "figure", "unit"], keep="first")
    units = list(dict.fromkeys(df["unit"]))
    labels = list(runs)
    heights = [df[df.unit == u]["figure"].nunique() for u in units]
    fig, axes = _new(len(units), 1, size=(6.5, max(2.4, 0.9 + sum(0.3 * max(1, h) * max(1, len(labels)) for h in heights))))
    result = Figure(name, [], figure=fig)
    h = 0.8 / max(1, len(labels))
    for ax, unit in zip(axes[:, 0], units):
        d = df[df.unit == unit]
        figures = list(dict.fromkeys(d["figure"]))
        y = np.arange(len(figures))
        for i, label in enumerate(labels):
            dl = d[d.run == label].set_index("figure").reindex(figures)
            st = style(i)
            v = dl["value"].to_numpy(float)
            lo, hi = dl["p5"].to_numpy(float), dl["p95"].to_numpy(float)
            has = np.isfinite(lo) & np.isfinite(hi)
            xerr = np.vstack([np.where(has, np.maximum(v - lo, 0), np.nan),
                              np.where(has, np.maximum(hi - v, 0), np.nan)]) if has.any() else None
            ax.barh(y + i * h, v, height=h, color=st["color"], edgecolor="black", linewidth=0.6,
                    hatch=("", "///", "...", "xx", "\\\\", "++", "--")[i % 7], label=label, xerr=xerr,
                    error_kw={"ecolor": "black", "elinewidth": 0.8, "capsize": 2})
            ref = dl["reference"].to_numpy(float)
            if np.isfinite(ref).any():
                ax.plot(ref, y + i * h, linestyle="none", marker="D", color="black", markersize=5,
                        label="reference" if i == 0 else None)
            result.series[f"{label} [{unit}]"] = dl.reset_index()[["figure", "value", "reference"]]
        vals = np.concatenate([d["value"].to_numpy(float), d["reference"].to_numpy(float)])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if len(vals) and vals.max() / vals.min() > 20:  # figures of one unit spanning decades
            ax.set_xscale("log")
            plain_log_axis(ax, "x")
        for bar_group in ax.containers:
            if isinstance(bar_group, matplotlib.container.BarContainer):
                ax.bar_label(bar_group, fmt="%.3g", fontsize=6, padding=2)
        ax.set_yticks(y + h * (len(labels) - 1) / 2, figures, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"{unit}: median over repeats" + (", bars p5-p95" if d[["p5", "p95"]].notna().all(axis=1).any() else ""))
        ax.legend(fontsize=7, frameon=False)
    result.paths = _save(fig, Path(out_dir), name)
    return result


# --- host CPU and workload memory over time (system table) -----------------------------------------

def plot_system(runs: dict[str, Run], out_dir: str | os.PathLike, name: str = "system_timeline") -> Figure:
    """Host CPU busy (%) and the workload's resident memory (MiB = 2^20 B) over the run clock (s); marked
    phases shaded (:func:`shade_phases`)."""
    fig, axes = _new(2, 1, size=(6.0, 4.2))
    result = Figure(name, [], figure=fig)
    for i, (label, run) in enumerate(runs.items()):
        if "system" not in run.tables or not len(run["system"]):
            result.notes.append(f"{label}: no system samples")
            continue
        s = run["system"]
        t = s["t_ns"] / 1e9
        st = style(i) | {"markevery": max(1, len(s) // 12)}
        axes[0, 0].plot(t, s["cpu_percent"], label=label, **st)
        axes[1, 0].plot(t, s["proc_rss_bytes"] / 2**20, label=label, **st)
        result.series[label] = pd.DataFrame({"t_s": t, "cpu_percent": s["cpu_percent"],
                                             "rss_mib": s["proc_rss_bytes"] / 2**20})
    shade_phases(axes[:, 0], {k: r for k, r in runs.items() if k in result.series}, result)
    axes[0, 0].set_ylabel("host CPU busy:\ncpu_percent (%)")
    axes[0, 0].set_ylim(0, 105)
    axes[1, 0].set_ylabel("workload RSS:\nproc_rss_bytes (MiB)")
    axes[1, 0].set_xlabel("run clock (s)")
    axes[0, 0].legend(fontsize=7, frameon=False)
    result.paths = _save(fig, Path(out_dir), name)
    return result


# --- per-rank runs of one job ----------------------------------------------------------------------

_RANKS = Registry.of((launch_metrics.pass_latency_s, launch_metrics.step_time_s, phases.phase_time_s,
                      launch_metrics.tklqt_s, summary_metrics.duration_s))
RANK_METRICS = tuple(_RANKS.run)  # ("pass_latency_s", "step_time_s", "phase_time_s", "tklqt_s", "duration_s")


def plot_ranks(jobs: dict[str, str | os.PathLike], out_dir: str | os.PathLike, name: str = "ranks") -> Figure:
    """Pass time per rank for each folder of per-rank runs (bars), its median dashed: the slowest rank
    paces a synchronous job. Pass time is the first of :data:`RANK_METRICS` every rank has (for a
    per-phase metric, its first phase); marked as ``<job> median`` (s)."""
    fig, axes = _new(size=(6.0, 3.4))
    ax = axes[0, 0]
    result = Figure(name, [], figure=fig)
    width = 0.8 / max(1, len(jobs))
    chosen_all = []
    for i, (label, path) in enumerate(jobs.items()):
        members = sorted(expand(path), key=lambda m: (m.rank is None, m.rank if m.rank is not None else 0, m.label))
        per = [_RANKS.run_metrics(m.run) for m in members]
        chosen = next((n for n in RANK_METRICS if all((df["metric"] == n).any() for df in per)), None)
        if chosen is None:
            result.notes.append(f"{label}: no pass time every rank has")
            continue
        values = [float(df[df["metric"] == chosen]["value"].iloc[0]) for df in per]
        chosen_all.append(chosen)
        ranks = [m.rank if m.rank is not None else j for j, m in enumerate(members)]
        st = style(i + 1)
        x = np.arange(len(ranks)) + i * width
        bars = ax.bar(x, np.array(values) * 1e3, width=width, color=st["color"], edgecolor="black", linewidth=0.6,
                      hatch=("", "///", "...", "xx")[i % 4], label=f"{label}: {chosen}")
        ax.bar_label(bars, fmt="%.4g", fontsize=7, padding=2)
        med = float(np.median(values))
        ax.axhline(med * 1e3, color=st["color"], linestyle="--", linewidth=0.9)
        result.series[label] = pd.DataFrame({"rank": ranks, chosen: values})
        result.marks[f"{label} median"] = med
        ax.set_xticks(np.arange(len(ranks)) + width * (len(jobs) - 1) / 2, [str(r) for r in ranks])
    if not result.series:
        plt.close(fig)
        raise LowprofError(f"{list(jobs)}: no per-rank pass time to plot")
    ax.set_xlabel("rank")
    ax.set_ylabel(f"pass time: {' / '.join(dict.fromkeys(chosen_all))} (ms)")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.12)
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, 1.16), ncols=2)
    result.paths = _save(fig, Path(out_dir), name)
    return result


# --- comparison: ratio B/A per metric --------------------------------------------------------------

def plot_ratios(table: pd.DataFrame, out_dir: str | os.PathLike, letters: list[str] | None = None,
                name: str = "compare_ratios", sides: dict[str, str] | None = None) -> Figure:
    """Horizontal bars of B/A (log scale) per metric of a comparison table; hatched where B is worse.
    ``sides``: letter -> what that side is (run name, machine), written in the legend and the title."""
    sides = sides or {}
    named = {x: f"{x}: {sides[x]}" if x in sides else x for x in ["A", *(letters or [])]}
    letters = letters or [c[:-2] for c in table.columns if c.endswith("/A")]
    rows = table.dropna(subset=[f"{x}/A" for x in letters])
    rows = rows[np.isfinite(rows[[f"{x}/A" for x in letters]]).all(axis=1) & (rows[[f"{x}/A" for x in letters]] > 0).all(axis=1)]
    labels = [f"{m} {p}".strip() for m, p in zip(rows["metric"], rows["params"])]
    fig, axes = _new(size=(6.0, 0.8 + 0.28 * max(1, len(rows)) * len(letters)))
    ax = axes[0, 0]
    result = Figure(name, [], figure=fig)
    h = 0.8 / max(1, len(letters))
    y = np.arange(len(rows))
    for i, x in enumerate(letters):
        ratio = rows[f"{x}/A"].to_numpy(float)
        worse = (rows[f"better_{x}"] == "A").to_numpy()
        bars = ax.barh(y + i * h, ratio - 1, height=h, left=1, color=style(i + 1)["color"], edgecolor="black",
                       linewidth=0.6)
        named.setdefault(x, f"{x}: {sides[x]}" if x in sides else x)
        ax.barh([np.nan], [0], color=style(i + 1)["color"], edgecolor="black", linewidth=0.6,
                label=f"{named[x]}  /  {named['A']}")
        for b, w, r in zip(bars, worse, ratio):
            if w:
                b.set_hatch("///")
            ax.annotate(f"{r:.3g}x", (r, b.get_y() + b.get_height() / 2), xytext=(3 if r >= 1 else -3, 0),
                        textcoords="offset points", va="center", ha="left" if r >= 1 else "right", fontsize=7)
        result.series[f"{x}/A"] = pd.DataFrame({"metric": labels, "ratio": ratio, "worse": worse})
    ax.axvline(1.0, color="black", linewidth=0.9)
    ax.set_xscale("log")
    every = np.concatenate([s["ratio"].to_numpy(float) for s in result.series.values()] or [np.ones(1)])
    ax.set_xlim(min(every.min(), 0.95) / 1.12, max(every.max(), 1.05) * 1.12)  # room for the value labels
    fmt = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x")
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_formatter(fmt)
    ax.set_yticks(y + h * (len(letters) - 1) / 2, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ratio to A (log scale); hatched: worse than A")
    if sides:
        ax.set_title("  vs  ".join(named[x] for x in ["A", *letters]), fontsize=8, loc="left")
    ax.legend(fontsize=7, frameon=False)
    result.paths = _save(fig, Path(out_dir), name)
    return result

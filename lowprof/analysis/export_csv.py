"""Tidy CSV export: one file per table with SI units in column names, the manifest flattened, and the
long-format metrics of many runs (one observation per row) for papers.

``metrics.csv`` columns (stable): ``run`` (label: the directory name, ``SWEEP/DIR`` for a sweep's runs,
``FOLDER/DIR`` for per-rank runs), ``machine`` (from the manifest: hostname, CPU model, GPUs),
``metric`` (name from :mod:`lowprof.metrics`), ``value`` (float, in ``unit``), ``unit``,
``better`` (``higher``, ``lower`` or empty); then one column per parameter, sorted by name: swept
parameters (``batch``), ``rank`` for per-rank runs, and a metric's own (``phase``, ``page_size_bytes``);
empty where a parameter does not apply.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lowprof.analysis.metrics import Registry
from lowprof.rundir import Run

__all__ = ["to_si", "flatten", "export_csv", "tidy_metrics", "METRIC_COLUMNS", "latex_table"]

METRIC_COLUMNS = ["run", "machine", "metric", "value", "unit", "better"]


def to_si(df: pd.DataFrame) -> pd.DataFrame:
    """Rename ``*_ns`` integer columns to ``*_s`` in seconds (float); other columns already carry SI units."""
    out = df.copy()
    for c in list(out.columns):
        if c.endswith("_ns"):
            out[c[:-3] + "_s"] = out.pop(c) / 1e9
    return out[[c[:-3] + "_s" if c.endswith("_ns") else c for c in df.columns]]


def flatten(obj, prefix: str = "") -> dict[str, str]:
    """Nested dict/list -> ``{"host.caches.0.size_bytes": "32768", ...}`` (values as JSON scalars)."""
    out: dict[str, str] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out |= flatten(v, f"{prefix}{k}.")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out |= flatten(v, f"{prefix}{i}.")
    else:
        out[prefix[:-1]] = obj if isinstance(obj, str) else json.dumps(obj)
    return out


def _sig4(v: float) -> str:
    """4 significant figures, positional (a paper table: ``426200000``, never ``4.262e+08``)."""
    import numpy as np

    return np.format_float_positional(float(v), precision=4, unique=False, fractional=False, trim="-")


def export_csv(run: Run, out_dir: Path) -> list[Path]:
    """Write ``<table>.csv`` for every table and ``manifest.csv`` (key,value). Returns the files written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in run.tables:
        p = out_dir / f"{name}.csv"
        to_si(run[name]).to_csv(p, index=False)
        written.append(p)
    p = out_dir / "manifest.csv"
    pd.DataFrame(sorted(flatten(run.manifest).items()), columns=["key", "value"]).to_csv(p, index=False)
    written.append(p)
    return written


def tidy_metrics(paths: list, signal: str = "auto", *, metrics: Registry) -> pd.DataFrame:
    """Long-format rows of ``metrics`` (a registry: lowprof's own is :func:`lowprof.metrics.registry`) of every
    run the paths stand for (runs, sweeps, rank folders): see the module doc. ``signal``: the GPU power
    signal of the power metrics (auto, instant, average), in the ``signal`` column."""
    from lowprof.analysis.compare import machine_name
    from lowprof.rundir.many import expand

    rows = []
    for path in paths:
        members = expand(path)
        ranks = len(members) > 1 and not (Path(path) / "sweep.json").is_file()
        for m in members:
            base = {"run": m.label, "machine": machine_name(m.run)}
            extra = dict(m.params) | ({"rank": m.rank} if ranks and m.rank is not None else {})
            for r in metrics.run_metrics(m.run, signal=signal).to_dict(orient="records"):
                rows.append(base | {k: r[k] for k in ("metric", "value", "unit", "better")} | extra | r["params"])
        if (Path(path) / "sweep.json").is_file():
            machines = sorted({machine_name(m.run) for m in members})
            for r in metrics.sweep_metrics(path).to_dict(orient="records"):
                rows.append({"run": Path(path).name, "machine": " / ".join(machines)}
                            | {k: r[k] for k in ("metric", "value", "unit", "better")} | r["params"])
    df = pd.DataFrame(rows)
    params = sorted(c for c in df.columns if c not in METRIC_COLUMNS)
    for c in params:  # whole numbers stay integers (rank, page_size_bytes), the rest as given
        v = pd.to_numeric(df[c], errors="coerce")
        if v.notna().sum() == df[c].notna().sum() and (v.dropna() % 1 == 0).all():
            df[c] = v.astype("Int64")
    return df.reindex(columns=METRIC_COLUMNS + params)


def latex_table(metrics: pd.DataFrame, caption: str | None = None) -> str:
    """A booktabs LaTeX table: one row per (metric, parameters), one column per run, values in SI units.

    Parameters constant within each run (a sweep point's batch, a rank) name the run's column, not a row."""
    df = metrics.copy()
    # A parameter that names the run (batch of a sweep point, rank) is in the column header already.
    params = [c for c in df.columns if c not in METRIC_COLUMNS
              and not (df.groupby("run", observed=True)[c].nunique(dropna=False) <= 1).all()]
    df["parameters"] = [", ".join(f"{k}={v}" for k, v in zip(params, row) if pd.notna(v) and v != "")
                        for row in df[params].itertuples(index=False, name=None)] if params else ""
    wide = df.pivot_table(index=["metric", "parameters", "unit"], columns="run", values="value",
                          aggfunc="first", sort=False)
    wide = wide.reset_index()
    wide.columns.name = None
    runs = [c for c in wide.columns if c not in ("metric", "parameters", "unit")]
    styler = wide.style.hide(axis="index").format(_sig4, subset=runs, na_rep="--").format(escape="latex",
                                                                                           subset=["metric", "parameters", "unit"])
    styler = styler.format_index(escape="latex", axis=1)
    return styler.to_latex(hrules=True, caption=caption, column_format="lll" + "r" * len(runs))

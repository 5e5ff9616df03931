"""Tidy CSV export of a run: one file per table with SI units in column names, plus the manifest flattened."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lowprof.rundir import Run

__all__ = ["to_si", "flatten", "export_csv"]


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

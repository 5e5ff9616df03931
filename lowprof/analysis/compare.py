"""Compare runs side by side: every metric both have, A and B, ratio B/A and which is better.

A side is one path: a run directory, a sweep folder (its runs matched by their swept parameters, plus
the sweep's own metrics such as the transition batch) or a folder of per-rank run directories (matched
by rank, plus the median and the maximum over ranks). Rows are matched on (metric, parameters).
Machines are named from the manifests.

Two sides must run the same workload: the same command (the executable compared by file name, the
values of ``--out``/``-o`` ignored; for ``lowprof bench`` runs, the suite and its settings) and the
same swept parameter values. Otherwise
:class:`WorkloadMismatch` names the first differences; ``force=True`` compares anyway and keeps them
in ``Comparison.differences``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lowprof.analysis.metrics import METRICS, SWEEP_METRICS, better_of, params_key, run_metrics, sweep_metrics
from lowprof.errors import LowprofError
from lowprof.rundir import Run
from lowprof.rundir.many import Member, expand

__all__ = ["Side", "Comparison", "WorkloadMismatch", "machine_name", "workload_of", "workload_differences",
           "load_side", "compare"]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_OUT_FLAGS = ("--out", "-o")


def _natural(text: str) -> list:
    """Sort key that orders ``batch=8`` before ``batch=16``."""
    return [(0, float(t), "") if t.replace(".", "", 1).isdigit() else (1, 0.0, t) for t in re.split(r"([\d.]+)", text)]


class WorkloadMismatch(LowprofError):
    """The runs compared ran different commands or parameters (``--force`` compares anyway)."""


def machine_name(run: Run) -> str:
    """``"hostname (CPU model; 2x NVIDIA H100 PCIe)"`` from the manifest (imported traces: their GPUs)."""
    m = run.manifest
    host = m.get("host") or {}
    name = host.get("hostname") or (m.get("recorder") or {}).get("hostname") or "?"
    gpus = [d.get("name") for d in (m.get("gpus") or {}).get("devices", []) if d.get("name")]
    if not gpus:  # an imported trace names its devices in deviceProperties
        gpus = [d.get("name") for d in ((m.get("trace") or {}).get("device_properties") or []) if isinstance(d, dict)
                and d.get("name")]
    parts = [host.get("cpu_model")] if host.get("cpu_model") else []
    if gpus:
        parts.append(", ".join(f"{gpus.count(g)}x {g}" for g in dict.fromkeys(gpus)))
    if m.get("kind") == "import":
        name = f"trace {Path(str((m.get('trace') or {}).get('trace', run.path))).name}"
    return f"{name} ({'; '.join(parts)})" if parts else name


def _normalise(argv: list[str] | None) -> list[str] | None:
    if not argv:
        return None
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a in _OUT_FLAGS:
            out.append(a)
            skip = True
            continue
        if any(a.startswith(f + "=") for f in _OUT_FLAGS):
            out.append(a.split("=", 1)[0])
            continue
        out.append(Path(a).name if i == 0 else a)
    return out


_QUIET_FLAGS = ("--force", "-q", "--quiet", "--json")


def _bench_argv(manifest: dict) -> list[str]:
    """A benchmark's settings: ``lowprof bench SUITE ...`` as it was called, without the output and
    display flags (``--out``, ``--force``, ``--quiet``, ``--json``)."""
    argv = list(manifest.get("lowprof_argv") or [])[1:]
    argv = _normalise(["lowprof", *argv]) or []
    return [a for a in argv[1:] if a not in _QUIET_FLAGS and a not in _OUT_FLAGS]


def workload_of(members: list[Member], sweep_doc: dict | None = None) -> dict:
    """What ran: ``{"command": [...] or None, "params": {name: [values]}}`` (None: not recorded)."""
    if sweep_doc is not None:
        command = _normalise(sweep_doc.get("command"))
    else:
        cmds = {json.dumps(_normalise(m.run.manifest.get("command"))) for m in members
                if m.run.manifest.get("kind") not in ("import", "bench")}
        command = json.loads(cmds.pop()) if len(cmds) == 1 else (sorted(cmds) if cmds else None)
        benches = {json.dumps(_bench_argv(m.run.manifest)) for m in members if m.run.manifest.get("kind") == "bench"}
        if command is None and benches:
            command = json.loads(benches.pop()) if len(benches) == 1 else sorted(benches)
    params: dict[str, list[str]] = {}
    for m in members:
        for k, v in m.params.items():
            params.setdefault(k, [])
            if str(v) not in params[k]:
                params[k].append(str(v))
    return {"command": command, "params": {k: sorted(v) for k, v in params.items()}}


def workload_differences(a: dict, b: dict) -> list[str]:
    """Human-readable differences between two :func:`workload_of` results (empty: same workload)."""
    out = []
    ca, cb = a["command"], b["command"]
    if ca is not None and cb is not None and ca != cb:
        if isinstance(ca, list) and isinstance(cb, list) and all(isinstance(x, str) for x in ca + cb):
            import difflib

            for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=ca, b=cb, autojunk=False).get_opcodes():
                x, y = " ".join(ca[i1:i2]), " ".join(cb[j1:j2])
                if op == "replace":
                    out.append(f"command argument {i1}: {x!r} vs {y!r}")
                elif op == "insert":
                    out.append(f"command: B adds {y!r} after argument {i1 - 1}")
                elif op == "delete":
                    out.append(f"command: A has {x!r} (arguments {i1}-{i2 - 1}) that B lacks")
        else:
            out.append(f"command: {ca!r} vs {cb!r}")
    for k in sorted(set(a["params"]) | set(b["params"])):
        if a["params"].get(k) != b["params"].get(k):
            out.append(f"parameter {k}: {a['params'].get(k)} vs {b['params'].get(k)}")
    return out


@dataclass
class Side:
    """One compared path: its letter, machine name, workload and metric rows."""

    letter: str
    path: Path
    machine: str
    kind: str  # run, sweep, ranks
    workload: dict
    metrics: pd.DataFrame = field(repr=False)
    unreadable: list[str] = field(default_factory=list)  # "member: table T (why)" left out of the metrics


def load_side(path: str | os.PathLike, letter: str = "A", names: list[str] | None = None,
              signal: str = "auto") -> Side:
    """Expand a path and compute its metric rows (a sweep's runs carry their parameters; ranks their rank);
    ``signal``: the GPU power signal of the power metrics (lowprof.analysis.power)."""
    p = Path(path)
    members = expand(p)
    sweep_doc = json.loads((p / "sweep.json").read_text()) if (p / "sweep.json").is_file() else None
    kind = "sweep" if sweep_doc is not None else ("ranks" if len(members) > 1 else "run")
    frames = []
    for m in members:
        df = run_metrics(m.run, names, signal=signal)
        extra = dict(m.params)
        if kind == "ranks":
            extra["rank"] = m.rank if m.rank is not None else m.label
        df["params"] = [{**extra, **p_} for p_ in df["params"]]
        frames.append(df)
    if sweep_doc is not None:
        frames.append(sweep_metrics(p, names))
    df = pd.concat(frames, ignore_index=True) if frames else run_metrics(members[0].run, [])
    if kind == "ranks":
        df = pd.concat([df, _over_ranks(df)], ignore_index=True)
    machines = list(dict.fromkeys(machine_name(m.run) for m in members))
    unreadable = [f"{m.label}: table {name} unreadable ({why})" for m in members for name, why in m.run.unreadable.items()]
    return Side(letter, p, " / ".join(machines), kind, workload_of(members, sweep_doc), df, unreadable)


def _over_ranks(df: pd.DataFrame) -> pd.DataFrame:
    """Per metric (and its other parameters): the median and the maximum over ranks (``rank=median``,
    ``rank=max``; for a time the maximum is the slowest rank, which sets the pace of a synchronous job)."""
    rows = []
    base = [{k: v for k, v in p.items() if k != "rank"} for p in df["params"]]
    keyed = df.assign(_key=[params_key(b) for b in base], _base=base)
    for (name, _), g in keyed.groupby(["metric", "_key"], sort=False):
        if len(g) < 2:
            continue
        first = g.iloc[0]
        for how, value in (("median", g["value"].median()), ("max", g["value"].max())):
            rows.append({"metric": name, "value": float(value), "unit": first["unit"], "better": first["better"],
                         "params": {**first["_base"], "rank": how}})
    return pd.DataFrame(rows, columns=df.columns)


@dataclass
class Comparison:
    """The compared sides and one row per (metric, parameters) that every side has."""

    sides: list[Side]
    table: pd.DataFrame
    differences: dict[str, list[str]]
    notices: list[str] = field(default_factory=list)  # what is left out, and why: one line each

    def to_json(self) -> dict:
        return {"sides": [{"letter": s.letter, "path": str(s.path), "machine": s.machine, "kind": s.kind,
                           "workload": s.workload} for s in self.sides],
                "differences": self.differences,
                "notices": self.notices,
                "rows": json.loads(self.table.to_json(orient="records"))}


def compare(paths: list[str | os.PathLike], force: bool = False, names: list[str] | None = None,
            signal: str = "auto") -> Comparison:
    """Compare the first path (A) with each other (B, C, ...); see the module docstring. ``signal``: the GPU
    power signal of the power metrics (``auto``, ``instant``, ``average``), named per row (``signal=...``)."""
    if len(paths) < 2:
        raise LowprofError(f"compare needs at least two runs, got {len(paths)}")
    if len(paths) > len(LETTERS):
        raise LowprofError(f"compare takes at most {len(LETTERS)} runs, got {len(paths)}")
    unknown = [n for n in (names or []) if n not in METRICS and n not in SWEEP_METRICS]
    if unknown:
        raise LowprofError(f"unknown metric {unknown[0]!r}; known: {', '.join([*METRICS, *SWEEP_METRICS])}")
    sides = [load_side(p, LETTERS[i], names, signal) for i, p in enumerate(paths)]
    diffs = {}
    for s in sides[1:]:
        d = workload_differences(sides[0].workload, s.workload)
        if d:
            diffs[s.letter] = d
    if diffs and not force:
        letter, d = next(iter(diffs.items()))
        raise WorkloadMismatch(f"{sides[0].path} and {sides[LETTERS.index(letter)].path} ran different workloads: "
                               f"{'; '.join(d[:4])}{' ...' if len(d) > 4 else ''} (use --force to compare anyway)")
    keyed = []
    for s in sides:
        df = s.metrics.copy()
        df["params_key"] = [params_key(p) for p in df["params"]]
        df = df.drop_duplicates(["metric", "params_key"], keep="first")
        keyed.append(df.set_index(["metric", "params_key"]))
    common = keyed[0].index
    for k in keyed[1:]:
        common = common.intersection(k.index, sort=False)
    order = {n: i for i, n in enumerate([*METRICS, *SWEEP_METRICS])}
    rows = []
    for metric_name, pk in common:
        first = keyed[0].loc[(metric_name, pk)]
        row = {"metric": metric_name, "params": pk, "unit": first["unit"], "better": first["better"]}
        a = float(first["value"])
        row["A"] = a
        for s, k in zip(sides[1:], keyed[1:]):
            b = float(k.loc[(metric_name, pk), "value"])
            row[s.letter] = b
            row[f"{s.letter}/A"] = b / a if a else float("nan")
            row[f"better_{s.letter}"] = better_of(first["better"], a, b)
        rows.append(row)
    rows.sort(key=lambda r: (order.get(r["metric"], len(order)), _natural(r["params"])))
    table = pd.DataFrame(rows)
    return Comparison(sides, table, diffs, _notices(sides, names, table))


def _notices(sides: list[Side], names: list[str] | None, table: pd.DataFrame) -> list[str]:
    """Damaged tables left out, and --metrics names some side does not have."""
    out = [f"{s.letter} ({s.path}): {u}; its metrics are left out" for s in sides for u in s.unreadable]
    found = set(table["metric"]) if len(table) else set()
    for n in names or []:
        if n in found:
            continue
        lacking = [f"{s.letter} ({s.path})" for s in sides if n not in set(s.metrics["metric"])]
        out.append(f"--metrics {n}: not found in " + (", ".join(lacking) if lacking else
                                                     "every side with the same parameters"))
    return out

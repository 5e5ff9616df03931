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

A side may also be several paths: repeated runs (or repeated sweeps) of the same workload. Then each row
holds the mean of each side's runs, and for each other side the 95 % Welch t-interval of the difference
of the means and whether the change is significant (:mod:`lowprof.analysis.stats`); a change that is not
significant (or smaller than ``min_change_pct``) is never marked better. One path per side keeps the
one-run table (value, ratio, better).

The metrics compared, and the order of the rows, are a :class:`~lowprof.analysis.metrics.Registry` the
caller gives (lowprof's own: :func:`lowprof.metrics.registry`, the features' metrics and the core ones).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lowprof.analysis.metric import better_of, params_key
from lowprof.analysis.metrics import Registry
from lowprof.errors import LowprofError, WorkloadMismatch
from lowprof.rundir import Run
from lowprof.rundir.many import Member, expand

__all__ = ["Side", "Comparison", "machine_name", "workload_of", "workload_differences",
           "load_side", "compare", "VERDICTS"]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_OUT_FLAGS = ("--out", "-o")


def _natural(text: str) -> list:
    """Sort key that orders ``batch=8`` before ``batch=16``."""
    return [(0, float(t), "") if t.replace(".", "", 1).isdigit() else (1, 0.0, t) for t in re.split(r"([\d.]+)", text)]


def machine_name(run: Run) -> str:
    """``"hostname (CPU model; 2x NVIDIA H100 PCIe)"`` from the manifest (imported traces: their GPUs)."""
    m = run.sections
    host = m.host
    name = host.hostname or m.recorder.hostname or "?"
    gpus = [d.name for d in m.gpus.devices or [] if d.name]
    if not gpus:  # an imported trace names its devices in deviceProperties
        gpus = [d.get("name") for d in m.trace.device_properties or [] if isinstance(d, dict) and d.get("name")]
    parts = [host.cpu_model] if host.cpu_model else []
    if gpus:
        parts.append(", ".join(f"{gpus.count(g)}x {g}" for g in dict.fromkeys(gpus)))
    if m.kind == "import":
        name = f"trace {Path(str(m.trace.trace or run.path)).name}"
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


def _bench_argv(run: Run) -> list[str]:
    """A benchmark's settings: ``lowprof bench SUITE ...`` as it was called, without the output and
    display flags (``--out``, ``--force``, ``--quiet``, ``--json``)."""
    argv = list(run.section("lowprof_argv") or [])[1:]
    argv = _normalise(["lowprof", *argv]) or []
    return [a for a in argv[1:] if a not in _QUIET_FLAGS and a not in _OUT_FLAGS]


def workload_of(members: list[Member], sweep_doc: dict | None = None) -> dict:
    """What ran: ``{"command": [...] or None, "params": {name: [values]}}`` (None: not recorded)."""
    if sweep_doc is not None:
        command = _normalise(sweep_doc.get("command"))
    else:
        cmds = {json.dumps(_normalise(m.run.section("command"))) for m in members
                if m.run.section("kind") not in ("import", "bench")}
        command = json.loads(cmds.pop()) if len(cmds) == 1 else (sorted(cmds) if cmds else None)
        benches = {json.dumps(_bench_argv(m.run)) for m in members if m.run.section("kind") == "bench"}
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
    paths: list[Path] = field(default_factory=list)  # a side of repeated runs: every path (path is the first)


def load_side(path: str | os.PathLike, letter: str = "A", names: list[str] | None = None,
              signal: str = "auto", devices: str | None = None, *, metrics: Registry) -> Side:
    """Expand a path and compute its rows of ``metrics`` (a sweep's runs carry their parameters; ranks their
    rank); ``signal``: the GPU power signal of the power metrics (lowprof.analysis.power); ``devices``: their
    power devices (lowprof.analysis.devices; None: each figure's default)."""
    p = Path(path)
    members = expand(p)
    sweep_doc = json.loads((p / "sweep.json").read_text()) if (p / "sweep.json").is_file() else None
    kind = "sweep" if sweep_doc is not None else ("ranks" if len(members) > 1 else "run")
    frames = []
    for m in members:
        df = metrics.run_metrics(m.run, names, signal=signal, devices=devices)
        extra = dict(m.params)
        if kind == "ranks":
            extra["rank"] = m.rank if m.rank is not None else m.label
        df["params"] = [{**extra, **p_} for p_ in df["params"]]
        frames.append(df)
    if sweep_doc is not None:
        frames.append(metrics.sweep_metrics(p, names))
    df = pd.concat(frames, ignore_index=True) if frames else metrics.run_metrics(members[0].run, [])
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
    method: dict | None = None  # sides of repeated runs: how means, intervals and significance are computed

    def to_json(self) -> dict:
        sides = []
        for s in self.sides:
            d = {"letter": s.letter, "path": str(s.path), "machine": s.machine, "kind": s.kind, "workload": s.workload}
            if self.method is not None:
                d["paths"] = [str(x) for x in s.paths]
            sides.append(d)
        doc = {"sides": sides, "differences": self.differences, "notices": self.notices}
        if self.method is not None:
            doc["method"] = self.method
        return doc | {"rows": json.loads(self.table.to_json(orient="records"))}


def _groups(paths) -> list[list]:
    """Each side as a list of paths (a side given as one path is a list of one)."""
    return [list(p) if isinstance(p, (list, tuple)) else [p] for p in paths]


def compare(paths: list, force: bool = False, names: list[str] | None = None,
            signal: str = "auto", min_change_pct: float | None = None, devices: str | None = None, *,
            metrics: Registry) -> Comparison:
    """Compare the first side (A) with each other (B, C, ...) on ``metrics`` (rows in its order); see the
    module docstring. A side is a path,
    or a list of paths (repeated runs: means, Welch intervals and significance). ``signal``: the GPU power
    signal of the power metrics (``auto``, ``instant``, ``average``), named per row (``signal=...``).
    ``devices``: the power devices of the power and energy metrics (``--devices``, lowprof.analysis.devices:
    the sums per pass and phase take that selection, the per-device rows only its devices; None: the sums
    take auto, the rows every device); a selection a run does not allow raises LowprofError.
    ``min_change_pct``: a change of the mean smaller than this (percent of A's) is not significant (one
    run per side: not marked better)."""
    if min_change_pct is not None and not (min_change_pct >= 0 and math.isfinite(min_change_pct)):
        raise LowprofError(f"--min-change {min_change_pct!r}: expected a percentage >= 0")
    groups = _groups(paths)
    if any(len(g) == 0 for g in groups):
        raise LowprofError("compare: a side between '--' separators holds no run")
    if any(len(g) > 1 for g in groups):
        return _compare_repeats(groups, force, names, signal, min_change_pct, metrics, devices)
    paths = [g[0] for g in groups]
    if len(paths) < 2:
        raise LowprofError(f"compare needs at least two runs, got {len(paths)}")
    if len(paths) > len(LETTERS):
        raise LowprofError(f"compare takes at most {len(LETTERS)} runs, got {len(paths)}")
    metrics.known(names)
    sides = [load_side(p, LETTERS[i], names, signal, devices, metrics=metrics) for i, p in enumerate(paths)]
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
    notes = _measured_differently(sides, keyed, common)
    order = {n: i for i, n in enumerate(metrics.names())}
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
            if min_change_pct is not None:
                small = bool(a) and abs(b / a - 1.0) * 100.0 < min_change_pct
                row[f"below_min_change_{s.letter}"] = small
                if small:
                    row[f"better_{s.letter}"] = ""
        rows.append(row)
    rows.sort(key=lambda r: (order.get(r["metric"], len(order)), _natural(r["params"])))
    table = pd.DataFrame(rows)
    return Comparison(sides, table, diffs, _notices(sides, names, table) + notes)


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


_HOW = ("signal", "from")  # parameters that say how a figure was measured (power signal, energy method)


def _measured_differently(sides: list[Side], keyed: list[pd.DataFrame], common) -> list[str]:
    """One line per (metric, parameters) every side has but measured in different ways (a power signal, an
    energy method): such rows are never paired in one row of the table; the line says what each side used."""
    seen: list[dict] = []
    for s in sides:
        by_base: dict[tuple, str] = {}
        for p in s.metrics.itertuples(index=False):
            how = {k: v for k, v in p.params.items() if k in _HOW}
            if not how or (p.metric, params_key(p.params)) in common:
                continue
            base = params_key({k: v for k, v in p.params.items() if k not in _HOW})
            by_base[(p.metric, base)] = params_key(how)
        seen.append(by_base)
    out = []
    for key in seen[0]:
        if all(key in d for d in seen[1:]) and len({d[key] for d in seen}) > 1:
            used = "; ".join(f"{s.letter}: {d[key]}" for s, d in zip(sides, seen))
            out.append(f"{key[0]} {key[1]}: not compared, measured differently ({used}); "
                       f"--average (or --instant) puts every GPU on one power signal")
    return out


# What the significance columns of a side of repeated runs say (``verdict_X``).
VERDICTS = {
    "significant": "the 95 % interval of the difference excludes 0",
    "not significant": "the 95 % interval of the difference holds 0: within the noise of the runs",
    "below min change": "significant, but the change of the mean is smaller than --min-change",
    "too few runs": "a side has one run of this row: no interval without a spread",
}


def _method(min_change_pct: float | None) -> dict:
    return {"mean": "arithmetic mean over each side's runs (each run's own figure, e.g. its median step)",
            "interval": "95 % Welch t-interval of mean(X) - mean(A), in the metric's unit (ci_low_X, ci_high_X)",
            "test": "two-sided Welch t-test, alpha 0.05: significant when the interval excludes 0",
            "change_pct": "(mean(X) - mean(A)) / |mean(A)| * 100",
            "min_change_pct": min_change_pct, "verdicts": VERDICTS}


def _repeat_side(letter: str, group: list, names, signal, metrics: Registry,
                 devices: str | None = None) -> tuple[Side, list[Side], list[pd.DataFrame]]:
    """The runs of one side: one Side for the whole group, each path's own Side, and each path's rows
    keyed by (metric, params)."""
    runs = [load_side(p, letter, names, signal, devices, metrics=metrics) for p in group]
    keyed = []
    for r in runs:
        df = r.metrics.copy()
        df["params_key"] = [params_key(p) for p in df["params"]]
        keyed.append(df.drop_duplicates(["metric", "params_key"], keep="first").set_index(["metric", "params_key"]))
    kinds = list(dict.fromkeys(r.kind for r in runs))
    side = Side(letter, runs[0].path, " / ".join(dict.fromkeys(r.machine for r in runs)), "/".join(kinds),
                runs[0].workload, pd.concat([r.metrics for r in runs], ignore_index=True),
                [u for r in runs for u in r.unreadable], [r.path for r in runs])
    return side, runs, keyed


def _compare_repeats(groups: list[list], force: bool, names, signal, min_change_pct, metrics: Registry,
                     devices: str | None = None) -> Comparison:
    from lowprof.analysis.stats import welch

    if len(groups) < 2:
        raise LowprofError(f"compare needs at least two sides, got {len(groups)} (separate them with '--')")
    if len(groups) > len(LETTERS):
        raise LowprofError(f"compare takes at most {len(LETTERS)} sides, got {len(groups)}")
    metrics.known(names)
    for i, g in enumerate(groups):
        seen: dict[str, str] = {}
        for path in g:
            real = os.path.realpath(path)
            if real in seen:
                raise LowprofError(f"compare: side {LETTERS[i]} names {seen[real]} twice ({path}); each run counts once")
            seen[real] = str(path)
    loaded = [_repeat_side(LETTERS[i], g, names, signal, metrics, devices) for i, g in enumerate(groups)]
    sides = [s for s, _, _ in loaded]
    ref = loaded[0][1][0]
    diffs = {}
    for s, runs, _ in loaded:
        for j, r in enumerate(runs):
            if r is ref:
                continue
            d = workload_differences(ref.workload, r.workload)
            if d:
                diffs[f"{s.letter}{j + 1}"] = d
    if diffs and not force:
        label, d = next(iter(diffs.items()))
        other = sides[LETTERS.index(label[0])].paths[int(label[1:]) - 1]
        raise WorkloadMismatch(f"{ref.path} and {other} ran different workloads: "
                               f"{'; '.join(d[:4])}{' ...' if len(d) > 4 else ''} (use --force to compare anyway)")
    samples: list[dict] = []  # per side: (metric, params_key) -> [value per run that has it], first row
    for _, _, keyed in loaded:
        by_key: dict = {}
        for k in keyed:
            for key, r in zip(k.index, k.itertuples(index=False)):
                entry = by_key.setdefault(key, [r, []])
                entry[1].append(float(r.value))
        samples.append(by_key)
    common = [key for key in samples[0] if all(key in s for s in samples[1:])]
    notes = _measured_differently(sides, None, set(common))
    order = {n: i for i, n in enumerate(metrics.names())}
    rows = []
    for key in common:
        first, a = samples[0][key]
        row = {"metric": key[0], "params": key[1], "unit": first.unit, "better": first.better,
               "A": math.fsum(a) / len(a), "n_A": len(a), "sd_A": _sd(a)}
        for s, by_key in zip(sides[1:], samples[1:]):
            x, b = s.letter, by_key[key][1]
            mb = math.fsum(b) / len(b)
            row |= {x: mb, f"n_{x}": len(b), f"sd_{x}": _sd(b), f"{x}/A": mb / row["A"] if row["A"] else math.nan,
                    f"change_pct_{x}": (mb - row["A"]) / abs(row["A"]) * 100.0 if row["A"] else math.nan}
            if len(a) < 2 or len(b) < 2:
                row |= {f"ci_low_{x}": math.nan, f"ci_high_{x}": math.nan, f"t_{x}": math.nan, f"df_{x}": math.nan,
                        f"p_{x}": math.nan, f"significant_{x}": None, f"verdict_{x}": "too few runs",
                        f"better_{x}": ""}
                continue
            w = welch(a, b)
            significant, verdict = w.significant, ("significant" if w.significant else "not significant")
            change = row[f"change_pct_{x}"]
            if significant and min_change_pct is not None and not math.isnan(change) and abs(change) < min_change_pct:
                significant, verdict = False, "below min change"
            row |= {f"ci_low_{x}": w.ci_low, f"ci_high_{x}": w.ci_high, f"t_{x}": w.t if math.isfinite(w.t) else math.nan,
                    f"df_{x}": w.df, f"p_{x}": w.p,  # no spread on either side: t and df undefined (null)
                    f"significant_{x}": significant, f"verdict_{x}": verdict,
                    f"better_{x}": better_of(first.better, row["A"], mb) if significant else ""}
        rows.append(row)
    rows.sort(key=lambda r: (order.get(r["metric"], len(order)), _natural(r["params"])))
    table = pd.DataFrame(rows)
    return Comparison(sides, table, diffs, _notices(sides, names, table) + notes, _method(min_change_pct))


def _sd(x: list[float]) -> float:
    """Sample standard deviation (n - 1); NaN for one value."""
    if len(x) < 2:
        return math.nan
    m = math.fsum(x) / len(x)
    return math.sqrt(math.fsum((v - m) ** 2 for v in x) / (len(x) - 1))

"""Python stacks of a run (py-spy samples) as top frames, collapsed stacks and speedscope JSON.

Source: the ``pystack_samples`` table (``lowprof run --stacks``: runs of identical consecutive samples on
the run clock) or, without timestamps, the ``pystacks`` table (``lowprof attach``/``profile(stacks=True)``:
stacks aggregated over the recording). Frames are ``func (file:line)`` root first, as py-spy names them.

Definitions (py-spy ``top``'s ``%Own``/``%Total``):

- **self** samples of a frame: samples whose innermost frame it is;
- **total** samples of a frame: samples with the frame anywhere on the stack, each sample counted once
  (a recursive function is not counted twice);
- %: of all samples selected (every thread; with py-spy ``--idle``, idle samples too).

By default frames are functions, ``func (file)``: py-spy reports the line each frame was executing,
and one function's lines are summed (``by="line"`` keeps them apart).

A window [a, b) (a pass, a phase): a run of ``n`` identical samples at ``t_ns`` lasting ``dur_ns`` holds
samples at ``t_ns + k * dur_ns / n`` (k = 0..n-1); those inside the window count. Windows that tile a run
split its samples exactly.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lowprof.errors import LowprofError
from lowprof.rundir import Run

__all__ = ["StackSamples", "stack_samples", "check_timed", "select_window", "top_frames", "collapsed_text", "speedscope",
           "parse_frame", "function_of", "SPEEDSCOPE_SCHEMA_URL", "pass_windows", "phase_windows", "speedscope_json",
           "write_text"]

SPEEDSCOPE_SCHEMA_URL = "https://www.speedscope.app/file-format-schema.json"
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def parse_frame(frame: str) -> tuple[str, str | None, int | None]:
    """``"func (file.py:12)"`` -> ``("func", "file.py", 12)``; a frame not in that form is its own name."""
    m = _FRAME.match(frame)
    if not m:
        return frame, None, None
    return m.group("name"), m.group("file"), int(m.group("line")) if m.group("line") else None


def function_of(frame: str) -> str:
    """The frame without its line: ``"func (file.py:12)"`` -> ``"func (file.py)"``."""
    name, file, _ = parse_frame(frame)
    return frame if file is None else f"{name} ({file})"


@dataclass(frozen=True)
class StackSamples:
    """Stacks of a run: ``frame`` columns thread, stack (root->leaf, ';'), samples (int); t_ns and dur_ns
    (run clock, ns) where ``timed``. ``table``: which table they came from; ``rate_hz``: py-spy's rate."""

    frame: pd.DataFrame
    table: str
    timed: bool
    rate_hz: float | None
    label: str = "the whole run"

    @property
    def samples(self) -> int:
        return int(self.frame["samples"].sum()) if len(self.frame) else 0


def stack_samples(run: Run) -> StackSamples:
    """The run's py-spy stacks (see the module doc); LowprofError when it has none, saying why."""
    m = run.sections
    if "pystack_samples" in run.tables:
        df = run["pystack_samples"]
        rate = m.pystacks_timeline.rate_hz
        f = df[["t_ns", "dur_ns", "thread", "stack", "samples"]].astype({"t_ns": "int64", "dur_ns": "int64",
                                                                           "samples": "int64"})
        return StackSamples(f.reset_index(drop=True), "pystack_samples", True, float(rate) if rate else None)
    if "pystacks" in run.tables:
        df = run["pystacks"]
        f = df[["thread", "stack", "samples"]].astype({"samples": "int64"})
        return StackSamples(f.reset_index(drop=True), "pystacks", False, None)
    reasons = {"pystacks_timeline": m.pystacks_timeline.reason, "pystacks": m.probes.entry("pystacks").reason}
    why = [f"{k}: {r}" for k, r in reasons.items() if r]
    raise LowprofError(f"{run.path}: no Python stacks in this run (record with `lowprof run --stacks` or "
                       f"`lowprof attach`)" + (f"; {'; '.join(why)}" if why else ""))


def _samples_in(t0: np.ndarray, dur: np.ndarray, n: np.ndarray, a: float, b: float) -> np.ndarray:
    """Per run of n samples at t0 + k * dur / n (k < n): how many lie in [a, b)."""
    step = np.where(n > 0, dur / np.maximum(n, 1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = np.where(step > 0, np.ceil((a - t0) / step), np.where(t0 >= a, 0, n))
        hi = np.where(step > 0, np.ceil((b - t0) / step), np.where(t0 < b, n, 0))
    lo, hi = np.clip(lo, 0, n), np.clip(hi, 0, n)
    return np.maximum(hi - lo, 0).astype(np.int64)


def check_timed(s: StackSamples) -> None:
    """LowprofError unless the samples have timestamps (a pass or phase can be cut from them)."""
    if not s.timed:
        raise LowprofError(f"the run's stacks ({s.table}, from lowprof attach) carry no timestamps, so they "
                           f"cannot be cut by pass or phase; record with `lowprof run --stacks`")


def select_window(s: StackSamples, windows: list[tuple[int, int]], label: str) -> StackSamples:
    """The samples inside any of ``windows`` ([start_ns, end_ns), run clock; they should not overlap)."""
    check_timed(s)
    f = s.frame
    t0, dur, n = (f[c].to_numpy(np.float64) for c in ("t_ns", "dur_ns", "samples"))
    keep = np.zeros(len(f), dtype=np.int64)
    for a, b in windows:
        keep += _samples_in(t0, dur, n, float(a), float(b))
    out = f.assign(samples=keep)[keep > 0].reset_index(drop=True)
    return StackSamples(out, s.table, True, s.rate_hz, label)


def pass_windows(run: Run, which: str) -> tuple[list[tuple[int, int]], str]:
    """The window of pass ``which``: a step name (``pass#3``, ``ProfilerStep#3``) or its number (``3``: the
    step named ``...#3`` that is not a warm-up), as ``lowprof bound`` lists them."""
    from lowprof.analysis.bound import verdicts

    if "launches" not in run.tables:
        raise LowprofError(f"--pass: {run.path} has no passes (no launches table with step annotations)"
                           + _phases_hint(run))
    v = verdicts(run)
    steps = [str(x) for x in v["step"]] if len(v) else []
    hit = v[v["step"].astype(str) == which] if len(v) else v
    if not len(hit) and which.isdigit():
        numbered = v[v["step"].astype(str).str.endswith(f"#{which}")]
        hit = numbered[~numbered["warmup"].astype(bool)] if len(numbered) > 1 else numbered
    if len(hit) != 1:
        shown = ", ".join(steps[:12]) + (", ..." if len(steps) > 12 else "")
        raise LowprofError(f"--pass {which}: no such pass; the run has {shown or 'no passes'}")
    r = hit.iloc[0]
    return [(int(r["start_ns"]), int(r["end_ns"]))], str(r["step"])


def phase_windows(run: Run, name: str) -> tuple[list[tuple[int, int]], str]:
    """The windows of phase ``name`` (marks: each begin/end pair, each instant up to the next mark)."""
    from lowprof.analysis.power import phase_intervals
    from lowprof.rundir.specs.marks import read_marks

    marks = read_marks(run)
    end = run.section("end_t_ns") or (int(marks["t_ns"].max()) if len(marks) else 0)
    ph = phase_intervals(marks, end) if len(marks) else pd.DataFrame(columns=["name", "start_ns", "end_ns"])
    hit = ph[ph["name"] == name]
    if not len(hit):
        names = sorted(set(map(str, ph["name"])))
        raise LowprofError(f"--phase {name}: no such phase; the run's marks name "
                           + (", ".join(names[:12]) + (", ..." if len(names) > 12 else "") if names else "none"))
    return [(int(a), int(b)) for a, b in zip(hit["start_ns"], hit["end_ns"])], f"phase {name}" + (
        f" ({len(hit)} windows)" if len(hit) > 1 else "")


def _phases_hint(run: Run) -> str:
    try:
        from lowprof.rundir.specs.marks import read_marks

        names = sorted(set(map(str, read_marks(run)["name"])))
    except (LowprofError, OSError, ValueError):
        names = []
    return f"; its phases (--phase): {', '.join(names[:12])}" if names else ""


def _frames(stack: str, by: str) -> list[str]:
    frames = stack.split(";") if stack else []
    return [function_of(f) for f in frames] if by == "function" else frames


def top_frames(s: StackSamples, by: str = "function") -> pd.DataFrame:
    """Per frame: self and total samples and their share of all samples (see the module doc), most
    self samples first (then total, then name). ``by``: ``function`` or ``line``."""
    if by not in ("function", "line"):
        raise LowprofError(f"frames are grouped by 'function' or 'line', not {by!r}")
    own: Counter = Counter()
    total: Counter = Counter()
    for stack, n in zip(s.frame["stack"], s.frame["samples"]):
        frames = _frames(str(stack), by)
        if not frames or not n:
            continue
        own[frames[-1]] += int(n)
        for f in set(frames):
            total[f] += int(n)
    all_ = s.samples
    rows = [{"frame": f, "self_samples": own.get(f, 0), "total_samples": t,
             "self_share": own.get(f, 0) / all_ if all_ else 0.0, "total_share": t / all_ if all_ else 0.0}
            for f, t in total.items()]
    df = pd.DataFrame(rows, columns=["frame", "self_samples", "total_samples", "self_share", "total_share"])
    return df.sort_values(["self_samples", "total_samples", "frame"], ascending=[False, False, True],
                          kind="stable").reset_index(drop=True)


def collapsed_text(s: StackSamples) -> str:
    """Brendan Gregg's collapsed stacks (flamegraph.pl / speedscope / inferno input): one line per distinct
    stack, ``root;...;leaf COUNT``, threads merged (as py-spy's ``--format raw`` without ``--threads``)."""
    counts: Counter = Counter()
    for stack, n in zip(s.frame["stack"], s.frame["samples"]):
        if stack and n:
            counts[str(stack)] += int(n)
    return "".join(f"{stack} {n}\n" for stack, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def speedscope(s: StackSamples, name: str) -> dict:
    """A speedscope document (https://www.speedscope.app/file-format-schema.json): one ``sampled``
    profile per thread, weights in samples (unit ``none``), so the weights sum to the samples. With
    timestamps the samples are in time order (speedscope's "Time Order" view follows the run)."""
    from lowprof import __version__

    index: dict[str, int] = {}
    frames: list[dict] = []
    profiles = []
    f = s.frame.sort_values("t_ns", kind="stable") if s.timed else s.frame
    for thread, g in f.groupby("thread", sort=True):
        samples, weights = [], []
        for stack, n in zip(g["stack"], g["samples"]):
            if not stack or not n:
                continue
            ids = []
            for fr in str(stack).split(";"):
                if fr not in index:
                    index[fr] = len(frames)
                    fname, file, line = parse_frame(fr)
                    frames.append({"name": fname} | ({"file": file} if file else {}) |
                                  ({"line": line} if line is not None else {}))
                ids.append(index[fr])
            samples.append(ids)
            weights.append(int(n))
        profiles.append({"type": "sampled", "name": str(thread) or "all threads", "unit": "none",
                         "startValue": 0, "endValue": int(sum(weights)), "samples": samples, "weights": weights})
    return {"$schema": SPEEDSCOPE_SCHEMA_URL, "shared": {"frames": frames}, "profiles": profiles,
            "name": name, "activeProfileIndex": 0, "exporter": f"lowprof {__version__}"}


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def speedscope_json(s: StackSamples, name: str) -> str:
    return json.dumps(speedscope(s, name), separators=(",", ":"))

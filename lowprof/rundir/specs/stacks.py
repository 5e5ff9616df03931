"""Python stack tables from py-spy: ``pystacks`` (aggregated over a recording window, :mod:`lowprof.tracers.pyspy`)
and ``pystack_samples`` (timestamped over a whole run, ``--stacks``, :mod:`lowprof.tracers.pystack_timeline`),
and what ``pystack_samples`` says about given time windows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lowprof.rundir.spec import Column, TableSpec

if TYPE_CHECKING:  # pandas is imported by the reader that uses it
    import pandas as pd

__all__ = ["PYSTACKS", "PYSTACK_SAMPLES", "stacks_in_windows"]

PYSTACKS = TableSpec(
    "pystacks", 1,
    (
        Column("thread", "string", "", "thread as py-spy names it"),
        Column("stack", "string", "", "frames root->leaf, ';'-separated, 'func (file:line)'"),
        Column("leaf", "string", "", "innermost frame"),
        Column("samples", "int64", "", "samples that saw exactly this stack"),
        Column("share", "float64", "1", "samples / all samples of the recording (0-1)"),
    ),
    doc="Python stacks sampled by py-spy over the recording window, aggregated (collapsed)",
)

PYSTACK_SAMPLES = TableSpec(
    "pystack_samples", 1,
    (
        Column("t_ns", "int64", "ns", "first sample of the run of identical stacks (run clock)"),
        Column("dur_ns", "int64", "ns", "until the thread's stack changed (or sampling ended)"),
        Column("thread", "string", "", "'pid/thread id: name' as py-spy names it"),
        Column("stack", "string", "", "frames root->leaf, ';'-separated, 'func (file:line)'"),
        Column("leaf", "string", "", "innermost Python frame"),
        Column("samples", "int64", "", "samples in the run, dur_ns x rate (at least 1)"),
    ),
    doc="Python stacks sampled by py-spy (--idle) over the whole run, as runs of identical consecutive samples",
)


def stacks_in_windows(spans: pd.DataFrame, windows: pd.DataFrame, rate_hz: float, top: int = 5,
                      by: str = "leaf") -> pd.DataFrame:
    """Top ``by`` (``leaf`` or ``stack``) per window by samples inside it.

    ``windows``: columns step, start_ns, end_ns (run clock). A span counts in a window in proportion
    to its overlap: samples = overlap_ns x rate_hz. Returns step, thread, ``by``, samples, share
    (of the window's samples over all threads), rank.
    """
    import pandas as pd

    out = []
    if spans.empty:
        return pd.DataFrame(columns=["step", "thread", by, "samples", "share", "rank"])
    t0 = spans["t_ns"].to_numpy("int64")
    t1 = t0 + spans["dur_ns"].to_numpy("int64")
    for w in windows.itertuples():
        overlap = (pd.Series(t1).clip(upper=w.end_ns) - pd.Series(t0).clip(lower=w.start_ns)).clip(lower=0)
        hit = overlap.to_numpy() > 0
        if not hit.any():
            continue
        s = spans[hit].assign(samples=overlap.to_numpy()[hit] * rate_hz / 1e9)
        agg = s.groupby(["thread", by], sort=False)["samples"].sum().sort_values(ascending=False)
        total = agg.sum()
        for rank, ((thread, key), n) in enumerate(agg.head(top).items(), 1):
            out.append({"step": w.step, "thread": thread, by: key, "samples": float(n),
                        "share": float(n / total) if total else 0.0, "rank": rank})
    return pd.DataFrame(out, columns=["step", "thread", by, "samples", "share", "rank"])

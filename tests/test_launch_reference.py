"""The vectorised launch analysis equals a plain reference: one pandas group per step, looped over.

The reference below is the straightforward reading of each definition (lowprof.analysis.launches'
module docstring), written group by group with pandas; the module computes the same numbers over whole
columns with numpy. Both run on every shared real trace and on synthetic launches with what real
traces rarely hold (unlinked launches, missing ops and GPU ends, several devices and streams, steps
that overlap, absolute clocks), and every frame must match exactly: values, dtypes, order, nulls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lowprof
from lowprof.analysis import launches as L
from lowprof.tracers.importer import import_trace
from tests.conftest import TRACES

KINETO_TRACES = sorted((TRACES / "kineto").glob("*.json.gz"))
_NO_STEP = "(no step)"


# ---- reference: group-by-group pandas ----

def ref_per_launch(launches: pd.DataFrame) -> pd.DataFrame:
    df = launches.copy()
    for c in ("cpu_start_ns", "cpu_end_ns", "gpu_start_ns", "gpu_end_ns", "op_start_ns"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    df["api_ns"] = df["cpu_end_ns"] - df["cpu_start_ns"]
    df["queue_ns"] = df["gpu_start_ns"] - df["cpu_end_ns"]
    df["t_l_ns"] = df["gpu_start_ns"] - df["cpu_start_ns"]
    df["launch_delay_ns"] = df["queue_ns"].clip(lower=0)
    df["gpu_ns"] = df["gpu_end_ns"] - df["gpu_start_ns"]
    df["dispatch_ns"] = df["cpu_start_ns"] - df["op_start_ns"]
    df["queue_negative"] = (df["queue_ns"] < 0).fillna(False).astype(bool)
    df["clock_skew"] = (df["t_l_ns"] < 0).fillna(False).astype(bool)
    df["step"] = df["step"].astype("string").fillna(_NO_STEP)
    return df


def ref_idle_breakdown(launches: pd.DataFrame, delay_ns: int = L.CONSECUTIVE_KERNEL_DELAY_NS) -> pd.DataFrame:
    df = launches[["stream", "gpu_start_ns", "gpu_end_ns", "cpu_start_ns", "step"]].copy()
    df = df.dropna(subset=["gpu_start_ns"]).sort_values(["stream", "gpu_start_ns"], kind="stable")
    prev_end = df.groupby("stream", sort=False)["gpu_end_ns"].shift(1)
    gap = df["gpu_start_ns"] - prev_end
    host = (df["cpu_start_ns"] > prev_end).fillna(False).astype(bool)
    kern = ~host & (gap < delay_ns).fillna(False).astype(bool)
    cat = np.where(host, "host_wait", np.where(kern, "kernel_wait", "other"))
    out = pd.DataFrame({"stream": df["stream"], "step": df["step"], "gap_ns": gap, "category": cat})
    return out[prev_end.notna()].reset_index(drop=True)


def ref_queue_depth(launches: pd.DataFrame, by_stream: bool = True) -> pd.DataFrame:
    df = launches.dropna(subset=["gpu_end_ns"])
    t0 = df["cpu_start_ns"].fillna(df["gpu_start_ns"]).to_numpy(np.int64)
    t1 = df["gpu_end_ns"].to_numpy(np.int64)
    stream = df["stream"].to_numpy() if by_stream else np.zeros(len(df), np.int64)
    ev = pd.DataFrame({"stream": np.concatenate([stream, stream]), "t_ns": np.concatenate([t0, t1]),
                       "delta": np.concatenate([np.ones(len(t0), np.int64), -np.ones(len(t1), np.int64)])})
    ev = ev.sort_values(["stream", "t_ns", "delta"], kind="stable")
    ev["depth"] = ev.groupby("stream", sort=False)["delta"].cumsum()
    return ev.groupby(["stream", "t_ns"], sort=False, as_index=False)["depth"].last().reset_index(drop=True)


def ref_per_step(launches: pd.DataFrame, ops: pd.DataFrame | None = None,
                 delay_ns: int = L.CONSECUTIVE_KERNEL_DELAY_NS) -> pd.DataFrame:
    pl = ref_per_launch(launches)
    gaps = ref_idle_breakdown(pl, delay_ns)
    gap_sum = gaps.groupby(["step", "category"])["gap_ns"].sum().unstack(fill_value=0) if len(gaps) else None
    aten_first = {}
    if ops is not None and len(ops):
        o = ops[ops["name"].astype(str).str.startswith("aten::")]
        aten_first = o.assign(step=o["step"].astype("string").fillna(_NO_STEP)).groupby("step")["start_ns"].min().to_dict()
    timed = pl.dropna(subset=["gpu_start_ns", "gpu_end_ns"])
    rows = []
    for step, g in pl.groupby("step", sort=False):
        k = g[g["kind"] == "kernel"]
        starts = [v for v in (aten_first.get(step), g["op_start_ns"].min(), g["cpu_start_ns"].min(), g["gpu_start_ns"].min())
                  if v is not None and not pd.isna(v)]
        a, b = int(min(starts)), int(g["gpu_end_ns"].max())
        latency = b - a
        devices = g["device"].dropna().unique()
        busy = 0
        for d in devices:  # union of every activity's [start, end) on the device, each piece clipped to [a, b]
            on = timed[timed["device"] == d].sort_values("gpu_start_ns", kind="stable")
            pieces = []
            for s, e in zip(on["gpu_start_ns"].astype(int), on["gpu_end_ns"].astype(int)):
                if pieces and s <= pieces[-1][2]:  # overlaps or touches the piece so far (its running max end)
                    pieces[-1][1] = max(pieces[-1][1], e)
                    pieces[-1][2] = max(pieces[-1][2], e)
                else:
                    pieces.append([s, e, max(e, pieces[-1][2]) if pieces else e])
            busy += sum(min(max(e, a), b) - min(max(s, a), b) for s, e, _ in pieces)
        n_dev = max(1, len(devices))
        linked = k.dropna(subset=["t_l_ns"])
        in_flight = (g["gpu_end_ns"] - g["cpu_start_ns"].fillna(g["gpu_start_ns"])).sum()
        row = {
            "step": step, "kernels": len(k), "activities": len(g),
            "tklqt_ns": int(linked["t_l_ns"].sum()), "tklqt_api_ns": int(linked["api_ns"].sum()),
            "tklqt_queue_ns": int(linked["queue_ns"].sum()),
            "negative_queue_count": int(linked["queue_negative"].sum()),
            "negative_queue_ns": int(linked.loc[linked["queue_negative"], "queue_ns"].sum()),
            "clock_skew_count": int(linked["clock_skew"].sum()), "unlinked_kernels": len(k) - len(linked),
            "kernel_time_ns": int(k["gpu_ns"].sum()),
            "avg_kernel_ns": float(k["gpu_ns"].mean()) if len(k) else float("nan"),
            "start_ns": a, "end_ns": b, "latency_ns": latency, "devices": n_dev,
            "gpu_busy_ns": busy, "gpu_idle_ns": n_dev * latency - busy,
            "idle_share": (n_dev * latency - busy) / (n_dev * latency) if latency > 0 else float("nan"),
            "mean_queue_depth": float(in_flight / latency) if latency > 0 else float("nan"),
            "dispatch_median_ns": float(g["dispatch_ns"].median()) if g["dispatch_ns"].notna().any() else float("nan"),
        }
        for cat in ("host_wait", "kernel_wait", "other"):
            has = gap_sum is not None and step in gap_sum.index and cat in gap_sum.columns
            row[f"idle_{cat}_ns"] = int(gap_sum.loc[step, cat]) if has else 0
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        depth = ref_queue_depth(pl, by_stream=False)
        if len(depth):
            t, d = depth["t_ns"].to_numpy(np.int64), depth["depth"].to_numpy()
            out["max_queue_depth"] = [int(d[(t >= a) & (t <= b)].max(initial=0)) for a, b in zip(out.start_ns, out.end_ns)]
        out = out.sort_values("start_ns", kind="stable").reset_index(drop=True)
    return out


def ref_top_kernels(launches: pd.DataFrame, k: int = 10) -> dict[str, pd.DataFrame]:
    pl = ref_per_launch(launches)
    agg = pl[pl["kind"] == "kernel"].groupby("name", sort=False).agg(
        count=("gpu_ns", "size"), total_ns=("gpu_ns", "sum"), mean_ns=("gpu_ns", "mean"),
        mean_t_l_ns=("t_l_ns", "mean"), mean_queue_ns=("queue_ns", "mean")).reset_index()
    return {"by_count": agg.sort_values(["count", "total_ns"], ascending=False).head(k).reset_index(drop=True),
            "by_time": agg.sort_values("total_ns", ascending=False).head(k).reset_index(drop=True)}


# ---- comparison ----

def _same(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(ours, ref, check_dtype=True, check_exact=True)


def assert_matches_reference(launches: pd.DataFrame, ops: pd.DataFrame | None) -> None:
    pl = L.per_launch(launches)
    _same(pl, ref_per_launch(launches))
    _same(L.per_step(launches, ops), ref_per_step(launches, ops))
    _same(L.per_step(pl, None, 5_000), ref_per_step(launches, None, 5_000))
    _same(L.idle_breakdown(pl), ref_idle_breakdown(pl))
    _same(L.idle_breakdown(launches, 1_000), ref_idle_breakdown(launches, 1_000))
    for by_stream in (True, False):
        _same(L.queue_depth(launches, by_stream), ref_queue_depth(launches, by_stream))
    for k in (3, 10):
        ours, ref = L.top_kernels(launches, k), ref_top_kernels(launches, k)
        _same(ours["by_count"], ref["by_count"])
        _same(ours["by_time"], ref["by_time"])


@pytest.mark.parametrize("trace", KINETO_TRACES, ids=[p.name.split(".")[0][:40] for p in KINETO_TRACES])
def test_traces_match_reference(trace, tmp_path):
    run = lowprof.load(import_trace(trace, tmp_path / "run"))
    assert_matches_reference(run["launches"], run["ops"] if "ops" in run.tables else None)


def _synthetic(rng: np.random.Generator, n: int, origin: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Launches on 1-3 devices and 1-4 streams in 1-5 steps, with nulls, ties and negative queue/duration."""
    gpu_start = origin + (rng.integers(0, 10_000_000, n) // 1000) * 1000  # ties on the GPU start
    cpu_start = gpu_start - rng.integers(-5_000, 3_000_000, n)
    df = pd.DataFrame({
        "kind": rng.choice(["kernel", "memcpy", "memset"], n, p=[0.7, 0.2, 0.1]),
        "name": rng.choice([f"k{i}" for i in range(8)], n),
        "device": rng.integers(0, rng.integers(1, 4), n).astype(np.int32),
        "stream": rng.integers(0, rng.integers(1, 5), n),
        "launch_api": rng.choice(["cudaLaunchKernel", "cuLaunchKernel", "cudaMemcpyAsync"], n),
        "cpu_start_ns": cpu_start, "cpu_end_ns": cpu_start + rng.integers(0, 20_000, n),
        "gpu_start_ns": gpu_start, "gpu_end_ns": gpu_start + rng.integers(-100, 200_000, n),
        "op_start_ns": cpu_start - rng.integers(0, 50_000, n),
        "step": rng.choice([f"ProfilerStep#{i}" for i in range(rng.integers(1, 6))], n),
    })
    for c, p in (("cpu_start_ns", 0.1), ("cpu_end_ns", 0.05), ("op_start_ns", 0.2), ("gpu_end_ns", 0.01)):
        df[c] = df[c].astype("Int64").mask(rng.random(n) < p)
    df["step"] = df["step"].mask(rng.random(n) < 0.1)
    df["device"] = df["device"].astype("Int64").mask(rng.random(n) < 0.02)
    ops = pd.DataFrame({"name": rng.choice(["aten::mm", "aten::add", "Optimizer.step"], 300),
                        "start_ns": origin + rng.integers(-1_000_000, 10_000_000, 300),
                        "step": pd.Series(rng.choice(["ProfilerStep#0", "ProfilerStep#1", "other#1"], 300)).mask(rng.random(300) < 0.1)})
    return df, ops


@pytest.mark.parametrize("seed", range(12))
def test_synthetic_launches_match_reference(seed):
    rng = np.random.default_rng(seed)
    origin = 1_700_000_000_000_000_000 if seed % 3 == 0 else 0  # an absolute (Unix ns) clock
    df, ops = _synthetic(rng, int(rng.choice([1, 7, 60, 500])), origin)
    if any(g["gpu_end_ns"].isna().all() for _, g in df.groupby(df["step"].fillna(_NO_STEP))):
        with pytest.raises(ValueError, match="no GPU end"):
            L.per_step(df, ops)
        return
    assert_matches_reference(df, ops)


def test_empty_launches_match_reference():
    df, ops = _synthetic(np.random.default_rng(0), 5, 0)
    assert_matches_reference(df.iloc[:0], ops)


def test_gpu_ends_before_every_start_match_reference():
    """Skewed clocks can put every GPU end before the step's first start: the window is then empty."""
    df, ops = _synthetic(np.random.default_rng(1), 60, 0)
    df["gpu_end_ns"] = df["gpu_start_ns"] - 20_000_000
    assert_matches_reference(df, ops)
    st = L.per_step(df, ops)
    assert (st["end_ns"] < st["start_ns"]).all() and (st["gpu_busy_ns"] == 0).all()

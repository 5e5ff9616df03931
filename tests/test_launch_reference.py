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

pytestmark = pytest.mark.slow

KINETO_TRACES = sorted((TRACES / "kineto").glob("*.json.gz"))
_NO_STEP = "(no step)"


# ---- reference: group-by-group pandas ----

def ref_per_launch(launches: pd.DataFrame) -> pd.DataFrame:
    df = launches.copy()
    for c in ("cpu_start_ns", "cpu_end_ns", "gpu_start_ns", "gpu_end_ns", "op_start_ns"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("Int64")
    # one launch per call (correlation, call start): its first activity on the GPU carries api/queue/t_l
    df["_pos"] = np.arange(len(df))
    df["counts_launch"] = True
    df["launch_activities"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df["launch_kernels"] = pd.array([pd.NA] * len(df), dtype="Int64")
    df["launch_end_ns"] = df["gpu_end_ns"]
    corr = pd.to_numeric(df["correlation"], errors="coerce")
    has_call = corr.notna() & df["cpu_start_ns"].notna()
    called = df[has_call].assign(
        _corr=corr[has_call], _gs=lambda x: x["gpu_start_ns"].fillna(np.iinfo(np.int64).max), _k=lambda x: x["kind"].isin(["kernel", "graph"]))
    called = called.sort_values(["_corr", "cpu_start_ns", "_gs", "_pos"], kind="stable")
    by = called.groupby(["_corr", "cpu_start_ns"], sort=False)
    if len(called):
        df.loc[called.index, "counts_launch"] = (by.cumcount() == 0).to_numpy()
        df.loc[called.index, "launch_activities"] = by["_pos"].transform("size").to_numpy()
        df.loc[called.index, "launch_kernels"] = by["_k"].transform("sum").astype("int64").to_numpy()
        df.loc[called.index, "launch_end_ns"] = by["gpu_end_ns"].transform("max").astype("Int64").array
    own = df["counts_launch"]
    df["api_ns"] = (df["cpu_end_ns"] - df["cpu_start_ns"]).where(own)
    df["queue_ns"] = (df["gpu_start_ns"] - df["cpu_end_ns"]).where(own)
    df["t_l_ns"] = (df["gpu_start_ns"] - df["cpu_start_ns"]).where(own)
    df["launch_delay_ns"] = df["queue_ns"].clip(lower=0)
    df["gpu_ns"] = df["gpu_end_ns"] - df["gpu_start_ns"]
    df["dispatch_ns"] = (df["cpu_start_ns"] - df["op_start_ns"]).where(own)
    df["queue_negative"] = (df["queue_ns"] < 0).fillna(False).astype(bool)
    df["clock_skew"] = (df["t_l_ns"] < 0).fillna(False).astype(bool)
    df["step"] = df["step"].astype("string").fillna(_NO_STEP)
    df["graph_node"] = (df["launch_api"].astype("string").str.contains("GraphLaunch").fillna(False).astype(bool)
                        | (df["kind"] == "graph").fillna(False).astype(bool))
    cols = [c for c in df.columns if c not in ("_pos", "counts_launch", "launch_activities", "launch_kernels",
                                               "launch_end_ns", "graph_node")]
    return df[cols + ["counts_launch", "launch_activities", "launch_kernels", "launch_end_ns", "graph_node"]]


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
    pl = ref_per_launch(launches)
    df = pl[pl["counts_launch"]].dropna(subset=["launch_end_ns"])
    t0 = df["cpu_start_ns"].fillna(df["gpu_start_ns"]).to_numpy(np.int64)
    t1 = df["launch_end_ns"].to_numpy(np.int64)
    stream = df["stream"].to_numpy() if by_stream else np.zeros(len(df), np.int64)
    ev = pd.DataFrame({"stream": np.concatenate([stream, stream]), "t_ns": np.concatenate([t0, t1]),
                       "delta": np.concatenate([np.ones(len(t0), np.int64), -np.ones(len(t1), np.int64)])})
    ev = ev.sort_values(["stream", "t_ns", "delta"], kind="stable")
    ev["depth"] = ev.groupby("stream", sort=False)["delta"].cumsum()
    return ev.groupby(["stream", "t_ns"], sort=False, as_index=False)["depth"].last().reset_index(drop=True)


def ref_window_split(acts: pd.DataFrame, a: int, b: int, delay_ns: int) -> list[int]:
    """[busy, before_first, host_wait, kernel_wait, other, after_last] of one stream/device in [a, b], by
    walking its activities in time order (ends below their start taken as the start)."""
    if a > b:
        return [0, b - a, 0, 0, 0, 0]
    acts = acts.dropna(subset=["gpu_start_ns", "gpu_end_ns"])
    rows = sorted((int(s), max(int(e), int(s)), int(c) if not pd.isna(c) else None)
                  for s, e, c in zip(acts["gpu_start_ns"], acts["gpu_end_ns"], acts["cpu_start_ns"]))
    rows.sort(key=lambda r: (r[0], r[2] if r[2] is not None else 2**63))
    segs = []  # [start, end, call start of the activity that opened it]
    for s, e, c in rows:
        if segs and s <= segs[-1][1]:
            segs[-1][1] = max(segs[-1][1], e)
        else:
            segs.append([s, e, c])
    inside = [g for g in segs if g[1] > a and g[0] < b]
    if not inside:
        return [0, b - a, 0, 0, 0, 0]
    out = [0, max(inside[0][0], a) - a, 0, 0, 0, b - min(inside[-1][1], b)]
    for i, (s, e, c) in enumerate(inside):
        out[0] += min(e, b) - max(s, a)
        if i:
            gap = s - inside[i - 1][1]
            k = 2 if c is not None and c > inside[i - 1][1] else 3 if gap < delay_ns else 4
            out[k] += gap
    return out


def ref_per_step(launches: pd.DataFrame, ops: pd.DataFrame | None = None,
                 delay_ns: int = L.CONSECUTIVE_KERNEL_DELAY_NS) -> pd.DataFrame:
    pl = ref_per_launch(launches)
    aten_first = {}
    if ops is not None and len(ops):
        o = ops[ops["name"].astype(str).str.startswith("aten::")]
        aten_first = o.assign(step=o["step"].astype("string").fillna(_NO_STEP)).groupby("step")["start_ns"].min().to_dict()
    units = pl[pl["counts_launch"]].dropna(subset=["launch_end_ns"])
    u0 = units["cpu_start_ns"].fillna(units["gpu_start_ns"]).astype("int64")
    u1 = units["launch_end_ns"].astype("int64")
    rows = []
    for step, g in pl.groupby("step", sort=False):
        k = g[g["kind"] == "kernel"]
        if step in aten_first:  # the pass starts at its first ATen op, else its first launch call
            a = int(aten_first[step])
        elif g["cpu_start_ns"].notna().any():
            a = int(g["cpu_start_ns"].min())
        else:
            a = int(g["gpu_start_ns"].min())
        b = int(g["gpu_end_ns"].max())
        latency = b - a
        devices = g["device"].dropna().unique()
        parts = [0] * 6
        for d in devices:
            for i, v in enumerate(ref_window_split(pl[pl["device"] == d], a, b, delay_ns)):
                parts[i] += v
        if not len(devices):
            parts[1] += latency
        busy = parts[0]
        n_dev = max(1, len(devices))
        tk = g[g["counts_launch"] & g["t_l_ns"].notna() & (g["launch_kernels"].fillna(0) > 0)]
        in_flight = int((np.clip(u1, a, b) - np.clip(u0, a, b)).sum()) if a <= b else 0
        graph = g[g["graph_node"]]
        all_gpu = int(g["gpu_ns"].sum())
        row = {
            "step": step, "kernels": len(k), "activities": len(g),
            "launch_calls": int((g["counts_launch"] & g["cpu_start_ns"].notna()).sum()),
            "tklqt_ns": int(tk["t_l_ns"].sum()), "tklqt_api_ns": int(tk["api_ns"].sum()),
            "tklqt_queue_ns": int(tk["queue_ns"].sum()),
            "negative_queue_count": int(tk["queue_negative"].sum()),
            "negative_queue_ns": int(tk.loc[tk["queue_negative"], "queue_ns"].sum()),
            "clock_skew_count": int(tk["clock_skew"].sum()), "unlinked_kernels": int(k["cpu_start_ns"].isna().sum()),
            "kernel_time_ns": int(k["gpu_ns"].sum()),
            "avg_kernel_ns": float(k["gpu_ns"].mean()) if len(k) else float("nan"),
            "graph_launches": int((graph["counts_launch"] & graph["cpu_start_ns"].notna()).sum()),
            "graph_activities": len(graph), "graph_gpu_ns": int(graph["gpu_ns"].sum()),
            "graph_gpu_share": int(graph["gpu_ns"].sum()) / all_gpu if all_gpu else float("nan"),
            "start_ns": a, "end_ns": b, "latency_ns": latency, "devices": n_dev,
            "gpu_busy_ns": busy, "gpu_idle_ns": n_dev * latency - busy,
            "idle_share": (n_dev * latency - busy) / (n_dev * latency) if latency > 0 else float("nan"),
            "mean_queue_depth": float(in_flight / latency) if latency > 0 else float("nan"),
            "dispatch_median_ns": float(g["dispatch_ns"].median()) if g["dispatch_ns"].notna().any() else float("nan"),
        }
        for i, part in enumerate(L.IDLE_PARTS):
            row[f"idle_{part}_ns"] = parts[1 + i]
        assert sum(parts[1:]) == row["gpu_idle_ns"]
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out):
        depth = ref_queue_depth(launches, by_stream=False)
        if len(depth):
            t, d = depth["t_ns"].to_numpy(np.int64), depth["depth"].to_numpy()
            mx = []
            for a, b in zip(out.start_ns, out.end_ns):  # in effect at a, and every value taken in (a, b)
                before = d[t <= a]
                vals = list(d[(t > a) & (t < b)]) + ([before[-1]] if len(before) and a < b else [])
                mx.append(int(max(vals + [0])))
            out["max_queue_depth"] = mx
        out = out.sort_values("start_ns", kind="stable").reset_index(drop=True)
    return out


def ref_top_kernels(launches: pd.DataFrame, k: int = 10) -> dict[str, pd.DataFrame]:
    pl = ref_per_launch(launches)
    agg = pl[pl["kind"] == "kernel"].groupby("name", sort=False).agg(
        count=("gpu_ns", "size"), total_ns=("gpu_ns", "sum"), mean_ns=("gpu_ns", "mean"),
        mean_t_l_ns=("t_l_ns", "mean"), mean_queue_ns=("queue_ns", "mean")).reset_index()
    return {"by_count": agg.sort_values(["count", "total_ns"], ascending=False).head(k).reset_index(drop=True),
            "by_time": agg.sort_values("total_ns", ascending=False).head(k).reset_index(drop=True)}


def _check_idle_split(launches: pd.DataFrame, ops: pd.DataFrame | None) -> None:
    """idle_split per stream and per device: each row equals the walk of ref_window_split over the step's
    window, and its parts sum to its idle time exactly."""
    steps = ref_per_step(launches, ops).set_index("step") if len(launches) else None
    pl = ref_per_launch(launches)
    parts = [f"{p}_ns" for p in L.IDLE_PARTS]
    for by in ("stream", "device"):
        sp = L.idle_split(launches, ops, by)
        if steps is None:
            assert sp.empty
            continue
        assert (sp[parts].sum(axis=1) == sp["idle_ns"]).all()
        assert (sp["idle_ns"] == sp["window_ns"] - sp["busy_ns"]).all()
        for r in sp.itertuples():
            a, b = int(steps.at[r.step, "start_ns"]), int(steps.at[r.step, "end_ns"])  # (a row would be float)
            on = pl[(pl["device"] == r.device) & ((pl["stream"] == r.stream) if by == "stream" else True)]
            ref = ref_window_split(on, a, b, L.CONSECUTIVE_KERNEL_DELAY_NS)
            assert [r.busy_ns, *[getattr(r, p) for p in parts]] == ref, (by, r)
        if by == "device":
            per = sp.groupby("step")[parts].sum()
            for step, row in per.iterrows():
                assert [int(row[p]) for p in parts] == [int(steps.loc[step, f"idle_{p}"]) for p in parts]


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
    _check_idle_split(launches, ops)
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
        "kind": rng.choice(["kernel", "memcpy", "memset", "graph"], n, p=[0.65, 0.2, 0.1, 0.05]),
        "name": rng.choice([f"k{i}" for i in range(8)], n),
        "device": rng.integers(0, rng.integers(1, 4), n).astype(np.int32),
        "stream": rng.integers(0, rng.integers(1, 5), n),
        "launch_api": rng.choice(["cudaLaunchKernel", "cuLaunchKernel", "cudaMemcpyAsync"], n),
        "cpu_start_ns": cpu_start, "cpu_end_ns": cpu_start + rng.integers(0, 20_000, n),
        "gpu_start_ns": gpu_start, "gpu_end_ns": gpu_start + rng.integers(-100, 200_000, n),
        "op_start_ns": cpu_start - rng.integers(0, 50_000, n),
        "step": rng.choice([f"ProfilerStep#{i}" for i in range(rng.integers(1, 6))], n),
    })
    df["correlation"] = np.arange(n, dtype=np.int64)
    graph = rng.random(n) < 0.3  # graph nodes: each takes the call of an earlier row marked as a graph launch
    for i in np.flatnonzero(graph)[1:]:
        j = int(rng.integers(0, i))
        df.loc[i, ["correlation", "cpu_start_ns", "cpu_end_ns", "op_start_ns", "step"]] = \
            df.loc[j, ["correlation", "cpu_start_ns", "cpu_end_ns", "op_start_ns", "step"]].to_numpy()
        df.loc[[i, j], "launch_api"] = "cudaGraphLaunch"
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

"""The columnar (pyarrow, block-streamed) Kineto reader gives exactly the per-event parser's tables."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from lowprof.tracers.kineto import load_launches
from tests.conftest import SHARED_TRACES

KINETO = SHARED_TRACES / "kineto"
ALL = sorted(KINETO.glob("*.json.gz")) if KINETO.is_dir() else []
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _same(path: Path, **kw) -> dict:
    """Load with both readers; assert equal launches, ops, steps and event count; return the columnar meta."""
    fast, meta_f, tab_f = load_launches(path, with_tables=True, **kw)
    slow, meta_s, tab_s = load_launches(path, with_tables=True, columnar=False)
    assert meta_s["parser"]["reader"] == "objects"
    pd.testing.assert_frame_equal(fast, slow, check_dtype=False)
    for name in ("ops", "steps"):
        pd.testing.assert_frame_equal(tab_f[name], tab_s[name], check_dtype=False)
    assert meta_f["events"] == meta_s["events"] and meta_f["clock"] == meta_s["clock"]
    return meta_f


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name.split("__")[0])
def test_columnar_equals_per_event_on_shared_traces(path: Path):
    meta = _same(path)
    p = meta["parser"]
    assert (p["reader"], p["blocks"], p["regex_blocks"]) == ("pyarrow", 1, 0)
    # args fields that hold strings in some events (ROCm stream names, Triton grid formulas)
    expect = {"amd_trace": ["stream"], "triton_example": ["grid"]}.get(path.name.split("__")[0], [])
    assert p["renamed"] == expect


def test_small_blocks_stream_the_largest_trace():
    path = max(ALL, key=lambda p: p.stat().st_size) if ALL else pytest.skip("no shared traces")
    meta = _same(path, block_bytes=1 << 20)  # ~15 blocks: events cut at block edges must survive
    assert meta["parser"]["blocks"] > 5 and meta["parser"]["regex_blocks"] == 0


def _rewrite(tmp_path: Path, name: str, text: str) -> Path:
    out = tmp_path / name
    out.write_bytes(gzip.compress(text.encode()))
    return out


def test_odd_whitespace_uses_the_regex_conversion(tmp_path: Path):
    src = next((p for p in ALL if p.name.startswith("critical_path__cuda_event_sync")), None) or pytest.skip()
    doc = json.loads(gzip.decompress(src.read_bytes()))
    text = json.dumps(doc, separators=(" ,  ", " :\t"))  # neither Kineto's nor json.dump's spacing
    meta = _same(_rewrite(tmp_path, "odd.json.gz", text))
    assert meta["parser"]["reader"] == "pyarrow" and meta["parser"]["regex_blocks"] == 1


def test_separator_inside_a_string_falls_back_to_per_event(tmp_path: Path):
    src = next((p for p in ALL if p.name.startswith("triton_example")), None) or pytest.skip()
    doc = json.loads(gzip.decompress(src.read_bytes()))
    k = next(e for e in doc["traceEvents"] if e.get("cat") == "kernel")
    k["name"] = 'weird}, {"ph": "X"} kernel'
    meta = _same(_rewrite(tmp_path, "weird.json.gz", json.dumps(doc)))
    assert meta["parser"]["reader"] == "objects"
    fast, _ = load_launches(tmp_path / "weird.json.gz")
    assert list(fast["name"]) == ['weird}, {"ph": "X"} kernel']

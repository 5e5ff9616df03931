"""The C trace scanner against an independent reference: Python's json with exact decimals.

The reference (``_reference``) reads the whole document with ``json.loads(parse_float=Decimal)`` and
applies the rules of kscan.h in plain Python: which events are kept, int(s, 0) for string ints,
exact ns from the decimal text with half-to-even past the third decimal, dict.get semantics for
``correlation``/``correlationId``. Every shared real trace, re-spaced and re-chunked copies of them,
and hand-made edge cases must give the same columns; damaged files must give one TraceError.
"""

from __future__ import annotations

import gzip
import json
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import pytest

from lowprof.errors import TraceError
from lowprof.tracers.kineto_scan import CLASSES, COLUMNS, NULL, scan
from tests.conftest import TRACES

KINETO = TRACES / "kineto"
ALL = sorted(KINETO.glob("*.json.gz")) if KINETO.is_dir() else []

_CLASS_OF = {"kernel": "kernel", "Kernel": "kernel", "gpu_memcpy": "memcpy", "Memcpy": "memcpy",
             "gpu_memset": "memset", "Memset": "memset", "cpu_op": "op", "Operator": "op", "operator": "op",
             "user_annotation": "annotation", "ac2g": "flow", "async": "flow", "flow": "flow",
             "runtime": "runtime", "driver": "runtime"}


def _class(cat) -> int:
    if not isinstance(cat, str):
        return 0
    if cat in _CLASS_OF:
        return CLASSES[_CLASS_OF[cat]]
    return CLASSES["runtime"] if cat.endswith(("_runtime", "_driver")) else 0


def _int(v):
    if isinstance(v, bool) or v is None:
        return NULL
    if isinstance(v, int):
        return v if -2**63 <= v < 2**63 else NULL
    if isinstance(v, Decimal):
        return int(v)
    if isinstance(v, str):
        try:
            return int(v, 0)
        except ValueError:
            return NULL
    return NULL


def _ns(v) -> int:
    return int((Decimal(v) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _reference(text: bytes) -> dict:
    doc = json.loads(text, parse_float=Decimal)
    events = doc if isinstance(doc, list) else doc["traceEvents"]
    rows = []
    for e in events:
        if not isinstance(e, dict):
            continue
        ph, cls = e.get("ph"), _class(e.get("cat"))
        if not ((ph == "X" and 1 <= cls <= 6) or (ph in ("s", "f", "t") and cls == CLASSES["flow"])):
            continue
        a = e.get("args") if isinstance(e.get("args"), dict) else {}
        ts = NULL if e.get("ts") is None else _ns(e["ts"])
        dur = 0 if e.get("dur") is None else _ns(e["dur"])

        def xyz(key):
            v = a.get(key)
            return [_int(v[i]) if isinstance(v, list) and len(v) > i else NULL for i in range(3)]

        row = dict(zip(COLUMNS, [
            _int(e.get("pid")), _int(e.get("tid")), ts, NULL if ts == NULL else ts + dur, _int(e.get("id")),
            _int(a["correlation"] if "correlation" in a else a.get("correlationId")),
            _int(a["External id"] if "External id" in a else a.get("external id")),
            _int(a.get("device")), _int(a.get("stream")), *xyz("grid"), *xyz("block"),
            _int(a.get("registers per thread")), _int(a.get("shared memory")), _int(a.get("bytes"))]))
        row.update(ph=ord(ph), cls=cls, name=e.get("name") if isinstance(e.get("name"), str) else None,
                   cat=e.get("cat"))
        rows.append(row)
    return {"rows": rows, "events": len(events)}


def _assert_same(path: Path, block_bytes: int = 16 << 20):
    raw = path.read_bytes()
    text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    ref = _reference(text)
    got = scan(path, block_bytes)
    assert got.n_events == ref["events"]
    rows = ref["rows"]
    assert len(got.ph) == len(rows)
    for c in COLUMNS:
        np.testing.assert_array_equal(got.columns[c], np.array([r[c] for r in rows], np.int64), err_msg=c)
    np.testing.assert_array_equal(got.ph, [r["ph"] for r in rows])
    np.testing.assert_array_equal(got.cls, [r["cls"] for r in rows])
    assert list(got.strings[got.name]) == [r["name"] for r in rows]
    assert list(got.strings[got.cat]) == [r["cat"] for r in rows]
    if isinstance(json.loads(text), dict):
        assert got.meta == {k: v for k, v in json.loads(text).items() if k != "traceEvents"}
    return got


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name.split("__")[0])
def test_scanner_equals_reference_on_traces(path: Path):
    _assert_same(path)


def test_event_cut_at_every_block_edge(tmp_path: Path):
    """Blocks of 1 KiB (and 7 bytes for a small trace) cut events, strings and numbers anywhere."""
    largest = max(ALL, key=lambda p: p.stat().st_size) if ALL else pytest.skip("no shared traces")
    got = _assert_same(largest, block_bytes=1 << 10)
    assert got.info["blocks"] > 1000
    small = next(p for p in ALL if p.name.startswith("triton_example"))
    _assert_same(small, block_bytes=7)


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    out = tmp_path / name
    out.write_bytes(text.encode() if isinstance(text, str) else text)
    return out


@pytest.mark.parametrize("style", [(",", ":"), (" ,\n\t ", " :\r\n "), (", ", ": ")])
def test_any_json_spacing(tmp_path: Path, style):
    src = next(p for p in ALL if p.name.startswith("critical_path__cuda_event_sync"))
    doc = json.loads(gzip.decompress(src.read_bytes()))
    _assert_same(_write(tmp_path, "spaced.json", json.dumps(doc, separators=style, indent=None)))


def test_strings_with_separators_escapes_and_unicode(tmp_path: Path):
    src = next(p for p in ALL if p.name.startswith("triton_example"))
    doc = json.loads(gzip.decompress(src.read_bytes()))
    kernels = [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]
    kernels[0]["name"] = 'weird}, {"ph": "X"} kernel \\ "quoted" \u00b5s \U0001f600'
    got = _assert_same(_write(tmp_path, "weird.json", json.dumps(doc)))  # ensure_ascii: \\uXXXX escapes
    assert kernels[0]["name"] in set(got.strings[got.name])
    _assert_same(_write(tmp_path, "utf8.json", json.dumps(doc, ensure_ascii=False)))


def test_edge_values_of_every_field(tmp_path: Path):
    ev = [
        # string ints as int(s, 0) reads them; floats truncated; bools/objects null
        {"ph": "X", "cat": "kernel", "name": "k", "pid": "0x1f", "tid": " 12 ", "ts": 1.5, "dur": 2,
         "args": {"correlation": "7", "device": 1.9, "stream": True, "grid": [1, "2", None, 4],
                  "block": "nope", "bytes": {"a": [1]}, "shared memory": "012", "registers per thread": "1_0"}},
        # correlation present but null wins over correlationId (dict.get); external id fallback
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 10,
         "dur": 1, "args": {"correlation": None, "correlationId": 5, "external id": 9}},
        {"ph": "X", "cat": "cuda_driver", "name": "cuLaunchKernel", "pid": 1, "tid": 1, "ts": -3.0005,
         "args": {"correlationId": 6, "External id": -4, "grid": []}},
        # half to even past the third decimal, many decimals, exponent, null ts, missing dur
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": "Spans", "ts": "@.0465", "dur": 0.0015},
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "ts": "@.0475000001"},
        {"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#1", "ts": 2.5e3, "dur": 1E+1},
        {"ph": "X", "cat": "cpu_op", "name": None, "ts": None},
        # kept: flows of the three kinds; dropped: other ph, other cats, non-objects
        {"ph": "s", "cat": "ac2g", "id": 5, "pid": 1, "tid": 1, "ts": 10, "name": "ac2g"},
        {"ph": "f", "cat": "ac2g", "id": "0x5", "pid": 0, "tid": 7, "ts": 12, "bp": "e"},
        {"ph": "t", "cat": "flow", "id": 99999999999999999999, "ts": 1},
        {"ph": "i", "cat": "cpu_op", "name": "instant", "ts": 1},
        {"ph": "X", "cat": "python_function", "name": "f", "ts": 1},
        {"ph": "X", "name": "no cat", "ts": 1},
        [1, 2], "text", None, 3,
        {"ph": "X", "cat": "Memset", "name": "m", "ts": 1, "args": {"bytes": 9223372036854775807}},
        {},
    ]
    doc = {"schemaVersion": 1, "traceEvents": ev, "deviceProperties": [{"id": 0, "name": "x"}],
           "baseTimeNanoseconds": 1700000000000000000, "nested": {"a": [{"b": [True, False, None, -1.5e-3]}]}}
    # Decimal text no float can hold: written in by hand
    text = json.dumps(doc).replace('"@.', "1712195495519689.").replace('0465"', "0465").replace('0001"', "0001")
    got = _assert_same(_write(tmp_path, "edges.json", text))
    ts = got.columns["start_ns"]
    assert list(ts[3:5]) == [1712195495519689046, 1712195495519689048]  # .0465 -> even, .0475000001 -> up
    assert got.columns["end_ns"][3] - ts[3] == 2  # dur 0.0015 µs -> 1.5 ns -> 2 (even)
    assert got.n_events == len(ev)
    events_text = text[text.index("[", text.index('"traceEvents"')):text.index(', "deviceProperties"')]
    arr = _assert_same(_write(tmp_path, "array.json", events_text))  # Chrome's JSON Array Format
    assert arr.meta == {} and len(arr.ph) == len(got.ph)


@pytest.mark.parametrize("cut", [0.0, 0.01, 0.3, 0.5, 0.77, 0.999])
def test_truncated_file_is_one_trace_error(tmp_path: Path, cut: float):
    src = gzip.decompress(next(p for p in ALL if p.name.startswith("critical_path__alexnet")).read_bytes())
    bad = _write(tmp_path, "cut.json", src[: int(len(src) * cut)])
    with pytest.raises(TraceError, match=r"cut\.json: not a valid JSON trace at byte .*(empty document|truncated)"):
        scan(bad, block_bytes=4096)


@pytest.mark.parametrize("text, why", [
    (b'{"traceEvents": [{"ph": "X", "ts": 1,}]}', "expected a key"),
    (b'{"traceEvents": [{"ph": "X" "ts": 1}]}', "expected ',' or '}'"),
    (b'{"traceEvents": [{"ph": "X", "ts": 01}]}', "expected ',' or '}'"),
    (b'{"traceEvents": [{"ph": "X", "name": "a\x01b"}]}', "control character"),
    (b'{"traceEvents": [{"ph": "X", "name": "a\\qb"}]}', "bad escape"),
    (b'{"traceEvents": [{"ph": "X", "cat": "kernel", "ts": "soon"}]}', "not a number"),
    (b'{"traceEvents": [], "x": tru}', "unexpected character"),
    (b'{"traceEvents": []} {}', "data after the end"),
    (b'{"traceEvents": {}}', "traceEvents is not an array"),
    (b'\x00\x01not json', "not a JSON object or array"),
    (b'{"hello": 1}', "no 'traceEvents' list"),
    (b'{"traceEvents": [{"ph": "X", "cat": "kernel", "name": "\\ud800", "ts": 1}]}', "string .* not valid"),
    (b'{"traceEvents": [{"ph": "X", "cat": "kernel", "name": "\xff", "ts": 1}]}', "not valid UTF-8"),
    (b'   ', "empty document"),
])
def test_malformed_json_is_one_trace_error_with_its_offset(tmp_path: Path, text: bytes, why: str):
    bad = _write(tmp_path, "bad.json", text)
    with pytest.raises(TraceError, match=why) as e:
        scan(bad)
    assert str(e.value).startswith(str(bad))


def test_gzip_damage_and_missing_file(tmp_path: Path):
    src = next(p for p in ALL if p.name.startswith("critical_path__alexnet")).read_bytes()
    with pytest.raises(TraceError, match="truncated gzip"):
        scan(_write(tmp_path, "cut.json.gz", src[:-40]))
    with pytest.raises(TraceError, match="corrupt gzip"):
        scan(_write(tmp_path, "bad.json.gz", src[:100] + b"\xff" * 64 + src[164:]))
    with pytest.raises(TraceError, match="no such trace file"):
        scan(tmp_path / "absent.json")
    two = _write(tmp_path, "two.json.gz", gzip.compress(gzip.decompress(src)[:1000]) +
                 gzip.compress(gzip.decompress(src)[1000:]))  # concatenated gzip members
    assert scan(two).n_events == _reference(gzip.decompress(src))["events"]

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
import re
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import pytest

from lowprof.errors import TraceError
from lowprof.tracers.kineto_scan import CLASSES, COLUMNS, NULL, scan
from tests.conftest import TRACES

KINETO = TRACES / "kineto"
ALL = sorted(KINETO.glob("*.json.gz")) if KINETO.is_dir() else []

_CLASS_OF = {"kernel": "kernel", "Kernel": "kernel", "mtia_ccp_events": "kernel", "gpu_memcpy": "memcpy", "Memcpy": "memcpy",
             "gpu_memset": "memset", "Memset": "memset", "cpu_op": "op", "Operator": "op", "operator": "op",
             "user_annotation": "annotation", "ac2g": "flow", "async": "flow", "async_gpu": "flow", "flow": "flow",
             "runtime": "runtime", "Runtime": "runtime", "driver": "runtime"}


SKIP_REASONS = ("no_ts", "negative_dur", "time_out_of_range")  # why kscan drops an event it would keep
INT32_COLUMNS = ("device", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z", "registers_per_thread")


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
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    nulled: dict[str, int] = {}
    for e in events:
        if not isinstance(e, dict):
            continue
        ph, cls = e.get("ph"), _class(e.get("cat"))
        if not ((ph == "X" and 1 <= cls <= 6) or (ph in ("s", "f", "t") and cls == CLASSES["flow"])):
            continue
        a = e.get("args") if isinstance(e.get("args"), dict) else {}
        ts = None if e.get("ts") is None else _ns(e["ts"])
        dur = 0 if e.get("dur") is None else _ns(e["dur"])
        # an event that cannot be placed on the timeline is dropped and counted (kscan.h: KS_SKIP_*)
        why = None
        if ts is None:
            why = "no_ts"
        elif not (-2**63 < ts < 2**63 and -2**63 < dur < 2**63):
            why = "time_out_of_range"
        elif dur < 0:
            why = "negative_dur"
        elif abs(ts) > 2**62 or ts + dur > 2**62:
            why = "time_out_of_range"
        if why:
            skipped[why] += 1
            continue

        def xyz(key):
            v = a.get(key)
            return [_int(v[i]) if isinstance(v, list) and len(v) > i else NULL for i in range(3)]

        row = dict(zip(COLUMNS, [
            _int(e.get("pid")), _int(e.get("tid")), ts, NULL if ts == NULL else ts + dur, _int(e.get("id")),
            _int(a["correlation"] if "correlation" in a else a.get("correlationId")),
            _int(a["External id"] if "External id" in a else a.get("external id")),
            _int(a.get("device")), _int(a.get("stream")), *xyz("grid"), *xyz("block"),
            _int(a.get("registers per thread")), _int(a.get("shared memory")), _int(a.get("bytes"))]))
        for c in INT32_COLUMNS:  # beyond int32: null, counted
            if row[c] != NULL and not -2**31 <= row[c] < 2**31:
                row[c] = NULL
                nulled[c] = nulled.get(c, 0) + 1
        row.update(ph=ord(ph), cls=cls, name=e.get("name") if isinstance(e.get("name"), str) else None,
                   cat=e.get("cat"))
        rows.append(row)
    meta = {k: v for k, v in json.loads(text).items() if k != "traceEvents"} if isinstance(doc, dict) else None
    return {"rows": rows, "events": len(events), "skipped": {k: v for k, v in skipped.items() if v},
            "nulled": nulled, "meta": meta}


def _text(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


@pytest.fixture(scope="module")
def reference():
    """The reference of a shared trace, computed once for the tests that scan it (whole, and cut into blocks)."""
    cache: dict[Path, dict] = {}

    def of(path: Path) -> dict:
        if path not in cache:
            cache[path] = _reference(_text(path))
        return cache[path]

    return of


def _assert_same(path: Path, block_bytes: int = 16 << 20, ref: dict | None = None):
    """The scanner's columns of ``path`` equal the reference's (``ref``: the reference of this same file)."""
    if ref is None:
        ref = _reference(_text(path))
    got = scan(path, block_bytes)
    assert got.n_events == ref["events"]
    assert got.info.get("skipped_events", {}) == ref["skipped"]
    assert got.info.get("values_out_of_range", {}) == ref["nulled"]
    rows = ref["rows"]
    assert len(got.ph) == len(rows)
    for c in COLUMNS:
        np.testing.assert_array_equal(got.columns[c], np.array([r[c] for r in rows], np.int64), err_msg=c)
    np.testing.assert_array_equal(got.ph, [r["ph"] for r in rows])
    np.testing.assert_array_equal(got.cls, [r["cls"] for r in rows])
    assert list(got.strings[got.name]) == [r["name"] for r in rows]
    assert list(got.strings[got.cat]) == [r["cat"] for r in rows]
    if ref["meta"] is not None:
        assert got.meta == ref["meta"]
    return got


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name.split("__")[0])
def test_scanner_equals_reference_on_traces(path: Path, reference):
    _assert_same(path, ref=reference(path))


@pytest.mark.slow
def test_event_cut_at_every_block_edge(tmp_path: Path, reference):
    """Blocks of 1 KiB (and 7 bytes for a small trace) cut events, strings and numbers anywhere."""
    largest = max(ALL, key=lambda p: p.stat().st_size) if ALL else pytest.skip("no shared traces")
    got = _assert_same(largest, block_bytes=1 << 10, ref=reference(largest))
    assert got.info["blocks"] > 1000
    small = next(p for p in ALL if p.name.startswith("triton_example"))
    _assert_same(small, block_bytes=7, ref=reference(small))


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


# ---- hostile input: linear work, bounded expansion, streams, events that cannot be placed ---------------


class _CountingLib:
    """The scanner's CFFI lib, counting the bytes offered to ks_feed (the scanner's work is bounded by them)."""

    def __init__(self, lib):
        self._lib, self.fed = lib, []

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def ks_feed(self, sc, buf, n, final, consumed):
        self.fed.append(int(n))
        return self._lib.ks_feed(sc, buf, n, final, consumed)


@pytest.fixture
def counting(monkeypatch):
    from lowprof.tracers import kineto_scan

    ffi, lib = kineto_scan._lib()
    c = _CountingLib(lib)
    monkeypatch.setattr(kineto_scan, "_lib", lambda: (ffi, c))
    return c


_EVENT = b'{"ph": "X", "cat": "kernel", "name": "k", "ts": 1, "dur": 2, "pid": 0, "tid": 7}'


@pytest.mark.parametrize("where", ["whitespace in an event", "one long string", "whitespace between events"])
def test_scan_work_is_linear_in_the_input(tmp_path: Path, counting, where: str):
    """24 MiB of whitespace or one 24 MiB string: every byte is offered to the scanner a bounded number of
    times (re-reading from the last event every 2 MiB block made this quadratic: 156 MiB offered)."""
    big = 24 << 20
    if where == "whitespace in an event":
        text = b'{"traceEvents": [' + _EVENT[:-1] + b" " * big + b"}, " + _EVENT + b"]}"
    elif where == "one long string":
        text = b'{"traceEvents": [' + _EVENT[:-1] + b', "args": {"note": "' + b"x" * big + b'"}}, ' + _EVENT + b"]}"
    else:
        text = b'{"traceEvents": [' + _EVENT + b"," + b"\n" * big + _EVENT + b"]}"
    got = _assert_same(_write(tmp_path, "big.json", text), block_bytes=2 << 20)
    assert got.n_events == 2
    assert sum(counting.fed) <= 3 * len(text), f"{sum(counting.fed) / len(text):.1f} x the input offered"
    if where == "whitespace between events":  # nothing unfinished is kept: whitespace is committed as read
        assert max(counting.fed) <= 2 * (2 << 20)
    else:
        assert max(counting.fed) <= 2 * len(text) + (2 << 20)


def _gzip_bomb(path: Path, mib: int) -> Path:
    import zlib

    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        f.write(co.compress(b'{"traceEvents": [' + _EVENT[:-1]))
        for _ in range(mib):
            f.write(co.compress(b" " * (1 << 20)))
        f.write(co.compress(b"}]}") + co.flush())
    return path


def test_gzip_expansion_is_bounded_and_the_bound_can_be_raised(tmp_path: Path, counting):
    """40 MiB of whitespace in a 40 KB .gz (1000x; real traces compress 7-23x) is refused with one error
    before it is all inflated; a raised bound reads it."""
    bomb = _gzip_bomb(tmp_path / "bomb.json.gz", 40)
    ratio = (40 << 20) / bomb.stat().st_size
    assert ratio > 500
    with pytest.raises(TraceError, match=r"bomb\.json\.gz: the gzip stream expands to more than 100 times its size") as e:
        scan(bomb)
    out_mib = float(re.search(r"([\d.]+) MiB out", str(e.value)).group(1))
    assert 16 <= out_mib < 19, str(e.value)  # stopped at the 16 MiB floor (+ one block), not after 40 MiB
    got = scan(bomb, max_expansion=2 * ratio)
    assert got.n_events == 1 and len(got.ph) == 1


def test_every_real_trace_is_within_the_default_expansion_bound():
    from lowprof.tracers.kineto_scan import MAX_EXPANSION

    worst = max(len(gzip.decompress(p.read_bytes())) / p.stat().st_size for p in ALL)
    assert worst * 3 < MAX_EXPANSION, worst


def test_multi_member_gzip_ending_after_an_output_limited_inflate(tmp_path: Path):
    """Two stored (level 0) members, 4 KiB blocks: the first member ends in a call that follows an
    output-limited one, where zlib leaves the next member's bytes in both unused_data and
    unconsumed_tail; they must be fed once (zcat reads this file fine)."""
    import subprocess

    src = next(p for p in ALL if p.name.startswith("critical_path__cuda_event_sync"))
    text = gzip.decompress(src.read_bytes())
    cut = len(text) // 3
    two = _write(tmp_path, "two.json.gz", gzip.compress(text[:cut], 0) + gzip.compress(text[cut:], 0))
    assert subprocess.run(["zcat", str(two)], capture_output=True).stdout == text  # the peer tool's reading
    got = _assert_same(two, block_bytes=4096)
    assert got.n_events == _reference(text)["events"]
    padded = _write(tmp_path, "padded.json.gz", two.read_bytes() + bytes(512))  # tape-block zero padding
    assert scan(padded, 4096).n_events == got.n_events


def test_a_pipe_is_streamed(tmp_path: Path):
    """/dev/fd/N of a pipe (what `<(zcat x)` and a piped /dev/stdin are): read front to back, gzip or not."""
    import os
    import threading

    src = next(p for p in ALL if p.name.startswith("critical_path__alexnet"))
    want = scan(src)
    for data in (src.read_bytes(), gzip.decompress(src.read_bytes())):
        r, w = os.pipe()

        def write(data=data, w=w):
            with open(w, "wb") as f:
                f.write(data)

        t = threading.Thread(target=write)
        t.start()
        try:
            got = scan(f"/dev/fd/{r}")
        finally:
            t.join()
            os.close(r)
        assert got.n_events == want.n_events
        np.testing.assert_array_equal(got.columns["start_ns"], want.columns["start_ns"])


def test_events_that_cannot_be_placed_are_skipped_and_counted(tmp_path: Path):
    """No ts, null ts, negative dur, ts + dur beyond int64 (UBSan: signed overflow), ts beyond 2^62 ns:
    dropped, counted per reason; the others keep their exact ns."""
    lim_us = 2**62 // 1000  # 4611686018427387 µs
    ev = [
        {"ph": "X", "cat": "kernel", "name": "ok", "ts": 100, "dur": 5, "args": {"correlation": 1}},
        {"ph": "X", "cat": "kernel", "name": "no ts", "dur": 5},
        {"ph": "X", "cat": "kernel", "name": "null ts", "ts": None, "dur": 5},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 90, "dur": -1},
        {"ph": "X", "cat": "kernel", "name": "overflow", "ts": 9_000_000_000_000_000, "dur": 9_000_000_000_000_000},
        {"ph": "X", "cat": "kernel", "name": "end past 2^62", "ts": lim_us, "dur": 1},
        {"ph": "X", "cat": "cpu_op", "name": "far past", "ts": -lim_us - 1},
        {"ph": "f", "cat": "ac2g", "id": 1, "pid": 0, "tid": 0},  # a flow without ts: cannot bind to a slice
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 95, "dur": 20},
    ]
    got = _assert_same(_write(tmp_path, "t.json", json.dumps({"traceEvents": ev})))
    assert got.info["skipped_events"] == {"no_ts": 3, "negative_dur": 1, "time_out_of_range": 3}
    assert list(got.strings[got.name]) == ["ok", "aten::mm"]
    assert list(got.columns["start_ns"]) == [100_000, 95_000] and list(got.columns["end_ns"]) == [105_000, 115_000]


def test_int32_fields_beyond_int32_are_null_and_counted(tmp_path: Path):
    ev = [{"ph": "X", "cat": "kernel", "name": "k", "ts": 1, "dur": 1,
           "args": {"grid": [2**31, 1, 1], "block": [-2**31 - 1, 2**31 - 1, 1], "device": 2**40,
                    "registers per thread": 10**30, "stream": 2**40}}]
    got = _assert_same(_write(tmp_path, "t.json", json.dumps({"traceEvents": ev})))
    assert got.info["values_out_of_range"] == {"device": 1, "grid_x": 1, "block_x": 1}  # 10**30: beyond int64 too
    assert got.columns["block_y"][0] == 2**31 - 1 and got.columns["stream"][0] == 2**40


@pytest.mark.parametrize("value", ["1e400", "-5", "1.5", "\"soon\"", "true", "1e30"])
def test_a_base_time_that_is_no_unix_ns_is_ignored_and_said(tmp_path: Path, value: str):
    text = '{"baseTimeNanoseconds": ' + value + ', "traceEvents": [' + _EVENT.decode() + "]}"
    got = scan(_write(tmp_path, "t.json", text))
    assert "baseTimeNanoseconds" not in got.meta
    assert got.info["ignored_metadata"]["baseTimeNanoseconds"].startswith(value)
    ok = scan(_write(tmp_path, "ok.json", text.replace(value, "1700000000000000000", 1)))
    assert ok.meta["baseTimeNanoseconds"] == 1700000000000000000 and "ignored_metadata" not in ok.info


def test_metadata_lowprof_reads_of_another_type_is_ignored_and_said(tmp_path: Path):
    """distributedInfo "x" went into the manifest as trace.distributed and made the run unloadable (found
    by the fuzz test)."""
    text = '{"distributedInfo": "x", "deviceProperties": {}, "displayTimeUnit": 5, "traceEvents": [' + _EVENT.decode() + "]}"
    got = scan(_write(tmp_path, "t.json", text))
    assert got.meta == {}
    assert set(got.info["ignored_metadata"]) == {"distributedInfo", "deviceProperties", "displayTimeUnit"}

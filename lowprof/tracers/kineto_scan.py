"""Read a Kineto trace's events with lowprof's C scanner (``lowprof/native/kscan.c``), streamed.

The file (plain or gzip) is decompressed in blocks and fed to the scanner, which validates the JSON
and keeps, as columns, only the events lowprof uses (see kscan.h); memory grows with those events,
never with the file. Timestamps come back as exact integer ns (the µs decimals as written), ints
with :data:`NULL` for missing values, names and categories as ids into one string table.
A decoding thread inflates the next block while the scanner (which releases the GIL) reads this one.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import math
import os
import queue
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lowprof.errors import TraceError

if TYPE_CHECKING:  # numpy is imported by the functions that build columns: the scan starts before it loads
    import numpy as np

__all__ = ["scan", "Scanned", "NULL", "COLUMNS", "CLASSES", "BLOCK_BYTES", "MAX_EXPANSION", "expansion_limit",
           "problems", "SKIP_REASONS", "importing_meanwhile", "FRAME_MODULES", "arrow_call"]

NULL = -(2**63)  # int64's minimum (np.iinfo(np.int64).min)
BLOCK_BYTES = 2 << 20  # decompressed bytes per block fed to the scanner (small: inflating overlaps scanning)
COLUMNS = ("pid", "tid", "start_ns", "end_ns", "flow_id", "correlation", "external_id", "device", "stream",
           "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z", "registers_per_thread",
           "shared_memory_bytes", "bytes")  # the order of kscan.h's KS_PID ... KS_BYTES
# A .gz may expand to at most MAX_EXPANSION times the compressed bytes read (real Kineto traces: 7-23x),
# and always to EXPANSION_FLOOR_BYTES; a whitespace or long-string bomb stops there with one error.
from lowprof.tracers.scan_limits import MAX_EXPANSION  # noqa: E402 (light: `lowprof import --help` shows it)
EXPANSION_FLOOR_BYTES = 16 << 20
SKIP_REASONS = ("no_ts", "negative_dur", "time_out_of_range")  # the order of kscan.h's KS_SKIP_*
_SKIP_TEXT = {"no_ts": "events without ts", "negative_dur": "events with a negative dur",
              "time_out_of_range": "events with ts or ts + dur beyond +-2^62 ns"}
_MAX_EXPANSION: contextvars.ContextVar[float] = contextvars.ContextVar("max_expansion", default=MAX_EXPANSION)
# What the tables and their Parquet files need (numpy comes with pyarrow), imported while the scanner reads.
FRAME_MODULES = ("numpy", "pyarrow", "pyarrow.parquet")
CLASSES = {"kernel": 1, "memcpy": 2, "memset": 3, "runtime": 4, "op": 5, "annotation": 6, "flow": 7}


@dataclass
class Scanned:
    """The kept events, columnar. ``strings[-1]`` is None, so a -1 id indexes to None."""

    columns: dict[str, np.ndarray]  # int64; NULL where missing
    ph: np.ndarray                  # uint8: ord('X'), ord('s'), ord('f'), ord('t')
    cls: np.ndarray                 # uint8: CLASSES values
    name: np.ndarray                # int32 ids into strings
    cat: np.ndarray
    strings: np.ndarray             # object: str, and None last
    meta: dict                      # the document without traceEvents
    n_events: int                   # every item of traceEvents
    max_ts_decimals: int
    inexact_numbers: int
    info: dict = field(default_factory=dict)  # how it was read, and what was dropped (see problems())
    work: dict = field(default_factory=dict)  # bytes offered to the scanner: fed_bytes, largest_feed_bytes, feeds
    time_range: tuple[int, int] | None = None  # earliest ts, latest ts + dur (ns) of every non-metadata event

    @functools.cached_property
    def strings_arrow(self):
        """``strings`` without the trailing None, as a pyarrow string array (for take)."""
        return arrow_strings(self.strings[:-1])


# pyarrow.array() imports pandas for any numpy or list input (its pandas shim asks whether the values are
# categorical): ``lowprof import`` builds its Arrow arrays from buffers and never pays that import.
def arrow_ints(values: np.ndarray, missing: np.ndarray | None = None):
    """An int32/int64 numpy array as an Arrow array, null where ``missing`` (bool) is True."""
    import numpy as np
    import pyarrow as pa

    values = np.ascontiguousarray(values)
    kind = {np.dtype(np.int64): pa.int64(), np.dtype(np.int32): pa.int32()}[values.dtype]
    nulls = int(missing.sum()) if missing is not None else 0
    valid = pa.py_buffer(np.packbits(~missing, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(kind, len(values), [valid, pa.py_buffer(values)], null_count=nulls)


def arrow_call(function: str, *args):
    """``pyarrow.compute.call_function(function, args)``, called where pyarrow.compute itself is defined
    (pyarrow._compute): importing pyarrow.compute builds a Python wrapper for every Arrow function (~25 ms)."""
    try:
        from pyarrow._compute import call_function
    except ImportError:  # a pyarrow that moved it: the public name
        from pyarrow.compute import call_function
    return call_function(function, list(args))


def arrow_strings(values) -> object:
    """A sequence of str as an Arrow string array (int32 offsets; large text goes through pyarrow.array)."""
    import numpy as np
    import pyarrow as pa

    data = [v.encode("utf-8") for v in values]
    lengths = np.fromiter(map(len, data), np.int64, len(data))
    if lengths.sum() >= 2**31:
        return pa.array(list(values), pa.string())
    offsets = np.zeros(len(data) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


@contextlib.contextmanager
def expansion_limit(ratio: float):
    """Within the block, :func:`scan` lets a .gz expand to ``ratio`` times its size (``--max-expansion``)."""
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio >= 1):
        raise TraceError(f"--max-expansion must be a number >= 1, got {ratio!r}")
    token = _MAX_EXPANSION.set(float(ratio))
    try:
        yield
    finally:
        _MAX_EXPANSION.reset(token)


@contextlib.contextmanager
def importing_meanwhile(*modules: str):
    """Import ``modules`` in a thread while the block runs (the scanner releases the GIL: the imports
    the caller needs next cost no wall time); joined on exit. A module that fails to import is left for
    the caller's own import to report. The scanner's own module is imported first; a module two threads
    ask for is imported once (the other waits on its import lock)."""
    _lib()
    import importlib
    import sys

    todo = [m for m in modules if m not in sys.modules]

    def work():
        for m in todo:
            try:
                importlib.import_module(m)
            except BaseException:  # the caller's import says what is wrong
                return

    t = threading.Thread(target=work, name="lowprof-imports", daemon=True) if todo else None
    if t:
        t.start()
    try:
        yield
    finally:
        if t:
            t.join()


def _lib():
    try:
        from lowprof.native._kscan import ffi, lib
    except ImportError as e:
        raise TraceError(f"lowprof's C trace scanner is not built ({e}); reinstall with `make test` "
                         f"or `pip install -e .`") from None
    return ffi, lib


def _raw_blocks(path: Path, size: int, max_expansion: float):
    """Decompressed blocks of about ``size`` bytes (gzip by magic number, multi-member allowed).

    Reads front to back, never seeks: pipes, ``/dev/stdin`` and ``<(...)`` stream like files. A gzip
    stream may expand to at most ``max_expansion`` times the compressed bytes read so far (and at least
    :data:`EXPANSION_FLOOR_BYTES`); past that it is refused with one TraceError.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise TraceError(f"{path}: no such trace file") from None
    except OSError as e:
        raise TraceError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        try:
            yield from _inflate(f, path, size, max_expansion)
        except OSError as e:
            raise TraceError(f"{path}: cannot read ({e.strerror or e})") from None


def _inflate(f, path: Path, size: int, max_expansion: float):
    head = f.read(2)
    if head != b"\x1f\x8b":
        if chunk := head + f.read(max(1, size - len(head))):
            yield chunk
        while chunk := f.read(size):
            yield chunk
        return
    d, in_member, more = zlib.decompressobj(31), False, False
    inp, read_in, out_bytes = head, len(head), 0
    try:
        while True:
            if not inp and not more:
                inp = f.read(1 << 20)
                if not inp:
                    break
                read_in += len(inp)
            if not in_member and not inp.strip(b"\0"):
                inp = b""  # zero padding after a member (tape blocks): skipped, as gzip does
                continue
            data = d.decompress(inp, size)  # at most `size` bytes out; the rest waits in unconsumed_tail
            in_member = True
            if d.eof:  # a member ends; another may follow (concatenated gzip). The input left over is
                # unused_data (unconsumed_tail repeats it after an output-limited call: not fed twice).
                inp, more = d.unused_data, False
                d, in_member = zlib.decompressobj(31), False
            else:
                inp, more = d.unconsumed_tail, len(data) == size  # output-limited: zlib may hold more
            out_bytes += len(data)
            if out_bytes > max(max_expansion * read_in, EXPANSION_FLOOR_BYTES):
                raise TraceError(
                    f"{path}: the gzip stream expands to more than {max_expansion:g} times its size "
                    f"({_mib(read_in)} read, {_mib(out_bytes)} out): not a trace (real Kineto traces compress "
                    f"5-25x); if it is one, raise the bound with --max-expansion")
            if data:
                yield data
    except zlib.error as e:
        raise TraceError(f"{path}: truncated or corrupt gzip ({e})") from None
    if in_member:
        raise TraceError(f"{path}: truncated gzip (the compressed stream ends early)")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _prefetched(gen, depth: int = 2):
    """Run ``gen`` in a thread, ``depth`` items ahead (zlib releases the GIL while it inflates)."""
    q: queue.Queue = queue.Queue(depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in gen:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as e:  # re-raised in the consumer
            q.put(e)

    t = threading.Thread(target=work, name="lowprof-inflate", daemon=True)
    t.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():  # unblock a put() waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.01)


def scan(path: str | os.PathLike, block_bytes: int = BLOCK_BYTES, max_expansion: float | None = None) -> Scanned:
    """Scan ``path``; every problem with the file is one TraceError naming it and the byte offset.

    ``max_expansion``: how many times its own size a gzip stream may expand to (default
    :func:`expansion_limit`'s, else :data:`MAX_EXPANSION`). Work is linear in the input: an unfinished
    event is offered to the scanner again only once the bytes after it have doubled.
    """
    ffi, lib = _lib()
    path = Path(path)
    ratio = max_expansion if max_expansion is not None else _MAX_EXPANSION.get()
    sc = ffi.gc(lib.ks_new(), lib.ks_free)
    if sc == ffi.NULL:
        raise MemoryError("ks_new")
    consumed = ffi.new("size_t *")
    start, end = ffi.new("size_t *"), ffi.new("size_t *")
    spans: list[bytes] = []
    work = {"fed_bytes": 0, "largest_feed_bytes": 0, "feeds": 0}

    def feed(buf, final: bool) -> int:
        """Offer ``buf`` to the scanner; returns how many bytes of it were used."""
        n, off = len(buf), 0
        work["fed_bytes"] += n
        work["largest_feed_bytes"] = max(work["largest_feed_bytes"], n)
        work["feeds"] += 1
        ptr = ffi.from_buffer("char[]", buf)
        try:
            while True:
                rc = lib.ks_feed(sc, ptr + off, n - off, final, consumed)
                for i in range(lib.ks_nspans(sc)):
                    lib.ks_span(sc, i, start, end)
                    spans.append(bytes(buf[off + start[0]:off + end[0]]))
                off += consumed[0]
                if rc == lib.KS_PAUSE:
                    continue
                if rc == lib.KS_ERROR:
                    msg = ffi.string(lib.ks_error(sc)).decode()
                    raise TraceError(f"{path}: not a valid JSON trace at byte {lib.ks_error_offset(sc):,}: {msg}")
                return off
        finally:
            ffi.release(ptr)

    pending = bytearray()  # the unfinished tail of what was fed, waiting for more bytes
    need = 0               # feed again once pending holds this many bytes (twice what was left over)
    blocks = 0
    for block in _prefetched(_raw_blocks(path, block_bytes, ratio)):
        blocks += 1
        if pending:
            pending += block
            if len(pending) < need:
                continue
            del pending[:feed(pending, final=False)]
        else:
            used = feed(block, final=False)
            pending = bytearray(memoryview(block)[used:])
        need = 2 * len(pending)
    feed(pending, final=True)
    if not lib.ks_has_events(sc):
        raise TraceError(f"{path}: no 'traceEvents' list; not a Chrome/Kineto trace")
    try:
        columns = _columns(ffi, lib, sc)
    except TraceError as e:
        raise TraceError(f"{path}: {e}") from None
    info = {"reader": "kscan", "blocks": blocks}
    skipped = {why: int(lib.ks_skipped(sc, k)) for k, why in enumerate(SKIP_REASONS)}
    nulled = {c: int(lib.ks_nulled(sc, k)) for k, c in enumerate(COLUMNS)}
    meta, ignored = _meta(spans, path)
    if any(skipped.values()):
        info["skipped_events"] = {k: v for k, v in skipped.items() if v}
    if any(nulled.values()):
        info["values_out_of_range"] = {k: v for k, v in nulled.items() if v}
    if ignored:
        info["ignored_metadata"] = ignored
    first, last = ffi.new("int64_t *"), ffi.new("int64_t *")
    time_range = (int(first[0]), int(last[0])) if lib.ks_time_range(sc, first, last) else None
    return Scanned(**columns, meta=meta, n_events=int(lib.ks_events(sc)), time_range=time_range,
                   max_ts_decimals=int(lib.ks_max_ts_decimals(sc)), inexact_numbers=int(lib.ks_inexact_numbers(sc)),
                   info=info, work=work)


def problems(info: dict) -> list[str]:
    """What a scan dropped or ignored (from ``Scanned.info``), one sentence each, for the user to see."""
    out = []
    if info.get("skipped_events"):
        out.append("skipped " + ", ".join(f"{n:,} {_SKIP_TEXT[k]}" for k, n in info["skipped_events"].items()))
    if info.get("values_out_of_range"):
        out.append("stored as null (beyond int32): " +
                   ", ".join(f"{n:,} {k}" for k, n in info["values_out_of_range"].items()))
    for key, why in (info.get("ignored_metadata") or {}).items():
        out.append(f"ignored {key}: {why}")
    return out


def _finite(text: str) -> float | None:
    v = float(text)
    return v if math.isfinite(v) else None  # 1e400: not a number a trace can mean


_META_TYPES = {"distributedInfo": (dict, "an object"), "deviceProperties": (list, "a list"),
               "displayTimeUnit": (str, "a string")}


def _text(v) -> str:
    t = json.dumps(v)
    return t if len(t) <= 40 else t[:37] + "..."


def _meta(spans: list[bytes], path: Path) -> tuple[dict, dict]:
    """The top-level members other than traceEvents, and the ones ignored (name -> why)."""
    try:
        meta = json.loads(b"{" + b",".join(spans) + b"}", parse_float=_finite)
    except (ValueError, UnicodeDecodeError) as e:  # the scanner validated it; invalid UTF-8 is what is left
        raise TraceError(f"{path}: trace metadata is not valid JSON ({e})") from None
    ignored = {}
    dp = meta.get("deviceProperties")
    if isinstance(dp, str) and dp.lstrip().startswith("[") and len(dp) <= 1 << 20:
        # Some Kineto versions wrote deviceProperties as the Python repr of the list: read it as a literal.
        import ast

        try:
            v = ast.literal_eval(dp)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            v = None
        if isinstance(v, list):
            meta["deviceProperties"] = v
    for key, kind in _META_TYPES.items():  # what lowprof reads from the metadata, of the type it reads
        if key in meta and not isinstance(meta[key], kind[0]):
            ignored[key] = f"{_text(meta[key])} is not {kind[1]}"
            del meta[key]
    if "baseTimeNanoseconds" in meta:
        base = meta["baseTimeNanoseconds"]
        ok = isinstance(base, (int, float)) and not isinstance(base, bool) and 0 <= base <= 2**62 and base == int(base)
        if not ok:
            text = next((s for s in spans if s.startswith(b'"baseTimeNanoseconds"')), b"").partition(b":")[2].strip()
            ignored["baseTimeNanoseconds"] = (f"{text[:40].decode('utf-8', 'replace')} is not a Unix time in ns "
                                              f"(an integer in 0..2^62); the run has no Unix time")
            del meta["baseTimeNanoseconds"]
    return meta, ignored


def _columns(ffi, lib, sc) -> dict:
    """Copy the scanner's columns out (it is freed with ``sc``)."""
    import numpy as np

    n = int(lib.ks_rows(sc))

    def arr(ptr, dtype) -> np.ndarray:
        if n == 0:
            return np.zeros(0, dtype)
        return np.frombuffer(ffi.buffer(ptr, n * np.dtype(dtype).itemsize), dtype).copy()

    strings = np.empty(lib.ks_nstrings(sc) + 1, dtype=object)
    size, esc = ffi.new("size_t *"), ffi.new("int *")
    for i in range(len(strings) - 1):
        raw = ffi.unpack(lib.ks_string(sc, i, size, esc), size[0])
        strings[i] = _decode(raw, bool(esc[0]))
    return {
        "columns": {c: arr(lib.ks_col(sc, k), np.int64) for k, c in enumerate(COLUMNS)},
        "ph": arr(lib.ks_ph(sc), np.uint8), "cls": arr(lib.ks_cls(sc), np.uint8),
        "name": arr(lib.ks_name(sc), np.int32), "cat": arr(lib.ks_cat(sc), np.int32),
        "strings": strings,
    }


def _decode(raw: bytes, escaped: bool) -> str:
    if escaped:
        try:
            text = json.loads(b'"' + raw + b'"')
            text.encode("utf-8")  # a lone surrogate escape (\\ud800) is not text
            return text
        except (ValueError, UnicodeError) as e:
            raise TraceError(f"a string in the trace is not valid ({e})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TraceError(f"a string in the trace is not valid UTF-8 ({e})") from None

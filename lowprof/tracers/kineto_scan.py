"""Read a Kineto trace's events with lowprof's C scanner (``lowprof/native/kscan.c``), streamed.

The file (plain or gzip) is decompressed in blocks and fed to the scanner, which validates the JSON
and keeps, as columns, only the events lowprof uses (see kscan.h); memory grows with those events,
never with the file. Timestamps come back as exact integer ns (the µs decimals as written), ints
with :data:`NULL` for missing values, names and categories as ids into one string table.
A decoding thread inflates the next block while the scanner (which releases the GIL) reads this one.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lowprof.errors import TraceError

__all__ = ["scan", "Scanned", "NULL", "COLUMNS", "CLASSES", "BLOCK_BYTES"]

NULL = np.iinfo(np.int64).min
BLOCK_BYTES = 2 << 20  # decompressed bytes per block fed to the scanner (small: inflating overlaps scanning)
COLUMNS = ("pid", "tid", "start_ns", "end_ns", "flow_id", "correlation", "external_id", "device", "stream",
           "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z", "registers_per_thread",
           "shared_memory_bytes", "bytes")  # the order of kscan.h's KS_PID ... KS_BYTES
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
    info: dict = field(default_factory=dict)

    @functools.cached_property
    def strings_arrow(self):
        """``strings`` without the trailing None, as a pyarrow string array (for take)."""
        import pyarrow as pa

        return pa.array(self.strings[:-1], pa.string())


def _lib():
    try:
        from lowprof.native._kscan import ffi, lib
    except ImportError as e:
        raise TraceError(f"lowprof's C trace scanner is not built ({e}); reinstall with `make test` "
                         f"or `pip install -e .`") from None
    return ffi, lib


def _raw_blocks(path: Path, size: int):
    """Decompressed blocks of about ``size`` bytes (gzip by magic number, multi-member allowed)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise TraceError(f"{path}: no such trace file") from None
    except OSError as e:
        raise TraceError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        head = f.read(2)
        f.seek(0)
        if head != b"\x1f\x8b":
            while chunk := f.read(size):
                yield chunk
            return
        d, fed, inp = zlib.decompressobj(31), False, b""
        try:
            while inp or (inp := f.read(1 << 20)):
                data = d.decompress(inp, size)  # at most `size` bytes out; the rest waits in unconsumed_tail
                fed, inp = True, d.unconsumed_tail
                if d.eof:  # a member ends; another may follow (concatenated gzip)
                    inp = d.unused_data + inp
                    d, fed = zlib.decompressobj(31), False
                if data:
                    yield data
        except zlib.error as e:
            raise TraceError(f"{path}: truncated or corrupt gzip ({e})") from None
        if fed:
            raise TraceError(f"{path}: truncated gzip (the compressed stream ends early)")


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


def scan(path: str | os.PathLike, block_bytes: int = BLOCK_BYTES) -> Scanned:
    """Scan ``path``; every problem with the file is one TraceError naming it and the byte offset."""
    ffi, lib = _lib()
    path = Path(path)
    sc = ffi.gc(lib.ks_new(), lib.ks_free)
    if sc == ffi.NULL:
        raise MemoryError("ks_new")
    consumed = ffi.new("size_t *")
    start, end = ffi.new("size_t *"), ffi.new("size_t *")
    spans: list[bytes] = []
    pending = b""
    blocks = 0

    def feed(buf: bytes, final: bool) -> bytes:
        view, off = memoryview(buf), 0
        while True:
            rc = lib.ks_feed(sc, ffi.from_buffer(view[off:]), len(buf) - off, final, consumed)
            for i in range(lib.ks_nspans(sc)):
                lib.ks_span(sc, i, start, end)
                spans.append(bytes(view[off + start[0]:off + end[0]]))
            off += consumed[0]
            if rc == lib.KS_PAUSE:
                continue
            if rc == lib.KS_ERROR:
                msg = ffi.string(lib.ks_error(sc)).decode()
                raise TraceError(f"{path}: not a valid JSON trace at byte {lib.ks_error_offset(sc):,}: {msg}")
            return bytes(view[off:]) if off < len(buf) else b""

    for block in _prefetched(_raw_blocks(path, block_bytes)):
        pending = feed(pending + block if pending else block, final=False)
        blocks += 1
    feed(pending, final=True)
    if not lib.ks_has_events(sc):
        raise TraceError(f"{path}: no 'traceEvents' list; not a Chrome/Kineto trace")
    try:
        columns = _columns(ffi, lib, sc)
    except TraceError as e:
        raise TraceError(f"{path}: {e}") from None
    return Scanned(**columns, meta=_meta(spans, path), n_events=int(lib.ks_events(sc)),
                   max_ts_decimals=int(lib.ks_max_ts_decimals(sc)), inexact_numbers=int(lib.ks_inexact_numbers(sc)),
                   info={"reader": "kscan", "blocks": blocks})


def _meta(spans: list[bytes], path: Path) -> dict:
    try:
        return json.loads(b"{" + b",".join(spans) + b"}")
    except (ValueError, UnicodeDecodeError) as e:  # the scanner validated it; invalid UTF-8 is what is left
        raise TraceError(f"{path}: trace metadata is not valid JSON ({e})") from None


def _columns(ffi, lib, sc) -> dict:
    """Copy the scanner's columns out (it is freed with ``sc``)."""
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

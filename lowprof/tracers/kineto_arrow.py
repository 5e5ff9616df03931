"""Columnar, streaming read of a Kineto trace's ``traceEvents`` with pyarrow's JSON reader.

Never builds a Python object per event: the decompressed file is read in blocks of ``block_bytes``;
inside the ``"traceEvents": [...]`` array every newline becomes a space (raw newlines cannot occur
inside JSON strings, so this only removes whitespace) and every object separator ``} , {`` becomes
``}\\n{``, which turns the array into newline-delimited JSON. ``pyarrow.json.read_json`` parses each
block with an explicit schema of only the fields lowprof uses, and each block is cut down at once to
the events lowprof keeps (``X`` slices of GPU, runtime/driver, op and annotation categories; flow
events), so memory grows with the kept events, not with the file.

String-valued ``pid``/``tid``/``id`` (Kineto writes ``"pid": "Spans"`` for its own spans) are renamed
to ``PID``/``TID``/``ID`` before parsing so each column keeps one type; an ``args`` field that
turns out to hold strings in some events (``"stream": "..."`` in ROCm traces, a Triton ``"grid"``
formula) is renamed the same way once arrow reports it, and the block is parsed again. Anything this reader
does not expect (a separator inside a string, an ``args`` field of another type, a JSON Array Format
file, a damaged file) makes the parse fail loudly with :class:`Unsupported`, and the caller falls
back to the exact per-event parser; it never yields a silently different table.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

__all__ = ["read_events", "list_items", "Unsupported", "SCHEMA", "BLOCK_BYTES"]

BLOCK_BYTES = 16 << 20  # decompressed bytes per parsed block: bounds the transient memory
_I = pa.int64()
ARG_INTS = ("correlation", "correlationId", "External id", "external id", "device", "stream",
            "registers per thread", "shared memory", "bytes")
# Each int field also has a string twin, the key with its case swapped: a string value is renamed to it before
# parsing (same length, so the rename is an in-place bytes.replace).
ARGS = pa.struct([(k, _I) for k in ARG_INTS] + [(k.swapcase(), pa.string()) for k in ARG_INTS]
                 + [("grid", pa.list_(_I)), ("block", pa.list_(_I))])
_ALWAYS_RENAMED = ("pid", "tid", "id")  # Kineto's own spans have "pid": "Spans"; check every block
_RENAMABLE = set(_ALWAYS_RENAMED) | set(ARG_INTS) | {"grid", "block"}  # renamed once a block needs it
SCHEMA = pa.schema([
    ("ph", pa.string()), ("cat", pa.string()), ("name", pa.string()),
    ("pid", _I), ("tid", _I), ("PID", pa.string()), ("TID", pa.string()),
    ("ts", pa.float64()), ("dur", pa.float64()), ("id", _I), ("ID", pa.string()), ("args", ARGS),
])
assert len(set(ARGS.names)) == len(ARGS.names) and len(set(SCHEMA.names)) == len(SCHEMA.names)  # arrow crashes on duplicates
_PARSE = pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="ignore", newlines_in_values=False)
_START = re.compile(rb'"traceEvents"\s*:\s*\[\s*')
_END = re.compile(rb"\}\s*\](?=\s*[,}])")
_SEP = re.compile(rb"\}\s*,\s*\{")
_CHANGED = re.compile(r"Column\(/(?:args/)?([^)]+)\) changed from \w+ to string")


class Unsupported(Exception):
    """This file is not in the shape the columnar reader handles; use the per-event parser."""


def _blocks(path: Path, size: int):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    try:
        with opener(path, "rb") as f:
            while True:
                held = [f.read(size)]  # popped on yield: the generator keeps no reference to the block
                if not held[0]:
                    return
                yield held.pop()
    except (OSError, EOFError) as e:  # damaged gzip: the exact parser words the error
        raise Unsupported(str(e)) from None


_TO_LINES = bytes.maketrans(b"\n\r\x00", b"  \n")


def _ndjson_exact(body: bytes, renamed: tuple[str, ...]) -> bytes:
    """Fast path: separators and keys as Kineto and json.dump write them (bytes.replace only).

    The separator style (Kineto's ``},\\n  {``, json.dump's ``}, {`` or compact ``},{``) and the
    colon style (``": "`` or ``":"``) are taken from the first MiB; separators become NUL (which cannot occur raw in JSON), then one translate
    turns newlines into spaces and NUL into newlines. String values of the ``renamed`` keys move to
    the key with its case swapped. A file mixing styles fails to parse and goes to :func:`_ndjson_regex`.
    """
    sample = body[: 1 << 20]
    sep = next((s for s in (b"},\n  {", b"}, {", b"},{") if s in sample), b"},{")
    colon = b'": "' if b'": ' in sample else b'":"'
    # Same-length replacements: CPython then copies once and patches in place.
    body = body.replace(sep, b"}\x00" + b" " * (len(sep) - 3) + b"{").translate(_TO_LINES)
    for k in renamed:
        key = b'"' + k.encode() + colon
        if key in body:
            body = body.replace(key, b'"' + k.swapcase().encode() + colon)
    return body


def _ndjson_regex(body: bytes, renamed: tuple[str, ...]) -> bytes:
    """Any whitespace around separators and keys (slower regular expressions)."""
    body = _SEP.sub(b"}\n{", body.translate(_TO_LINES))
    keys = b"|".join(re.escape(k.encode()) for k in renamed)
    return re.sub(rb'"(' + keys + rb')"(?=\s*:\s*")', lambda m: m.group(0).swapcase(), body)


class _Restart(Exception):
    """Read the file again: a key needs renaming, or the exact conversion does not fit this file."""


def _parse(holder: list, keep, info: dict) -> tuple[pa.Table, int]:
    """One block of events (popped from ``holder``, so it can be freed early) -> (kept rows, rows parsed)."""
    convert = _ndjson_regex if info["mode"] == "regex" else _ndjson_exact
    text = convert(holder.pop(), info["renamed"])
    try:
        t = pj.read_json(pa.BufferReader(text), parse_options=_PARSE,
                         read_options=pj.ReadOptions(block_size=max(1 << 20, len(text) // 4 + 1)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        m = _CHANGED.search(str(e))
        if m and m.group(1) in _RENAMABLE and m.group(1) not in info["renamed"]:
            info["renamed"] = info["renamed"] + (m.group(1),)
            raise _Restart from None
        if info["mode"] == "exact":
            info["mode"] = "regex"
            raise _Restart from None
        raise Unsupported(str(e)) from None
    del text
    info["blocks"] += 1
    info["regex_blocks"] += info["mode"] == "regex"
    return t.filter(keep(t)), t.num_rows


def _last_separator(buf: bytes, pos: int, window: int = 1 << 20):
    last = None
    for m in _SEP.finditer(buf, max(pos, len(buf) - window)):
        last = m
    return last


def read_events(path: str | os.PathLike, keep, block_bytes: int = BLOCK_BYTES) -> tuple[pa.Table, bytes, int, dict]:
    """Read ``path`` block by block; returns (kept events, the document without its events, event count, info).

    ``keep(table) -> boolean mask`` selects the rows to keep from each parsed block. The second value
    is the document's JSON with ``traceEvents`` emptied, for its metadata; ``info`` counts the blocks
    parsed, those that needed the regular-expression conversion, and the args keys renamed. When a
    block shows that a key needs renaming or that the exact conversion does not fit, the file is read
    again from the start with that knowledge (at most once per key). Raises :class:`Unsupported`.
    """
    info = {"mode": "exact", "renamed": _ALWAYS_RENAMED}
    for _ in range(len(_RENAMABLE) + 2):
        info.update(blocks=0, regex_blocks=0)
        try:
            table, rest, n = _read_events(Path(path), keep, block_bytes, info)
        except _Restart:
            continue
        info["renamed"] = [k for k in info["renamed"] if k not in _ALWAYS_RENAMED]
        del info["mode"]
        return table, rest, n, info
    raise Unsupported("too many re-reads")


def _read_events(path: Path, keep, block_bytes: int, info: dict) -> tuple[pa.Table, bytes, int]:
    head = None
    buf = b""
    parts: list[pa.Table] = []
    n = 0
    blocks = _blocks(path, block_bytes)
    tail = None
    for block in blocks:
        buf = buf + block if buf else block  # no copy of a lone block
        del block
        pos = 0
        if head is None:
            m = _START.search(buf)
            if m is None:
                if len(buf) > 4 * block_bytes:
                    raise Unsupported("no traceEvents array near the start")
                continue
            head, pos = buf[:m.end()], m.end()
            if buf[pos:pos + 1] != b"{":
                raise Unsupported("traceEvents does not start with an object")
        end = _END.search(buf, pos)
        if end is not None:
            tail = buf[end.end():]
            holder = [buf[pos:end.start() + 1]]
            buf = b""
            t, k = _parse(holder, keep, info)
            parts.append(t)
            n += k
            break
        sep = _last_separator(buf, pos)
        if sep is None:
            buf = buf[pos:]
            continue
        holder = [buf[pos:sep.start() + 1]]
        buf = buf[sep.end() - 1:]
        t, k = _parse(holder, keep, info)
        parts.append(t)
        n += k
    if head is None or tail is None:
        raise Unsupported("traceEvents array not closed")
    rest = io.BytesIO()
    rest.write(head[:head.rindex(b"[")] + b"[]" + tail)
    for block in blocks:
        rest.write(block)
    tables = [p for p in parts if p.num_rows] or parts[:1]
    return pa.concat_tables(tables), rest.getvalue(), n


def list_items(col, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Items 0..n-1 of each list of an int64 list column, as (values, null mask) numpy pairs.

    A row's item is null where the list is null, shorter than the index, or holds a null there.
    """
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    off = arr.offsets.to_numpy()
    flat = arr.values
    vals = pc.fill_null(flat, 0).to_numpy()
    vnull = flat.is_null().to_numpy(zero_copy_only=False)
    length = np.diff(off)
    rownull = arr.is_null().to_numpy(zero_copy_only=False)
    out = []
    for i in range(n):
        ok = (length > i) & ~rownull
        idx = np.where(ok, off[:-1] + i, 0)
        v = vals[idx] if len(vals) else np.zeros(len(idx), np.int64)
        m = ~ok | (vnull[idx] if len(vals) else True)
        out.append((np.where(m, 0, v).astype(np.int64), np.asarray(m, bool)))
    return out

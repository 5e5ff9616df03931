"""Opening the files of a run directory safely: regular files only, bounded JSON, nothing outside it.

A run directory is data someone handed over: ``manifest.json`` may be a symlink to ``/dev/zero`` (reads
without end), a FIFO (an open that blocks for ever), a directory, or gigabytes; a table may be a
symlink out of the run directory. Every reader goes through :func:`check_regular` (stat, then open
with O_NONBLOCK and check again: a FIFO swapped in between cannot block) and :func:`read_json`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from lowprof.errors import RunDirError
from lowprof.rundir.schema import MAX_DEPTH, depth, errors

__all__ = ["JSON_MAX_BYTES", "check_regular", "open_regular", "read_json", "check_schema", "inside"]

JSON_MAX_BYTES = 64 << 20  # manifest.json / sweep.json: lowprof writes a few KiB to a few MiB

_KINDS = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def inside(path: Path, root: Path) -> bool:
    """True when ``path``, symlinks resolved, lies within ``root`` (also resolved)."""
    try:
        return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))
    except (OSError, ValueError):
        return False


def check_regular(path: Path, *, root: Path | None = None, what: str = "file") -> os.stat_result:
    """stat ``path`` and refuse, with one RunDirError, anything but a regular file (inside ``root``)."""
    if root is not None and not inside(path, root):
        raise RunDirError(f"{path}: a symlink out of the run directory ({os.path.realpath(path)}); not followed")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise RunDirError(f"{path}: missing (a dangling symlink?)") from None
    except OSError as e:
        raise RunDirError(f"{path}: cannot read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise RunDirError(f"{path}: {_kind(st.st_mode)}, not a regular {what}; not read")
    return st


def open_regular(path: Path, *, root: Path | None = None, what: str = "file"):
    """``open(path, "rb")`` after :func:`check_regular`; the open never blocks on a FIFO swapped in."""
    check_regular(path, root=root, what=what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise RunDirError(f"{path}: cannot read ({e.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise RunDirError(f"{path}: {_kind(st.st_mode)}, not a regular {what}; not read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_json(path: Path, *, schema: dict | None = None, limit: int = JSON_MAX_BYTES, root: Path | None = None):
    """A JSON document from a regular file of at most ``limit`` bytes, UTF-8, nested at most MAX_DEPTH,
    and (given ``schema``) of that shape; every problem is one RunDirError, one line per schema error."""
    with open_regular(path, root=root) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise RunDirError(f"{path}: larger than {limit >> 20} MiB; not a lowprof file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RunDirError(f"{path}: not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start})") from None
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path}: corrupt JSON at line {e.lineno} column {e.colno} ({e.msg})") from None
    except ValueError as e:  # NaN / Infinity
        raise RunDirError(f"{path}: corrupt JSON ({e})") from None
    except RecursionError:
        raise RunDirError(f"{path}: nested too deeply to be a lowprof file") from None
    if depth(doc) > MAX_DEPTH:
        raise RunDirError(f"{path}: nested deeper than {MAX_DEPTH} levels; not a lowprof file")
    if schema is not None:
        check_schema(path, doc, schema)
    return doc


def check_schema(path: Path, doc, schema: dict) -> None:
    """One RunDirError listing, one line each, every way ``doc`` (read from ``path``) breaks ``schema``."""
    problems = errors(doc, schema)
    if problems:
        n = len(problems)
        raise RunDirError(f"{path}: does not match its schema ({schema.get('title', '')}; {n} problem"
                          f"{'s' if n > 1 else ''}):\n  " + "\n  ".join(problems[:20])
                          + (f"\n  ... and {n - 20} more" if n > 20 else ""))


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")

"""What a file to import is, from its first bytes: an nsys SQLite export, a power log (else: a Kineto trace).

Light at import (stdlib and lowprof.errors): ``lowprof import`` sniffs before the readers load.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from lowprof.errors import TraceError

__all__ = ["is_sqlite", "sniff_power_log", "decode", "field_name", "TIME_COLS"]

TIME_COLS = ("t_s", "t_ns", "unix_s", "unix_ns")  # the time columns of a plain power CSV


def is_sqlite(path: str | os.PathLike) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def decode(raw: bytes) -> str:
    """A log's bytes as text: UTF-16 where it starts with a UTF-16 byte-order mark (PowerShell's ``>``), else
    UTF-8 with a leading BOM dropped (Windows editors); "" for other binary data (NUL bytes)."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return raw[:len(raw) // 2 * 2].decode("utf-16", errors="replace")
    if b"\0" in raw:
        return ""
    return raw.decode("utf-8", errors="replace").removeprefix("\ufeff")


def head(path: Path, n: int = 4096) -> str:
    try:
        with open(path, "rb") as f:
            raw = f.read(n)
    except OSError as e:
        raise TraceError(f"{path}: {e.strerror or e}") from None
    return decode(raw)


def field_name(field: str) -> str:
    """An nvidia-smi CSV header field as a name: ``" power.draw [W]"`` -> ``power.draw`` (lower case, no unit)."""
    return re.sub(r"\s*\[.*\]$", "", field.strip().lower())


def sniff_power_log(path: str | os.PathLike) -> str | None:
    """Which power-log format ``path`` is (one of :data:`lowprof.probes.power_logs.FORMATS`), or None when it
    is not one."""
    text = head(Path(path))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    first = lines[0]
    if first.startswith("#") and re.search(r"\bgpu\b", first.lower()) and (" pwr" in first or " sm" in first):
        return "nvidia-smi-dmon"
    names = [field_name(f) for f in first.split(",")]
    if any(n.startswith(("power.draw", "module.power.draw")) for n in names) or (
            "timestamp" in names and any("." in n for n in names)):
        return "nvidia-smi-csv"
    if any(n in TIME_COLS for n in names) and len(names) >= 2:
        return "power-csv"
    return None

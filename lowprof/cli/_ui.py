"""Console helpers shared by the commands: one stdout console for results, one stderr for chatter."""

from __future__ import annotations

import json
import os
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["out", "err", "note", "table", "print_json", "fmt_bytes", "fmt_s"]


def _piped_width(stream) -> int | None:
    """Width for output that is not a terminal: wide enough that no table column is squeezed (rich
    would assume 80; tables only take the width they need). A terminal or $COLUMNS decides otherwise."""
    if os.environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return 250


out = Console(highlight=False, soft_wrap=True, width=_piped_width(sys.stdout))
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_piped_width(sys.stderr))


def note(msg: str, quiet: bool = False) -> None:
    """A one-line status message on stderr, prefixed with ``lowprof:``."""
    if not quiet:
        err.print(f"[dim]lowprof:[/] {msg}")


def table(title: str | None, columns: list[str], rows: list[list], *, right: set[int] | None = None) -> Table:
    """A rich table; title and cells are plain text (paths, kernel and probe names are data, never markup)."""
    t = Table(title=None if title is None else Text(title), title_justify="left", title_style="bold",
              header_style="bold")
    right = right or set()
    for i, c in enumerate(columns):
        t.add_column(c, justify="right" if i in right else "left")
    for r in rows:
        t.add_row(*(Text("" if v is None else str(v)) for v in r))
    return t


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def fmt_s(s: float | None) -> str:
    """Seconds with a unit that keeps 3 significant figures (ns to s)."""
    if s is None:
        return "-"
    a = abs(s)
    if a >= 1 or a == 0:
        return f"{s:.3g} s" if a < 1000 else f"{s:.0f} s"
    if a >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    if a >= 1e-6:
        return f"{s * 1e6:.3g} µs"
    return f"{s * 1e9:.3g} ns"

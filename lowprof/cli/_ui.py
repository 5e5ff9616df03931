"""Console helpers shared by the commands: one stdout console for results, one stderr for chatter."""

from __future__ import annotations

import math
import os
import re
import sys

__all__ = ["out", "err", "note", "table", "print_json", "fmt_bytes", "fmt_s"]


from lowprof.console import err, fmt_s, note, out  # noqa: F401 (the consoles live below cli/: recorders print too)


_NUMBER = re.compile(r"^[-+]?(\d[\d,]*\.?\d*|\.\d+)")


def _is_numeric(cells: list[str]) -> bool:
    """A column of figures: every non-empty cell starts with a number (``4.2 ms``, ``12 %``, ``1.3x``) or is ``-``."""
    filled = [c for c in cells if c.strip() and c.strip() != "-"]
    return bool(filled) and all(_NUMBER.match(c.strip()) for c in filled)


def shorten_middle(names: list[str], width: int) -> list[str]:
    """Each name cut to ``width`` characters by replacing its middle with '…' (the start and the end of a
    kernel name tell kernels apart); distinct names stay distinct where the width allows (the cut moves
    towards the end until they do), else they are kept whole (the cell wraps)."""
    if width < 3 or all(len(n) <= width for n in names):
        return list(names)
    keep = width - 1
    for head in range(keep - keep // 3, 0, -1):  # first try 2/3 start, 1/3 end; then more of the end
        tail = keep - head
        cut = [n if len(n) <= width else n[:head] + "…" + (n[-tail:] if tail else "") for n in names]
        if len(set(cut)) == len(set(names)):
            return cut
    # names alike at both ends (generated GEMM kernels): start … where it first differs from the others … end
    distinct = sorted(set(names))
    first_diff = {}
    for k, n in enumerate(distinct):
        near = [distinct[j] for j in (k - 1, k + 1) if 0 <= j < len(distinct)]  # sorted: the closest prefixes
        first_diff[n] = max((len(os.path.commonprefix([n, m])) for m in near), default=0)
    a = max(1, (width - 2) // 4)
    t = max(1, (width - 2) // 4)
    mid = width - 2 - a - t
    cut = []
    for n in names:
        d = first_diff[n]
        if len(n) <= width:
            cut.append(n)
        elif d < a + mid:  # the difference is already in the start
            cut.append(n[:a + mid + 1] + "…" + n[-(t):])
        else:
            lo = min(max(a, d - mid // 2), len(n) - t - mid)
            cut.append(n[:a] + "…" + n[lo:lo + mid] + "…" + n[-t:])
    if len(set(cut)) == len(set(names)):
        return cut
    return list(names)


PROSE = 40  # a cell longer than this is a sentence, not a figure (FitTable wraps its column)


class FitTable:
    """A table that fits the width it is printed at without ever cutting a figure: columns of numbers
    keep their whole width; text columns (names) share what is left, shortened in the middle; when the
    numbers alone are too wide, the columns are split over several tables, each repeating the first.
    Names (``names`` columns) are shortened in the middle; prose columns wrap."""

    def __init__(self, title: str | None, columns: list[str], rows: list[list[str]], right: set[int],
                 names: set[int]) -> None:
        self.title, self.columns, self.rows, self.right, self.names = title, columns, rows, right, names

    def _table(self, cols: list[int], rows: list[list[str]], title: str | None, widths: dict[int, int]):
        from rich.table import Table
        from rich.text import Text

        t = Table(title=None if title is None else Text(title), title_justify="left", title_style="bold",
                  header_style="bold")
        for i in cols:  # a set width: cells fit it (figures whole, names shortened); a header wraps at spaces
            t.add_column(Text(self.columns[i]), justify="right" if i in self.right else "left",
                         width=widths[i], overflow="fold")
        for r in rows:
            t.add_row(*(Text(r[i]) for i in cols))
        return t

    def __rich_console__(self, console, options):
        width = options.max_width
        n = len(self.columns)
        cells = [[r[i] if i < len(r) else "" for i in range(n)] for r in self.rows]
        # a column of figures keeps its width; one with sentences in it (a reason, a note: longer than
        # PROSE characters) wraps at spaces instead, even where its cells start with a number
        numeric = {i for i in range(n) if (i in self.right or _is_numeric([r[i] for r in cells]))
                   and not any(len(ln) > PROSE for r in cells for ln in r[i].splitlines())}

        def natural(i: int) -> int:  # widest line of a cell, or the header's widest word (a header wraps)
            lines = [ln for r in cells for ln in r[i].splitlines()] or [""]
            return max(max(map(len, lines)), max(map(len, self.columns[i].split() or [""])), 1)

        nat = {i: natural(i) for i in range(n)}
        least = {i: nat[i] if i in numeric else min(nat[i], 12) for i in range(n)}  # names: 12 characters at least

        def cost(cols) -> int:  # rich's padding (1 + 1) and one border per column, plus the last border
            return sum(least[i] for i in cols) + 3 * len(cols) + 1

        groups = [list(range(n))]
        if cost(range(n)) > width and n > 1:  # split: the first column (the row's name) heads every part
            groups, cur = [], [0]
            for i in range(1, n):
                if cost([*cur, i]) > width and len(cur) > 1:
                    groups.append(cur)
                    cur = [0]
                cur.append(i)
            groups.append(cur)
        for k, cols in enumerate(groups):
            tcols = [i for i in cols if i not in numeric]
            room = width - (sum(nat[i] for i in cols if i in numeric) + 3 * len(cols) + 1)
            widths = {i: nat[i] for i in cols if i in numeric}
            widths |= _share({i: nat[i] for i in tcols}, room, {i: least[i] for i in tcols})
            rows = [list(r) for r in cells]
            for i in tcols:
                if i not in self.names:  # prose (notes, reasons): wraps at spaces, never shortened
                    continue
                for r, v in zip(rows, shorten_middle([r[i] for r in cells], widths[i])):
                    r[i] = v
            title = self.title if k == 0 else (f"{self.title} (continued)" if self.title else None)
            yield self._table(cols, rows, title, widths)


def _share(natural: dict[int, int], room: int, least: dict[int, int]) -> dict[int, int]:
    """Widths for text columns in ``room`` characters: the widest are narrowed first (water-filling),
    none below ``least``."""
    w = dict(natural)
    while w and sum(w.values()) > room:
        movable = [i for i in w if w[i] > least[i]]
        if not movable:
            break
        top = max(w[i] for i in movable)
        for i in movable:
            if w[i] == top and sum(w.values()) > room:
                w[i] -= 1
    return w


def table(title: str | None, columns: list[str], rows: list[list], *, right: set[int] | None = None,
          names: set[int] | None = None) -> FitTable:
    """A table; title, headers and cells are plain text (paths, kernel and probe names are data, never
    markup); figures are never cut at any width (see :class:`FitTable`). ``names``: the text columns
    that are shortened in the middle when space is short (default: the first); others wrap."""
    return FitTable(title, list(columns), [[("" if v is None else str(v)) for v in r] for r in rows], set(right or ()),
                    {0} if names is None else set(names))


def _strict(obj):
    """``obj`` with every NaN/±inf float (Python or numpy) as None and numpy scalars as Python ones."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, float) or type(obj).__module__ == "numpy":
        item = getattr(obj, "item", None)
        v = item() if callable(item) and getattr(obj, "ndim", 0) == 0 else obj
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v if isinstance(v, (bool, int, float, str)) else obj
    return obj


def print_json(obj) -> None:
    """Strict JSON on stdout: a figure that is not a number (NaN, ±inf) is null, never ``NaN``."""
    import json

    sys.stdout.write(json.dumps(_strict(obj), indent=2, default=str, allow_nan=False) + "\n")


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)

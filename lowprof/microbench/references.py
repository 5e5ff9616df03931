"""Published reference figures (``references.json``, each with its source) looked up by GPU, benchmark and
metric. The figures live in the data file, never in code.

A figure applies to a GPU by *board* (the device name NVML and CUDA report, e.g. "NVIDIA H100 80GB HBM3",
matched whole against the board's patterns: "H200" must not reach a "NVIDIA GH200 480GB") or by *compute
capability* (per-SM-per-clock figures such as issue rates, the same on every board of an architecture).
Where the published method differs from lowprof's measurement, ``differs`` says how.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lowprof.errors import LowprofError

__all__ = ["Board", "Reference", "load_references", "load_boards", "board_of", "lookup", "REFERENCES_PATH"]

REFERENCES_PATH = Path(__file__).resolve().parent / "references.json"
_FORMAT, _VERSION = "lowprof-microbench-references", 2


def _cc(text: str | None) -> tuple[int, int] | None:
    """'9.0', '90' or '12.0' -> (9, 0); None stays None."""
    if text is None:
        return None
    t = str(text).strip()
    if "." in t:
        major, minor = t.split(".", 1)
    else:
        major, minor = t[:-1], t[-1:]
    return int(major), int(minor)


@dataclass(frozen=True)
class Board:
    """One board: the device names it goes by (whole-name regular expressions) and its compute capability."""

    name: str
    cc: tuple[int, int]
    patterns: tuple[str, ...]

    def matches(self, gpu_name: str) -> bool:
        return any(re.fullmatch(p, gpu_name.strip(), flags=re.IGNORECASE) for p in self.patterns)


@dataclass(frozen=True)
class Reference:
    """One published figure, for ``boards`` (names of :class:`Board`), or compute capabilities ``cc``, or
    every capability from ``cc_min`` on."""

    benchmark: str
    metric: str
    value: float
    unit: str
    source: str
    boards: tuple[str, ...] = ()
    cc: tuple[tuple[int, int], ...] = ()
    cc_min: tuple[int, int] | None = None
    differs: str | None = None
    verified_in_session: bool = False

    def specificity(self, board: Board | None, cc: tuple[int, int] | None) -> int:
        """0: does not apply; 3: this board; 2: this compute capability; 1: this capability or later."""
        if board is not None and board.name in self.boards:
            return 3
        if cc is not None and cc in self.cc:
            return 2
        if cc is not None and self.cc_min is not None and cc >= self.cc_min:
            return 1
        return 0


def _read(path: Path) -> dict:
    data = json.loads(Path(path).read_text())
    if data.get("format") != _FORMAT or data.get("version") != _VERSION:
        raise LowprofError(f"{path}: not a version-{_VERSION} {_FORMAT} file")
    return data


@lru_cache(maxsize=4)
def load_boards(path: str | Path = REFERENCES_PATH) -> tuple[Board, ...]:
    """The boards the file names, with their device-name patterns."""
    return tuple(Board(name, _cc(b["cc"]), tuple(b["names"])) for name, b in _read(Path(path))["boards"].items())


@lru_cache(maxsize=4)
def load_references(path: str | Path = REFERENCES_PATH) -> tuple[Reference, ...]:
    """All references in the file; raises on an unknown format, a record missing its source, or one naming
    an unknown board or no GPU at all."""
    data = _read(Path(path))
    boards = set(data.get("boards", {}))
    out = []
    for k, r in enumerate(data["references"]):
        what = f"{path}: reference #{k} ({r.get('metric')!r})"
        if not r.get("source"):
            raise LowprofError(f"{what} has no source")
        unknown = set(r.get("boards", ())) - boards
        if unknown:
            raise LowprofError(f"{what} names unknown boards {sorted(unknown)}")
        if not (r.get("boards") or r.get("cc") or r.get("cc_min")):
            raise LowprofError(f"{what} applies to no GPU: give boards, cc or cc_min")
        out.append(Reference(r["benchmark"], r["metric"], float(r["value"]), r["unit"], r["source"],
                             tuple(r.get("boards", ())), tuple(_cc(c) for c in r.get("cc", ())), _cc(r.get("cc_min")),
                             r.get("differs"), bool(r.get("verified_in_session", False))))
    return tuple(out)


def board_of(gpu_name: str, path: str | Path = REFERENCES_PATH) -> Board | None:
    """The board whose patterns match ``gpu_name`` whole (case-insensitive), or None."""
    return next((b for b in load_boards(path) if b.matches(gpu_name)), None)


def lookup(gpu_name: str, benchmark: str, metric: str, cc: str | None = None,
           path: str | Path = REFERENCES_PATH) -> Reference | None:
    """The most specific reference for this GPU, benchmark and metric (board, then compute capability), or None.

    ``cc``: the device's compute capability ('9.0' or '90'); without it, the matched board's.
    """
    board = board_of(gpu_name, path)
    cap = _cc(cc) if cc is not None else (board.cc if board else None)
    best, best_rank = None, 0
    for r in load_references(path):
        if r.benchmark == benchmark and r.metric == metric:
            rank = r.specificity(board, cap)
            if rank > best_rank:
                best, best_rank = r, rank
    return best

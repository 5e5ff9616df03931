"""Published reference figures (``references.json``, each with its source) looked up by GPU name,
benchmark and metric. The figures live in the data file, never in code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lowprof.errors import LowprofError

__all__ = ["Reference", "load_references", "lookup", "REFERENCES_PATH"]

REFERENCES_PATH = Path(__file__).resolve().parent / "references.json"


@dataclass(frozen=True)
class Reference:
    """One published figure: for GPUs whose name contains every string of ``gpu``."""

    gpu: tuple[str, ...]
    benchmark: str
    metric: str
    value: float
    unit: str
    source: str
    verified_in_session: bool = False

    def matches(self, gpu_name: str) -> bool:
        name = gpu_name.lower()
        return all(s.lower() in name for s in self.gpu)


@lru_cache(maxsize=4)
def load_references(path: str | Path = REFERENCES_PATH) -> tuple[Reference, ...]:
    """All references in the file; raises on an unknown format or a record missing its source."""
    data = json.loads(Path(path).read_text())
    if data.get("format") != "lowprof-microbench-references" or data.get("version") != 1:
        raise LowprofError(f"{path}: not a version-1 lowprof-microbench-references file")
    out = []
    for k, r in enumerate(data["references"]):
        if not r.get("source"):
            raise LowprofError(f"{path}: reference #{k} ({r.get('metric')!r}) has no source")
        out.append(Reference(tuple(r["gpu"]), r["benchmark"], r["metric"], float(r["value"]), r["unit"],
                             r["source"], bool(r.get("verified_in_session", False))))
    return tuple(out)


def lookup(gpu_name: str, benchmark: str, metric: str, path: str | Path = REFERENCES_PATH) -> Reference | None:
    """The most specific reference (most GPU substrings) for this GPU, benchmark and metric, or None."""
    hits = [r for r in load_references(path) if r.benchmark == benchmark and r.metric == metric and r.matches(gpu_name)]
    return max(hits, key=lambda r: sum(len(s) > 0 for s in r.gpu), default=None)

"""The ``--allocator oob`` feature of ``lowprof run``: the workload runs with oobmalloc as its malloc, and its
stats are recorded (the allocator itself, from Python: :mod:`lowprof.native.oobmalloc`).

The workload gets ``LD_PRELOAD=liboobmalloc`` and ``OOBMALLOC_STATS=RUN/oobmalloc``; every process
of it that exits normally writes its counters there, which become the ``allocator`` table (one row
per process) and the manifest's ``allocator`` entry.
"""

from __future__ import annotations

import os
from pathlib import Path

from lowprof.feature import Feature, Option
from lowprof.rundir.sections import owned_by
from lowprof.rundir.specs.bench import ALLOCATOR

__all__ = ["FEATURE", "section_allocator"]

_RENAME = {"bytes_in_use": "in_use_bytes", "bytes_active": "active_bytes", "bytes_mapped": "mapped_bytes",
           "bytes_meta": "meta_bytes", "bytes_purged": "purged_bytes"}


class PreloadedAllocator:
    """One workload under oobmalloc: its environment, and the stats once it ended."""

    def __init__(self, library: Path, stats_dir: Path) -> None:
        self.library = Path(library)
        self.stats_dir = Path(stats_dir)
        self.stats_dir.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        preload = [str(self.library)] + [p for p in os.environ.get("LD_PRELOAD", "").split() if p]
        return {"LD_PRELOAD": " ".join(preload), "OOBMALLOC_STATS": str(self.stats_dir.resolve())}

    def finished(self, recording, ended) -> None:
        """Write the ``allocator`` table (possibly empty) and the manifest's ``allocator`` entry."""
        import pandas as pd

        from lowprof.native.oobmalloc import read_stats_dir

        writer = recording.writer
        rows = read_stats_dir(self.stats_dir)
        pid = writer.manifest.get("workload", {}).get("pid")
        frame = pd.DataFrame([{_RENAME.get(k, k): v for k, v in r.items()} | {"is_workload": r["pid"] == pid}
                              for r in rows], columns=[c.name for c in ALLOCATOR.columns])
        writer.write_frame(ALLOCATOR, frame.astype({"is_workload": bool}))
        main = next((r for r in rows if r["pid"] == pid), None)
        entry = {"name": "oob", "library": str(self.library), "processes": len(rows),
                 "allocs": int(sum(r["allocs"] for r in rows))}
        if main is None:
            entry["status"] = ("no stats from the workload process: it did not exit normally "
                               f"({'signal ' + str(ended.signal) if ended.signal else 'exit without atexit'}), "
                               "or it is statically linked / setuid so LD_PRELOAD was ignored")
        else:
            entry["status"] = "ok"
            entry["workload"] = {_RENAME.get(k, k): v for k, v in main.items() if k != "pid"}
        writer.manifest["allocator"] = entry


def _mib(b: int) -> str:
    return f"{b / 2**20:.1f} MiB"


def section_allocator(run) -> dict | None:
    """``lowprof report`` block; None without --allocator."""
    entry = run.manifest.get("allocator")
    if not entry:
        return None
    out = {"allocator": entry["name"], "processes with stats": entry["processes"], "status": entry["status"]}
    w = entry.get("workload")
    if w:
        out["allocations"] = f"{w['allocs']} ({w['large_allocs']} large), {w['frees']} frees ({w['remote_frees']} remote)"
        out["at exit"] = (f"{_mib(w['in_use_bytes'])} in use of {_mib(w['active_bytes'])} active "
                          f"(fragmentation {w['fragmentation']:.0%}), {_mib(w['mapped_bytes'])} mapped, "
                          f"{_mib(w['meta_bytes'])} metadata")
        out["peak active"] = _mib(w["peak_active_bytes"])
        out["bad frees reported"] = w["errors"]
    return out


def _record(values, recording) -> "PreloadedAllocator | None":
    if values["allocator"] != "oob":
        return None
    from lowprof.native.oobmalloc import preload_path

    return PreloadedAllocator(preload_path(), recording.path / "oobmalloc")


FEATURE = Feature(
    "allocator", "the workload under lowprof's out-of-band-metadata malloc (LD_PRELOAD), its counters at exit",
    tables=(ALLOCATOR,), manifest=owned_by("allocator"),
    options=(Option("--allocator", choices=("oob",), metavar="oob", verbs=("run", "sweep"),
                    help="run the workload with lowprof's out-of-band-metadata malloc (LD_PRELOAD) "
                         "and record its counters (table: allocator)"),),
    record=_record, report=section_allocator)

"""``import_job``: a folder of per-rank traces (one Kineto trace or nsys export per rank) into one job folder.

Layout::

    JOB/job.json    {"schema": 1, "kind": "job", "source": FOLDER, "created_utc": ..., "world_size": N|null,
                     "ranks": [{"rank": 0, "dir": "rank0", "trace": "rank0.json.gz", "rank_from": "name"}, ...]}
    JOB/rank0/      one run directory per rank (kind ``import``), as ``lowprof import TRACE`` writes it
    JOB/rank1/ ...

A file's rank: the trace's own ``distributedInfo.rank`` (Kineto, written by torch.distributed), else its
name (``rank0.json``, ``trace_rank_1.json.gz``, ``rank-2.sqlite``, ``…__rank=3.pt.trace.json``); a file
with neither, or two files of one rank, is refused with one line naming them. When the name and the
trace disagree the trace wins, and a note says so. Files whose names differ only in one number (``report_0.sqlite``,
``report_1.sqlite``, as ``nsys profile -o report_%q{SLURM_PROCID}`` names them) take it as their rank
when neither says. The folder's files with a trace's suffix (``.json``,
``.json.gz``, ``.sqlite``; ``.nsys-rep`` without its export) are the ranks; others are left alone.

The job is written beside its destination and renamed into place when every rank imported: a failure
leaves nothing behind, and an earlier job replaced with ``force`` stays until the new one is whole. ``load_many``, ``compare``, ``bound`` and ``query`` read the job as a whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lowprof.errors import RunDirError, TraceError
from lowprof.rundir import utc_now
from lowprof.rundir.manifest import is_run_dir, read_manifest, write_manifest
from lowprof.rundir.many import _RANK_NAME, JOB_FILE, is_job, read_job

__all__ = ["JOB_FILE", "import_job", "trace_files", "rank_from_name", "is_job", "read_job", "JobRank"]

_SUFFIXES = (".json", ".json.gz", ".sqlite", ".nsys-rep", ".qdrep")


@dataclass
class JobRank:
    rank: int
    dir: str
    trace: str
    rank_from: str
    notes: list[str]


def rank_from_name(name: str) -> int | None:
    """The rank a file or folder name gives (``rank0``, ``rank-1``, ``rank_2``, ``rank=3``), or None."""
    hit = _RANK_NAME.search(name)
    return int(hit.group(1)) if hit else None


def _numbered(files: list[Path]) -> dict[Path, int]:
    """Ranks from names that differ only in one number (``report_0.sqlite``, ``report_1.sqlite``: nsys's
    ``-o report_%q{SLURM_PROCID}``): each file's number, when every file's name is the same around its
    last number and the numbers are distinct; else nothing."""
    import re

    parts = [re.fullmatch(r"(.*?)(\d+)(\D*)", f.name) for f in files]
    if len(files) < 2 or not all(parts):
        return {}
    if len({(m.group(1), m.group(3)) for m in parts}) != 1 or len({int(m.group(2)) for m in parts}) != len(files):
        return {}
    return {f: int(m.group(2)) for f, m in zip(files, parts)}


def trace_files(folder: Path) -> list[Path]:
    """The folder's trace files (direct children, by name): Kineto JSON (.json, .json.gz), nsys exports
    (.sqlite); an Nsight Systems report (.nsys-rep) only when its .sqlite export is not beside it."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.name.lower().endswith(_SUFFIXES) and p.name != JOB_FILE)
    stems = {p.name[:-len(".sqlite")] for p in files if p.name.endswith(".sqlite")}
    return [p for p in files if not (p.suffix in (".nsys-rep", ".qdrep") and p.stem in stems)]




def _check_out(out: Path, force: bool) -> None:
    """Refuse an ``out`` that holds anything but an earlier job (that one only with ``force``; it is replaced
    once the new job is whole)."""
    if out.is_symlink() and not out.exists():
        raise RunDirError(f"{out}: a dangling symlink; not written through")
    if not out.exists():
        return
    if not out.is_dir():
        raise RunDirError(f"{out}: exists and is not a directory")
    if not any(out.iterdir()):
        return
    if not force:
        raise RunDirError(f"{out}: exists and is not empty (use --force to replace an earlier job)")
    if not is_job(out):
        raise RunDirError(f"{out}: not a lowprof job folder (no job.json); --force only replaces one")
    doc = read_job(out)
    listed = {r["dir"] for r in doc["ranks"]}
    others = [p.name for p in out.iterdir() if p.name != JOB_FILE and not (p.name in listed and is_run_dir(p))]
    if others:
        raise RunDirError(f"{out}: holds {others[0]!r}, which lowprof import did not write; not replaced")


def _move_in(tmp: Path, out: Path) -> None:
    """Rename the finished job ``tmp`` to ``out``; an earlier job there (checked by :func:`_check_out`) is
    moved aside first and removed after, so that a failure never loses both."""
    if not out.exists():
        os.rename(tmp, out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.rename(out, old / "job")
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old / "job", out)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def import_job(folder: str | os.PathLike, out: str | os.PathLike, force: bool = False,
               progress: Callable[[str], None] | None = None) -> tuple[Path, list[JobRank], dict]:
    """Import every trace of ``folder`` as one run per rank under ``out``; returns (out, ranks, job doc)."""
    from lowprof.tracers.importer import import_trace

    folder, out = Path(folder), Path(out)
    files = trace_files(folder)
    if not files:
        raise TraceError(f"{folder}: no trace files in the folder (Kineto .json/.json.gz or nsys .sqlite, one per rank)")
    if out.resolve() == folder.resolve() or folder.resolve() in out.resolve().parents:
        raise TraceError(f"{out}: inside the folder of traces; write the job elsewhere (--out)")
    _check_out(out, force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as e:
        raise RunDirError(f"{out}: cannot create the job folder there ({e.strerror or e})") from None
    ranks: list[JobRank] = []
    world: set[int] = set()
    numbered = _numbered([f for f in files if rank_from_name(f.name) is None])
    try:
        for i, f in enumerate(files):
            part = tmp / f".part{i}"
            import_trace(f, part)
            man = read_manifest(part)
            dist = (man.get("trace") or {}).get("distributed") or {}
            named = rank_from_name(f.name)
            traced = dist.get("rank") if isinstance(dist.get("rank"), int) and not isinstance(dist.get("rank"), bool) else None
            if isinstance(dist.get("world_size"), int):
                world.add(dist["world_size"])
            notes = []
            if traced is not None and named is not None and traced != named:
                notes.append(f"{f.name}: named rank {named}, but its distributedInfo says rank {traced}; rank {traced} used")
            rank = traced if traced is not None else named if named is not None else numbered.get(f)
            if rank is None or rank < 0:
                raise TraceError(f"{f}: cannot tell its rank (no distributedInfo.rank in the trace, no rankN in its "
                                 f"name): name the files by rank (rank0.json, rank1.json, ...)")
            clash = next((r for r in ranks if r.rank == rank), None)
            if clash:
                raise TraceError(f"{folder}: {clash.trace} and {f.name} are both rank {rank}")
            d = f"rank{rank}"
            man["job"] = {"rank": rank, "rank_from": "distributedInfo" if traced is not None else "name",
                          "trace": f.name}
            write_manifest(part, man)
            os.rename(part, tmp / d)
            ranks.append(JobRank(rank, d, f.name, man["job"]["rank_from"], notes))
            if progress:
                progress(f"rank {rank}: {f.name} -> {out / d}")
        ranks.sort(key=lambda r: r.rank)
        doc = {"schema": 1, "kind": "job", "source": str(folder), "created_utc": utc_now("seconds"),
               "world_size": world.pop() if len(world) == 1 else None,
               "ranks": [{"rank": r.rank, "dir": r.dir, "trace": r.trace, "rank_from": r.rank_from} for r in ranks]}
        import json

        (tmp / JOB_FILE).write_text(json.dumps(doc, indent=2) + "\n")
        _move_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out, ranks, doc

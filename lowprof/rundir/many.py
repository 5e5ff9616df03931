"""Many run directories read as one: their tables stacked with a ``run`` column, runs grouped by rank.

A path given to :func:`load_many` may be a run directory, a sweep folder (``sweep.json``: each of its
runs gets the swept parameters), a job folder (``job.json``, from ``lowprof import FOLDER``: one run per
rank, the rank as job.json lists it), a folder of run directories (e.g. one per rank under torchrun or
Slurm: ``job/rank0``, ``job/rank-1``), or a glob matching any of these.

Rank, in this order: the manifest's environment facts (``RANK``, ``SLURM_PROCID``,
``OMPI_COMM_WORLD_RANK``, ``PMI_RANK`` under ``env`` or ``workload.env``), an imported trace's
``distributedInfo.rank`` (``manifest.trace.distributed.rank``), the rank ``lowprof import FOLDER``
gave it (``manifest.job.rank``), then the directory name
(``rank0``, ``rank-1``, ``rank_2``, ``rank=3``, ``...__rank-0.json``). Host: ``host.hostname``,
else the recorder's hostname.
"""

from __future__ import annotations

import glob as _glob
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lowprof.errors import RunDirError
from lowprof.rundir import Run, load
from lowprof.rundir.files import inside, read_json
from lowprof.rundir.manifest import MANIFEST
from lowprof.rundir.schema import JOB_SCHEMA, SWEEP_SCHEMA

if TYPE_CHECKING:  # pandas is imported where frames are built
    import pandas as pd

__all__ = ["Member", "RunSet", "load_many", "expand", "job_members", "read_sweep", "read_job", "is_job", "JOB_FILE",
           "rank_of", "host_of", "RANK_ENV"]

JOB_FILE = "job.json"  # a job folder's index (lowprof.tracers.job writes it)

RANK_ENV = ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")
_RANK_NAME = re.compile(r"(?:^|[^A-Za-z0-9])rank[-_=]?(\d+)(?![0-9])", re.IGNORECASE)


@dataclass
class Member:
    """One run of a set: the loaded run, its label, the parameters it was run with, rank and host."""

    label: str
    run: Run
    params: dict[str, str] = field(default_factory=dict)
    rank: int | None = None
    host: str | None = None
    group: str | None = None  # the sweep or rank folder it came from, if any


def rank_of(run: Run) -> int | None:
    """The run's rank (see the module docstring for where it is looked up), or None."""
    m = run.manifest
    for env in (m.get("env"), (m.get("workload") or {}).get("env")):
        if isinstance(env, dict):
            for key in RANK_ENV:
                if str(env.get(key, "")).strip().isdigit():
                    return int(env[key])
    dist = ((m.get("trace") or {}).get("distributed") or {})
    if isinstance(dist, dict) and isinstance(dist.get("rank"), int):
        return dist["rank"]
    job = m.get("job")  # written by `lowprof import FOLDER` (the rank it took from the trace or the file name)
    if isinstance(job, dict) and isinstance(job.get("rank"), int) and not isinstance(job.get("rank"), bool):
        return job["rank"]
    hit = _RANK_NAME.search(Path(run.path).name)
    return int(hit.group(1)) if hit else None


def host_of(run: Run) -> str | None:
    """The host the run was recorded on (None for an imported trace: the importer's host is not it)."""
    m = run.manifest
    if (m.get("host") or {}).get("hostname"):
        return m["host"]["hostname"]
    return None if m.get("kind") == "import" else (m.get("recorder") or {}).get("hostname")


def read_sweep(folder: str | os.PathLike) -> dict:
    """``folder/sweep.json``, checked against :data:`~lowprof.rundir.schema.SWEEP_SCHEMA` (one line per
    problem) and with every run's ``dir`` inside the folder, symlinks resolved."""
    folder = Path(folder)
    f = folder / "sweep.json"
    doc = read_json(f, schema=SWEEP_SCHEMA)
    outside = [r["dir"] for r in doc["runs"] if not inside(folder / r["dir"], folder)]
    if outside:
        raise RunDirError(f"{f}: run {outside[0]!r} points outside the sweep folder "
                          f"({os.path.realpath(folder / outside[0])}); not followed")
    return doc


def is_job(path: str | os.PathLike) -> bool:
    return (Path(path) / JOB_FILE).is_file()


def read_job(folder: str | os.PathLike) -> dict:
    """``folder/job.json``, checked against its schema, with every rank's dir inside the folder."""
    folder = Path(folder)
    doc = read_json(folder / JOB_FILE, schema=JOB_SCHEMA)
    for r in doc["ranks"]:
        if not inside(folder / r["dir"], folder):
            raise RunDirError(f"{folder / JOB_FILE}: rank {r['rank']}'s dir {r['dir']!r} points outside the job "
                              f"folder; not followed")
    return doc


def _sweep_members(folder: Path) -> list[Member]:
    doc = read_sweep(folder)
    out = []
    for r in doc["runs"]:
        d = folder / r["dir"]
        if not (d / MANIFEST).is_file():
            continue  # a point that never produced a run directory (killed before it started)
        run = load(d)
        out.append(Member(label=f"{folder.name}/{d.name}", run=run, params=dict(r.get("params") or {}),
                          rank=rank_of(run), host=host_of(run), group=str(folder)))
    return out


def _job_members(folder: Path) -> list[Member]:
    out = []
    for r in read_job(folder)["ranks"]:
        run = load(folder / r["dir"])
        out.append(Member(label=f"{folder.name}/{r['dir']}", run=run, rank=r["rank"], host=host_of(run),
                          group=str(folder)))
    return out


def expand(path: str | os.PathLike) -> list[Member]:
    """The runs one path stands for: itself, a sweep's runs, or the run directories directly inside it."""
    p = Path(path)
    if (p / MANIFEST).is_file():
        run = load(p)
        return [Member(label=p.name, run=run, rank=rank_of(run), host=host_of(run))]
    if (p / "sweep.json").exists() or (p / "sweep.json").is_symlink():  # read_sweep refuses a non-file
        return _sweep_members(p)
    if (p / "job.json").exists() or (p / "job.json").is_symlink():  # `lowprof import FOLDER`: one run per rank
        return _job_members(p)
    if p.is_dir():
        subs = sorted(d for d in p.iterdir() if (d / MANIFEST).is_file())
        if subs:
            out = []
            for d in subs:
                run = load(d)
                out.append(Member(label=f"{p.name}/{d.name}", run=run, rank=rank_of(run), host=host_of(run),
                                  group=str(p)))
            return out
    load(p)  # raises the one-line reason (missing, not a run directory...)
    return []


def job_members(path: str | os.PathLike) -> list[Member] | None:
    """The ranks of a job folder, rank order: a ``job.json`` folder (``lowprof import FOLDER``), or a folder
    (not a run, not a sweep) whose run directories all have a rank (``rank0``, ``rank1`` under torchrun or
    Slurm); None for anything else."""
    p = Path(path)
    if not p.is_dir() or (p / MANIFEST).exists() or (p / "sweep.json").exists():
        return None
    if not (p / "job.json").exists() and not (p / "job.json").is_symlink():
        subs = [d for d in sorted(p.iterdir()) if (d / MANIFEST).is_file()]
        if not subs:
            return None
    members = expand(p)
    if not members or any(m.rank is None for m in members):
        return None
    return sorted(members, key=lambda m: (m.rank, m.label))


@dataclass
class RunSet:
    """Runs read together. ``table(name)`` stacks a table over every run that has it, with columns
    ``run`` (label), ``rank``, ``host`` and one per swept parameter."""

    members: list[Member]

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self):
        return iter(self.members)

    @property
    def runs(self) -> list[Run]:
        return [m.run for m in self.members]

    def index(self) -> pd.DataFrame:
        """One row per run: run, path, rank, host, kind, status, command and the parameters."""
        import pandas as pd

        rows = []
        for m in self.members:
            man = m.run.manifest
            rows.append({"run": m.label, "path": str(m.run.path), "rank": m.rank, "host": m.host,
                         "kind": man.get("kind"), "status": man.get("status"),
                         "command": " ".join(man.get("command") or []) or None, **m.params})
        return self._typed(pd.DataFrame(rows))

    def table_names(self) -> list[str]:
        return sorted({t for m in self.members for t in m.run.tables})

    def table(self, name: str) -> pd.DataFrame:
        """Every run's ``name`` table, stacked (runs without it are skipped; RunDirError if none has it)."""
        import pandas as pd

        frames = []
        for m in self.members:
            if name not in m.run.tables:
                continue
            df = m.run[name].copy()
            extra = {"run": m.label, "rank": m.rank, "host": m.host, **m.params}
            for i, (k, v) in enumerate(extra.items()):
                df.insert(i, k, v)
            frames.append(df)
        if not frames:
            raise RunDirError(f"no run has a {name!r} table (tables: {self.table_names()})")
        return self._typed(pd.concat(frames, ignore_index=True))

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.table(name)

    def by_rank(self) -> dict[int | None, list[Member]]:
        """Members grouped by rank (None: rank unknown), ranks ascending."""
        out: dict[int | None, list[Member]] = {}
        for m in sorted(self.members, key=lambda m: (m.rank is None, m.rank or 0, m.label)):
            out.setdefault(m.rank, []).append(m)
        return out

    @staticmethod
    def _typed(df: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        for c in ("run", "host"):
            if c in df:
                df[c] = df[c].astype("category")
        if "rank" in df:
            df["rank"] = pd.array(df["rank"], dtype="Int64")
        return df


def load_many(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> RunSet:
    """Read many runs at once: a glob (``"runs/*"``), a folder of rank runs, a sweep, or a list of these.

    Example::

        rs = lowprof.load_many("runs/job42/rank*")
        rs["system"].groupby("rank").cpu_percent.mean()
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    members: list[Member] = []
    for item in items:
        s = str(item)
        matches = sorted(_glob.glob(s)) if _glob.has_magic(s) else [s]
        if not matches:
            raise RunDirError(f"{s}: the pattern matches nothing")
        for path in matches:
            if _glob.has_magic(s) and not Path(path).is_dir():
                continue
            members.extend(expand(path))
    if not members:
        raise RunDirError(f"{items}: no run directories found")
    seen: dict[str, int] = {}
    for m in members:  # labels name runs in the stacked tables: keep them unique
        n = seen.get(m.label, 0)
        seen[m.label] = n + 1
        if n:
            m.label = f"{m.label}#{n + 1}"
    return RunSet(members)

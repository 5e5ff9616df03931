"""The ``marks`` table and its source file ``marks.jsonl``: phases the workload marked with ``lowprof.mark``
(:mod:`lowprof.marks` writes the file and turns it into the table when the run ends) or that the user gave
in ``--marks FILE``; and their readers, which take the table, else the file (a run still recording or cut
short)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from lowprof.clock import field_ns
from lowprof.errors import LowprofError
from lowprof.rundir.spec import Column, TableSpec

if TYPE_CHECKING:  # mark() imports this module inside workloads: pandas only where a frame is built
    import pandas as pd

__all__ = ["MARKS", "MARKS_FILE", "KINDS", "read_marks", "read_marks_file"]

MARKS_FILE = "marks.jsonl"
KINDS = ("instant", "begin", "end")

MARKS = TableSpec(
    "marks", 1,
    (
        Column("t_ns", "int64", "ns", "run clock when the mark was made"),
        Column("name", "string", "", "the phase name given to lowprof.mark() or in --marks FILE"),
        Column("kind", "string", "", "instant, begin or end"),
        Column("pid", "int64", "", "process that made the mark (-1: given by the user in --marks FILE)"),
    ),
    doc="phase marks from lowprof.mark() and --marks FILE, sorted by time",
)


def read_marks_file(path: str | os.PathLike, origin_realtime_ns: int = 0, pid: int = -1,
                    strict: bool = False) -> pd.DataFrame:
    """Marks from a JSONL file (``marks.jsonl`` or a user's ``--marks FILE``) as a ``marks`` frame.

    Each line: ``{"name": str, "kind": "instant"|"begin"|"end" (default instant)}`` plus one time:
    ``t_ns`` (run clock, ns), ``t_s`` (run clock, s) or ``unix_s`` (wall clock, s since the epoch;
    needs the run's ``origin_realtime_ns``). A truncated last line (a crash mid-write) is skipped unless
    ``strict`` (a user's file: every line must parse).
    """
    import pandas as pd

    path = Path(path)
    rows, dropped = [], set()
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines) and not strict:
                continue
            raise LowprofError(f"{path}:{n}: not JSON: {line[:60]!r}") from None
        kind = r.get("kind", "instant")
        if kind not in KINDS or not r.get("name"):
            raise LowprofError(f"{path}:{n}: needs a name and kind in {KINDS}, got {line[:80]!r}")
        field = next((f for f in ("t_ns", "t_s", "unix_s") if f in r), None)
        if field is None:
            raise LowprofError(f"{path}:{n}: no time (t_ns, t_s or unix_s): {line[:80]!r}")
        if field == "unix_s" and not origin_realtime_ns:
            raise LowprofError(f"{path}:{n}: unix_s needs the run's realtime origin")
        t = field_ns(field, r[field]) - (origin_realtime_ns if field == "unix_s" else 0)
        if r.get("of"):
            dropped.add((r.get("pid", pid), r["of"]))
        rows.append({"t_ns": t, "name": str(r["name"]), "kind": kind, "pid": int(r.get("pid", pid)),
                     "_id": (r.get("pid", pid), r.get("id"))})
    rows = [r for r in rows if r.pop("_id") not in dropped]
    df = pd.DataFrame(rows, columns=["t_ns", "name", "kind", "pid"])
    return df.astype({"t_ns": "int64", "pid": "int64"}).sort_values("t_ns", kind="stable").reset_index(drop=True)


def read_marks(run) -> pd.DataFrame:
    """A run's marks: the ``marks`` table, else ``marks.jsonl`` (a run still recording or cut short)."""
    import pandas as pd

    if "marks" in run.tables:
        return run["marks"]
    f = Path(run.path) / MARKS_FILE
    if f.exists():
        return read_marks_file(f)
    return pd.DataFrame({"t_ns": pd.Series(dtype="int64"), "name": pd.Series(dtype=object),
                         "kind": pd.Series(dtype=object), "pid": pd.Series(dtype="int64")})

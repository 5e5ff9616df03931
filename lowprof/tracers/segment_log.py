"""``segments.jsonl``: the log the tracing agents (``lowprof/tracers/_boot``) append to in a run's ``kineto/``,
one JSON object a line (``start``, ``segment``, ``error``); read here, for every reader of it. Standard library only."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["LOG", "read_log"]

LOG = "segments.jsonl"


def read_log(kineto_dir: str | os.PathLike) -> list[dict]:
    """Every entry of ``kineto_dir/segments.jsonl``, in order; a line cut by a kill is skipped; [] when there is
    no log."""
    path = Path(kineto_dir, LOG)
    out = []
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a kill
    return out

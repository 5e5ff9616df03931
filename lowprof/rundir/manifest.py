"""``manifest.json``: what a run directory holds, on which machine, on which clock.

Schema history (readers refuse versions they do not know):
  1 (2026-11-25): first version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lowprof.errors import RunDirError

__all__ = ["SCHEMA", "MANIFEST", "read_manifest", "write_manifest"]

SCHEMA = 1
KNOWN_SCHEMAS = (1,)
MANIFEST = "manifest.json"


def write_manifest(run_dir: Path, manifest: dict) -> None:
    """Write atomically (temp file + rename): a reader never sees half a manifest."""
    path = Path(run_dir) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_manifest(run_dir: Path) -> dict:
    """Read and check a manifest; every problem is one RunDirError naming the file."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory")
    path = run_dir / MANIFEST
    if not path.exists():
        raise RunDirError(f"{path}: missing; {run_dir} is not a lowprof run directory")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunDirError(f"{path}: corrupt JSON at line {e.lineno} column {e.colno} ({e.msg})") from None
    except OSError as e:
        raise RunDirError(f"{path}: cannot read ({e.strerror})") from None
    if not isinstance(manifest, dict):
        raise RunDirError(f"{path}: expected a JSON object, found {type(manifest).__name__}")
    schema = manifest.get("schema")
    if schema not in KNOWN_SCHEMAS:
        raise RunDirError(f"{path}: schema {schema!r} unsupported (this lowprof reads {list(KNOWN_SCHEMAS)})")
    return manifest

"""``manifest.json``: what a run directory holds, on which machine, on which clock.

Schema history (readers refuse versions they do not know):
  1 (2026-11-25): first version. Its shape is declared in :data:`lowprof.rundir.schema.MANIFEST_SCHEMA`;
  a manifest that does not match is refused with one line per problem.

The shape is declared section by section in :mod:`lowprof.rundir.sections` (owner, version, typed fields);
:func:`write_manifest` checks every write against it. A manifest that breaks it is a lowprof bug: with
``LOWPROF_STRICT_MANIFEST=1`` (the tests) the write raises ManifestContractError; otherwise the manifest is
written all the same (what was recorded is never lost) and one warning line goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from lowprof.errors import ManifestContractError, RunDirError
from lowprof.rundir import schema as _schema
from lowprof.rundir.files import check_schema, read_json

__all__ = ["SCHEMA", "MANIFEST", "read_manifest", "write_manifest", "is_run_dir", "check_written", "ENV_STRICT"]

SCHEMA = 1
KNOWN_SCHEMAS = (1,)
MANIFEST = "manifest.json"
ENV_STRICT = "LOWPROF_STRICT_MANIFEST"  # "1": a manifest that breaks its declaration raises when written

_warned: set[str] = set()  # each problem said once per process (a recording saves its manifest often)


def check_written(path: Path, manifest: dict) -> list[str]:
    """Check a manifest about to be written at ``path`` against its sections; returns the problems (one line
    each). With LOWPROF_STRICT_MANIFEST=1 a problem raises ManifestContractError; otherwise each new one is
    said in one warning line on stderr."""
    from lowprof.rundir.sections import write_problems

    try:
        problems = write_problems(manifest)
    except Exception as e:  # noqa: BLE001 - the check never costs the recording its manifest
        problems = [f"the check itself failed ({type(e).__name__}: {e})"]
    if not problems:
        return problems
    if os.environ.get(ENV_STRICT) == "1":
        raise ManifestContractError(f"{path}: the manifest breaks its declaration (lowprof.rundir.sections): "
                                    + "; ".join(problems))
    new = [p for p in problems if p not in _warned]
    if new:
        _warned.update(new)
        print(f"lowprof: warning: {path}: written, but not as declared (a lowprof bug): {'; '.join(new)}",
              file=sys.stderr)
    return problems


def write_manifest(run_dir: Path, manifest: dict) -> None:
    """Write atomically (temp file + rename): a reader never sees half a manifest. Checked against its
    declared sections first (:func:`check_written`); written even when it breaks them, unless strict."""
    path = Path(run_dir) / MANIFEST
    check_written(path, manifest)
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_manifest(run_dir: Path) -> dict:
    """Read and check a manifest; every problem is one RunDirError naming the file (one line per
    schema error). The file must be a regular file of at most 64 MiB of UTF-8 JSON (see rundir.files)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory")
    path = run_dir / MANIFEST
    if not path.exists() and not path.is_symlink():
        raise RunDirError(f"{path}: missing; {run_dir} is not a lowprof run directory")
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise RunDirError(f"{path}: expected a JSON object, found {type(manifest).__name__}")
    schema = manifest.get("schema")
    if schema not in KNOWN_SCHEMAS or isinstance(schema, bool):
        raise RunDirError(f"{path}: schema {schema!r} unsupported (this lowprof reads {list(KNOWN_SCHEMAS)})")
    check_schema(path, manifest, _schema.MANIFEST_SCHEMA)
    return manifest


def is_run_dir(path: Path) -> bool:
    """True when ``path`` holds a manifest lowprof wrote (what ``--force`` may replace)."""
    try:
        m = read_manifest(Path(path))
    except RunDirError:
        return False
    return isinstance(m.get("lowprof_version"), str) and isinstance(m.get("kind"), str)

"""Shared test helpers: run the real CLI in a subprocess, find the real traces kept in the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# A manifest written against its declaration (lowprof.rundir.sections) is a lowprof bug: under the tests the
# write raises (in this process and in every CLI subprocess, which inherits the environment).
os.environ["LOWPROF_STRICT_MANIFEST"] = "1"

REPO = Path(__file__).resolve().parents[1]
# Real traces recorded by other people (MIT/BSD, licence files beside them; see its README.md), copied from
# the project's shared folder so that a fresh clone tests on them too.
TRACES = REPO / "tests" / "data" / "traces"


def lowprof_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lowprof", *map(str, args)]


def run_cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run ``lowprof ARGS`` as a user would; capture text output."""
    env = os.environ | {"COLUMNS": "200", "PYTHONUNBUFFERED": "1"} | kw.pop("env", {})
    return subprocess.run(lowprof_cmd(*args), capture_output=True, text=True, timeout=timeout, env=env, **kw)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def traces() -> Path:
    return TRACES

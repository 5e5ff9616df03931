"""Shared test helpers: run the real CLI in a subprocess, find the shared real traces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_TRACES = (REPO.parent / "shared" / "traces").resolve()


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
def shared_traces() -> Path:
    if not SHARED_TRACES.is_dir():
        pytest.skip(f"shared traces not found at {SHARED_TRACES}")
    return SHARED_TRACES

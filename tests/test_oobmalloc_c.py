"""oobmalloc's C core driven from C (tests/oobmalloc_check.c): tst-malloc checks and a threaded stress,
built with AddressSanitizer + UBSan where the compiler has them; bad frees must abort with the message."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NATIVE = REPO / "lowprof" / "native"
DRIVER = Path(__file__).with_name("oobmalloc_check.c")
CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler")
ENV = os.environ | {"OOBMALLOC_RESERVE_GB": "8", "ASAN_OPTIONS": "detect_leaks=0"}


def _build(out: Path, flags: list[str]) -> Path | None:
    exe = out / "oobmalloc_check"
    cmd = [CC, "-O1", "-g", "-std=gnu11", "-Wall", "-pthread", *flags, f"-I{NATIVE}", "-o", str(exe),
           str(DRIVER), str(NATIVE / "oobmalloc.c")]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        return None
    return exe


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory) -> tuple[Path, str]:
    """The driver with ASan+UBSan (falling back to a plain build where the sanitizers are missing)."""
    out = tmp_path_factory.mktemp("oobcheck")
    exe = _build(out, ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"])
    if exe is not None and subprocess.run([str(exe), "none"], capture_output=True, env=ENV).returncode == 2:
        return exe, "asan"
    exe = _build(out, [])
    assert exe is not None, "the C driver does not compile"
    return exe, "plain"


@pytest.mark.parametrize("mode", ["basic", "threads"])
def test_driver_passes(sanitized, mode):
    exe, kind = sanitized
    p = subprocess.run([str(exe), mode], capture_output=True, text=True, timeout=120, env=ENV)
    assert p.returncode == 0, f"[{kind}] {p.stdout}\n{p.stderr[-3000:]}"
    assert f"ok {mode}" in p.stdout
    assert "runtime error" not in p.stderr and "AddressSanitizer" not in p.stderr


@pytest.mark.parametrize("mode, message", [
    ("double-free", "double free"),
    ("large-double-free", "double free"),
    ("interior", "interior pointer"),
    ("foreign", "foreign pointer"),
])
def test_bad_free_aborts(sanitized, mode, message):
    exe, _ = sanitized
    p = subprocess.run([str(exe), mode], capture_output=True, text=True, timeout=60, env=ENV)
    assert p.returncode != 0 and f"ok {mode}" not in p.stdout
    assert f"oobmalloc: {message}" in p.stderr, p.stderr

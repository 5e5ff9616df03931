"""The trace scanner's C code driven from C (tests/kscan_check.c) under AddressSanitizer + UBSan:
any block split gives the same result, a cut file is an error, mutated files never crash."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TRACES

REPO = Path(__file__).resolve().parents[1]
NATIVE = REPO / "lowprof" / "native"
DRIVER = Path(__file__).with_name("kscan_check.c")
CC = shutil.which("cc") or shutil.which("gcc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler")
NAMES = ["triton_example", "amd_trace", "critical_path__alexnet", "cupti_profiler"]


@pytest.fixture(scope="module")
def checker(tmp_path_factory) -> tuple[Path, str]:
    """The driver built with ASan+UBSan, or plainly where the compiler lacks them."""
    out = tmp_path_factory.mktemp("kscan")
    for kind, flags in (("asan", ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                                  "-fno-sanitize-recover=undefined"]), ("plain", [])):
        exe = out / f"kscan_check_{kind}"
        cmd = [CC, "-O1", "-g", "-std=gnu11", "-Wall", "-Werror", *flags, f"-I{NATIVE}", "-o", str(exe),
               str(DRIVER), str(NATIVE / "kscan.c"), "-lm"]
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            return exe, kind
    pytest.fail("kscan_check.c does not compile")


@pytest.mark.parametrize("name", NAMES)
def test_scanner_under_sanitizers(checker, name: str, tmp_path: Path):
    src = next(TRACES.glob(f"kineto/{name}*.json.gz"), None) or pytest.skip(f"trace {name}* not in the repo")
    text = tmp_path / "trace.json"
    text.write_bytes(gzip.decompress(src.read_bytes()))
    exe, kind = checker
    p = subprocess.run([str(exe), str(text)], capture_output=True, text=True, timeout=300,
                       env=os.environ | {"ASAN_OPTIONS": "detect_leaks=1"})
    assert p.returncode == 0 and p.stdout.startswith("ok"), f"[{kind}] {p.stdout}\n{p.stderr[-3000:]}"
    assert "runtime error" not in p.stderr

"""The trace scanner's C code driven from C (tests/kscan_check.c) under AddressSanitizer + UBSan:
any block split gives the same result, a cut file is an error, mutated files never crash."""

from __future__ import annotations

import gzip
import json
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
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CC is None, reason="no C compiler")]
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


def test_hostile_values_under_sanitizers(checker, tmp_path: Path):
    """Times whose sum overflows int64 (UBSan saw `ts + dur` overflow here), exponents past any double,
    ints past int64 and int32, deep nesting, long whitespace: split anywhere, cut, mutated, never UB."""
    ev = [{"ph": "X", "cat": "kernel", "name": "k", "ts": 9_000_000_000_000_000, "dur": 9_000_000_000_000_000},
          {"ph": "X", "cat": "kernel", "name": "k", "ts": -9_000_000_000_000_000, "dur": -9_000_000_000_000_000},
          {"ph": "X", "cat": "kernel", "name": "k", "ts": 1, "dur": 9.2e15, "args": {"grid": [2**63, -2**63, 2**31]}},
          {"ph": "X", "cat": "kernel", "name": "k", "dur": 1, "args": {"device": 2**40, "registers per thread": -2**40}},
          {"ph": "s", "cat": "ac2g", "id": 2**64, "ts": 4611686018427387.904},
          {"ph": "X", "cat": "cpu_op", "name": "op", "ts": 1, "dur": 1, "args": {"deep": [[[[[[[[[[1]]]]]]]]]]}}]
    text = json.dumps({"traceEvents": ev, "baseTimeNanoseconds": 1})
    text = text.replace("9200000000000000.0", "1e400").replace('"dur": 1, "args"', '"dur": 1' + " " * 5000 + ', "args"')
    trace = tmp_path / "hostile.json"
    trace.write_text(text)
    exe, kind = checker
    p = subprocess.run([str(exe), str(trace)], capture_output=True, text=True, timeout=300,
                       env=os.environ | {"ASAN_OPTIONS": "detect_leaks=1"})
    assert p.returncode == 0 and p.stdout.startswith("ok"), f"[{kind}] {p.stdout}\n{p.stderr[-3000:]}"
    assert "runtime error" not in p.stderr, p.stderr[-3000:]

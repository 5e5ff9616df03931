"""The one NVML adapter (lowprof.nvml_adapter): init/shutdown counted per library object, the one-line
reasons, and the error names the nvml probe records."""

from __future__ import annotations

import pytest

from lowprof import nvml_adapter
from lowprof.errors import GPUUnavailable, LowprofError


class _Lib:
    """A pynvml stand-in counting nvmlInit / nvmlShutdown calls."""

    class NVMLError(Exception):
        def __init__(self, value):
            self.value = value

    def __init__(self, fail_init: Exception | None = None, count: int = 1) -> None:
        self.calls: list[str] = []
        self.fail_init, self.count = fail_init, count

    def nvmlInit(self):
        self.calls.append("init")
        if self.fail_init:
            raise self.fail_init

    def nvmlShutdown(self):
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self):
        return self.count


def test_init_and_shutdown_run_once_for_nested_users():
    lib = _Lib()
    with nvml_adapter.session(lib) as a:
        assert a is lib
        b = nvml_adapter.init(lib)
        nvml_adapter.shutdown(b)
        assert lib.calls == ["init"]  # the inner user's shutdown must not close NVML under the outer one
    assert lib.calls == ["init", "shutdown"]
    nvml_adapter.shutdown(lib)  # one more than opened: nothing
    assert lib.calls == ["init", "shutdown"]
    other = _Lib()  # each stand-in is counted on its own (a replay file sees its own nvmlInit)
    with nvml_adapter.session(other), nvml_adapter.session(lib):
        pass
    assert other.calls == ["init", "shutdown"] and lib.calls == ["init", "shutdown"] * 2


def test_a_failed_init_is_not_counted_and_gives_one_line():
    class NVMLError_LibraryNotFound(Exception):
        pass

    lib = _Lib(fail_init=NVMLError_LibraryNotFound("NVML Shared Library Not Found"))
    got, reason = nvml_adapter.open_reason(lib)
    assert got is None and reason == "NVML library not found (no NVIDIA driver on this machine)"
    with pytest.raises(GPUUnavailable) as e:
        nvml_adapter.require("bench gpu", lib)
    assert isinstance(e.value, LowprofError) and str(e.value) == f"bench gpu: {reason}" and "\n" not in str(e.value)
    nvml_adapter.shutdown(lib)
    assert lib.calls == ["init", "init"]  # never shut down what did not open


def test_reasons_and_error_names():
    class NVMLError_DriverNotLoaded(Exception):
        pass

    class NVMLLibraryMismatchError(Exception):
        pass

    assert nvml_adapter.unavailable_reason(NVMLError_DriverNotLoaded()) == "NVIDIA driver not loaded"
    assert nvml_adapter.unavailable_reason(ImportError("x")) == "pynvml is not installed (pip install nvidia-ml-py)"
    assert nvml_adapter.unavailable_reason(ValueError("odd")) == "NVML unavailable: ValueError: odd"
    E = _Lib.NVMLError
    assert [nvml_adapter.error_name(E(c)) for c in (3, 4, 13, 2)] == [
        "NotSupported", "NoPermission", "FunctionNotFound", "InvalidArgument"]
    assert nvml_adapter.error_name(E(15)) == "NVMLError(15)"
    assert nvml_adapter.error_name(NVMLLibraryMismatchError("v3")) == "LibraryMismatch"
    assert nvml_adapter.is_permanent(E(3)) and not nvml_adapter.is_permanent(E(15))
    assert nvml_adapter.is_permanent(NVMLLibraryMismatchError())
    assert nvml_adapter.is_missing_symbol(E(13)) and nvml_adapter.is_missing_symbol(NVMLLibraryMismatchError())
    assert not nvml_adapter.is_missing_symbol(E(3))
    lib = _Lib()  # with the library: any refusal that is not its NVMLError is the mismatch (as the probe catches it)
    assert nvml_adapter.is_permanent(LookupError(), lib) and nvml_adapter.is_missing_symbol(LookupError(), lib)
    assert not nvml_adapter.is_permanent(E(15), lib) and not nvml_adapter.is_missing_symbol(E(3), lib)


def test_availability_on_this_machine_matches_gpu_facts():
    """The probe's reason and the inventory's come from the same place: without a GPU, the same line."""
    from lowprof.inventory import gpu_facts

    reason, facts = nvml_adapter.availability(), gpu_facts()
    if facts["available"]:
        assert reason in (None, "NVML sees no GPU")
    else:
        assert reason == facts["reason"] or reason == "pynvml (nvidia-ml-py) is not installed"


def test_the_adapter_is_light_at_import():
    """pynvml is imported inside load(), never at module level (read from the source: in-process, other tests
    may already have imported pynvml)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(nvml_adapter))
    top = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    top |= {n.module.split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
    assert top <= {"__future__", "threading", "contextlib", "typing", "lowprof"}
    assert "pynvml" in inspect.getsource(nvml_adapter.load)


def test_recorder_command_line_without_a_gpu_is_one_line(tmp_path, capsys):
    """``python -m lowprof.cli._nvml_record`` (argparse lives in cli/): no GPU -> the adapter's one line, exit 1."""
    from lowprof.cli._nvml_record import main

    reason = nvml_adapter.availability()
    if reason is None:
        pytest.skip("NVML sees a GPU here: this test is about machines without one")
    assert main(["--out", str(tmp_path / "rec.jsonl"), "--seconds", "0.1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"lowprof: error: {reason}"


def test_recorder_command_line_replays_into_a_run(tmp_path, capsys):
    from pathlib import Path

    from lowprof.cli._nvml_record import main
    from lowprof.rundir import load

    fixture = Path(__file__).parent / "data" / "power" / "synthetic_h100x2.nvml.jsonl"
    assert main(["--replay", str(fixture), "--out", str(tmp_path / "run")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'run'}"
    assert len(load(tmp_path / "run")["gpu_power"]) > 0

"""The feature list (lowprof.features): light to import, one declaration per feature, and a new feature is one
line in FEATURES (its flag, its hooks, its table and its metrics all follow)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import lowprof
from lowprof import features as features_mod
from lowprof.analysis.metric import metric
from lowprof.cli import OneLineParser
from lowprof.errors import LowprofError
from lowprof.feature import Feature, Option
from lowprof.rundir import Column, TableSpec


def test_features_are_light_to_import():
    """Building the command line reads every declaration: none may pull in pandas, pyarrow, numpy, rich or psutil."""
    code = ("import lowprof.features, sys; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('pandas','pyarrow','numpy','rich','psutil')))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]", p.stdout


def test_one_declaration_per_feature():
    from lowprof.probes import DEFAULT_PROBES, PROBES, get_probe
    from lowprof.rundir.catalog import all_specs

    names = [f.name for f in features_mod.FEATURES]
    assert len(names) == len(set(names))
    assert list(PROBES) == ["system", "nvml", "rapl", "hwmon"] == list(DEFAULT_PROBES)
    assert all(get_probe(n).name == n for n in PROBES)
    # report sections in the order `lowprof report` has always shown them
    assert [f.name for f in features_mod.FEATURES if f.report] == ["launches", "tlb", "power", "microbench", "allocator"]
    flags = [o.flag for f in features_mod.FEATURES for o in f.options]
    assert len(flags) == len(set(flags)) and {"--trace", "--marks", "--allocator", "--stacks", "--stacks-rate"} <= set(flags)
    # the catalogue is the features' tables, each declared by exactly one name
    assert set(all_specs()) == {t.name for f in features_mod.FEATURES for t in f.tables}


def _parser(verb: str):
    """One recording verb's parser, as ``lowprof VERB`` builds it."""
    import importlib

    p = OneLineParser(prog=f"lowprof {verb}")
    importlib.import_module(f"lowprof.cli.{verb}").add_arguments(p)
    return p


def test_recording_verbs_share_the_features_flags():
    from lowprof.cli import sweep

    for verb in ("run", "attach", "sweep"):
        extra = ["1"] if verb == "attach" else []
        a = _parser(verb).parse_args([*(["--param", "n=1"] if verb == "sweep" else []), "--stacks-rate", "50", *extra])
        assert a.stacks_rate == 50, verb
    assert _parser("attach").parse_args(["--stack-rate", "7", "1"]).stacks_rate == 7  # the old spelling, kept
    assert "--stack-rate" not in _parser("attach").format_help()
    a = _parser("sweep").parse_args(["--param", "n=1", "--stacks", "--allocator", "oob", "--stacks-rate", "50",
                                     "--trace", "kernels", "--", "true"])
    assert sweep._run_args(a) == ["--trace", "kernels", "--allocator", "oob", "--stacks", "--stacks-rate", "50"]
    assert sweep._run_args(_parser("sweep").parse_args(["--param", "n=1", "--", "true"])) == []
    with pytest.raises(SystemExit):  # attach records a running process: no workload to preload an allocator into
        _parser("attach").parse_args(["--allocator", "oob", "1"])


class _Greeter:
    """A throwaway feature's recorder: says what it was called with."""

    calls: list = []

    def __init__(self, values, recording) -> None:
        self.values, self.recording = dict(values), recording
        self.calls.append(("record", self.values["greeting"], str(recording.path)))

    def env(self) -> dict[str, str]:
        return {"LOWPROF_TEST_GREETING": self.values["greeting"]}

    def started(self, pid: int, quiet: bool) -> None:
        self.calls.append(("started", pid, quiet))

    def finished(self, recording, ended) -> None:
        self.calls.append(("finished", ended.exit_code))
        if self.values["greeting"] == "fail":
            raise RuntimeError("the greeter broke")
        recording.writer.write_frame(GREETINGS, __import__("pandas").DataFrame({"greeting": [self.values["greeting"]]}))


GREETINGS = TableSpec("greetings", 1, (Column("greeting", "string", "", "what --greeting said"),), doc="a test table")


def _check(values) -> None:
    if values["greeting"] == "bad":
        raise LowprofError("--greeting bad: refused")


@metric("greeting_chars", "", "higher", "characters of what --greeting said (the greetings table)")
def greeting_chars(run):
    return float(len(run["greetings"].greeting.iloc[0])) if "greetings" in run.tables else None


GREETER = Feature("greeter", "a feature made up by a test", tables=(GREETINGS,),
                  options=(Option("--greeting", help="what to say", metavar="WORD", verbs=("run",)),),
                  check=_check, record=lambda values, rec: _Greeter(values, rec) if values["greeting"] else None,
                  metrics=lambda: (greeting_chars,))


@pytest.fixture
def with_greeter(monkeypatch):
    monkeypatch.setattr(features_mod, "FEATURES", features_mod.FEATURES + (GREETER,))  # the one line
    _Greeter.calls = []
    return _Greeter.calls


def _run(tmp_path, *flags: str):
    from lowprof.cli import guarded
    from lowprof.cli import run as run_verb

    seen = tmp_path / "seen.txt"
    code = "import os, sys; open(sys.argv[1], 'w').write(os.environ.get('LOWPROF_TEST_GREETING', '-'))"
    args = _parser("run").parse_args(["--out", str(tmp_path / "r"), "--probes", "system", "--quiet", *flags,
                                      "--", sys.executable, "-c", code, str(seen)])
    return guarded(run_verb.main, args), seen


def test_adding_a_feature_is_one_line(tmp_path, with_greeter):
    from lowprof.rundir.catalog import all_specs

    assert "--greeting WORD" in _parser("run").format_help() and "greetings" in all_specs()
    assert "--greeting" not in _parser("attach").format_help()  # offered only where it says
    code, seen = _run(tmp_path, "--greeting", "hello")
    assert code == 0
    run = lowprof.load(tmp_path / "r")
    assert seen.read_text() == "hello"  # its env() reached the workload
    assert with_greeter == [("record", "hello", str(tmp_path / "r")), ("started", run.manifest["workload"]["pid"], True),
                            ("finished", 0)]
    assert list(run["greetings"].greeting) == ["hello"] and run.complete


def test_a_feature_metric_reaches_compare_and_export(tmp_path, with_greeter, capsys):
    """Declared in its Feature only: compare and export list it, after lowprof's own metrics."""
    import pandas as pd

    from lowprof.metrics import METRICS
    from tests._analysis_runs import lowprof_main

    assert list(METRICS)[-1] == "greeting_chars"
    runs = []
    for word in ("hi", "hello"):
        (tmp_path / word).mkdir()
        assert _run(tmp_path / word, "--greeting", word)[0] == 0
        runs.append(tmp_path / word / "r")
    rc, out, err = lowprof_main(capsys, "compare", *runs, "--force", "--json")
    assert rc == 0, err
    rows = json.loads(out)["rows"]
    assert rows[-1]["metric"] == "greeting_chars" and (rows[-1]["A"], rows[-1]["B"]) == (2.0, 5.0)
    assert rows[-1]["better_B"] == "B"
    rc, _, err = lowprof_main(capsys, "export", runs[1], "--csv", tmp_path / "out", "--no-tables")
    assert rc == 0, err
    m = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert m[m.metric == "greeting_chars"].value.tolist() == [5.0]


def test_a_feature_not_listed_has_no_metrics():
    from lowprof.metrics import METRICS

    assert "greeting_chars" not in METRICS and list(METRICS)[-1] == "tlb_walk_s"


def test_a_feature_not_asked_for_does_nothing(tmp_path, with_greeter):
    code, seen = _run(tmp_path)
    assert code == 0 and seen.read_text() == "-" and with_greeter == []
    assert "greetings" not in lowprof.load(tmp_path / "r").tables


def test_a_feature_check_refuses_before_the_run_dir(tmp_path, with_greeter, capfd):
    code, _ = _run(tmp_path, "--greeting", "bad")
    err = capfd.readouterr().err
    assert code == 1 and "--greeting bad: refused" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists() and with_greeter == []


def test_a_feature_failing_at_the_end_keeps_the_run(tmp_path, with_greeter, capfd):
    code, seen = _run(tmp_path, "--greeting", "fail")
    err = capfd.readouterr().err
    assert code == 1 and "RuntimeError: the greeter broke" in err and "Traceback" not in err
    run = lowprof.load(tmp_path / "r")
    assert run.complete and run.manifest["extension_errors"] == ["RuntimeError: the greeter broke"]
    assert "system" in run.tables and seen.read_text() == "fail"
    json.dumps(run.manifest)  # still strict JSON


def test_every_manifest_section_is_declared_by_its_feature_or_by_a_core_writer():
    """A section owned by a feature is listed in that feature's declaration (and no other); the rest belong to
    the writers that are not features (the run directory itself, the sampler, import, sweep)."""
    from lowprof.features import FEATURES
    from lowprof.rundir.sections import SECTIONS

    names = {f.name for f in FEATURES}
    listed = {}
    for f in FEATURES:
        for s in f.manifest:
            assert s.owner == f.name, f"{f.name} lists {s.name}, owned by {s.owner}"
            assert s.name not in listed, f"{s.name} listed by {listed.get(s.name)} and {f.name}"
            listed[s.name] = f.name
    for s in SECTIONS.values():
        if s.owner in names:
            assert listed.get(s.name) == s.owner, f"section {s.name} (owner {s.owner}) missing from its FEATURE"
        else:
            assert s.owner in ("core", "sampler", "import", "sweep"), f"section {s.name}: unknown owner {s.owner}"


def test_attach_samples_stacks_only_through_the_stacks_feature(tmp_path, monkeypatch):
    """attach's Python stacks (on unless --no-stacks) are the ``stacks`` feature's hooks: without that one line
    in FEATURES attach has no --no-stacks and records no ``pystacks`` entry; with it, --no-stacks says off."""
    from lowprof.cli import attach, guarded

    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        def attach_run(name: str, *flags: str) -> dict:
            args = _parser("attach").parse_args([str(target.pid), "--duration", "0.2", "--probes", "system",
                                                 "--quiet", "--out", str(tmp_path / name), *flags])
            assert guarded(attach.main, args) == 0
            return lowprof.load(tmp_path / name).manifest

        assert attach_run("off", "--no-stacks")["probes"]["pystacks"] == {"status": "off", "reason": "--no-stacks"}
        assert "--no-stacks" not in _parser("run").format_help()  # attach's flag only
        monkeypatch.setattr(features_mod, "FEATURES", tuple(f for f in features_mod.FEATURES if f.name != "stacks"))
        assert "--no-stacks" not in _parser("attach").format_help()
        m = attach_run("without")
        assert "pystacks" not in m["probes"] and m["probes"]["system"]["status"] == "ok"
    finally:
        target.kill()
        target.wait()


class _Stopper:
    """A throwaway feature's recorder for attach that owns the end of the window (``wait``)."""

    calls: list = []

    def __init__(self, values, recording, held) -> None:
        self.values = dict(values)
        self.calls.append(("record", held))

    def sampling(self, duration_s, quiet) -> str:
        self.calls.append(("sampling", duration_s))
        return "stopping on my own"

    def wait(self, stop, duration_s, quiet) -> str:
        self.calls.append(("wait", duration_s, stop.is_set()))
        return "the stopper said so"

    def finished(self, recording, ended) -> str | None:
        self.calls.append(("finished", ended))
        return "--stopper: kept its own error" if self.values["stopper"] == "fail" else None


class _Held:
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def close(self) -> None:
        _Stopper.calls.append(("closed", self.pid))


def _stopper_claim(values, pid):
    if values["stopper"] == "refuse":
        raise LowprofError(f"--stopper: PID {pid} refused")
    return _Held(pid) if values["stopper"] else None


STOPPER = Feature("stopper", "a feature made up by a test: it ends attach's window itself",
                  options=(Option("--stopper", help="how to stop", metavar="HOW", verbs=("attach",)),),
                  claim=_stopper_claim,
                  record=lambda values, rec, held: _Stopper(values, rec, held) if values["stopper"] else None)


class _Witness:
    def finished(self, recording, ended) -> None:
        _Stopper.calls.append(("witness finished",))


WITNESS = Feature("witness", "a feature made up by a test: it says when its finished runs",
                  record=lambda values, rec: _Witness())


@pytest.mark.parametrize("how", ["ok", "fail", "refuse"])
def test_a_feature_can_own_the_end_of_an_attach_window(tmp_path, monkeypatch, capfd, how):
    """claim (before any run directory), sampling (its words on the start line), wait (the window ends when it
    says, not at --duration) and finished (last, after the others; a returned line is said as an error and not
    recorded again), and what it claimed is closed: the hooks attach calls of any feature, not of one."""
    import time

    from lowprof.cli import attach, guarded

    monkeypatch.setattr(features_mod, "FEATURES", (STOPPER, WITNESS) + features_mod.FEATURES)
    _Stopper.calls = []
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        out = tmp_path / "a"
        args = _parser("attach").parse_args([str(target.pid), "--duration", "5", "--probes", "system", "--no-stacks",
                                             "--out", str(out), "--stopper", how])
        t0 = time.monotonic()
        code = guarded(attach.main, args)
        took = time.monotonic() - t0
    finally:
        target.kill()
        target.wait()
    err = capfd.readouterr().err
    if how == "refuse":
        assert code == 1 and err.strip() == f"lowprof: error: --stopper: PID {target.pid} refused"
        assert not out.exists() and _Stopper.calls == []
        return
    assert took < 5  # ended by the feature, not by --duration
    held = _Stopper.calls[0][1]
    assert isinstance(held, _Held) and held.pid == target.pid
    assert _Stopper.calls == [("record", held), ("sampling", 5.0), ("wait", 5.0, False), ("witness finished",),
                              ("finished", None), ("closed", target.pid)]
    assert "; stopping on my own" in err.splitlines()[0]
    m = lowprof.load(out).manifest
    assert m["workload"]["attach_ended_by"] == "the stopper said so" and "extension_errors" not in m
    assert "stopped (the stopper said so)" in err
    if how == "fail":
        assert code == 1 and err.strip().splitlines()[-1] == "lowprof: error: --stopper: kept its own error"
    else:
        assert code == 0 and "error" not in err


def test_attach_traces_kernels_only_through_the_kernels_feature(monkeypatch):
    """attach's --trace kernels is the kernels feature's: without its line in FEATURES attach has no --trace."""
    assert "--trace kernels" in _parser("attach").format_help()
    monkeypatch.setattr(features_mod, "FEATURES", tuple(f for f in features_mod.FEATURES if f.name != "kernels"))
    assert "--trace" not in _parser("attach").format_help()
    with pytest.raises(SystemExit):
        _parser("attach").parse_args(["--trace", "kernels", "1"])

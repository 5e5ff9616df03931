"""``--devices`` on ``report`` and ``compare`` (as on ``power`` and ``ipw``): the energy summed per pass and per
marked phase is over the chosen devices, the per-device figures only theirs; default auto (the GPUs here).

Run: written here with two kinds of power device, a GPU (NVML energy counter rising 200 -> 260 W) and a RAPL
package with its core subzone inside it (counters at 40 W and 25 W), two passes and one marked phase.
CONSTRUCTED figures; the expected sums are the tables' own counters interpolated at the windows' edges."""

from __future__ import annotations

import csv
import functools
import json

import numpy as np
import pandas as pd
import pytest

from lowprof.rundir import RunWriter, load
from lowprof.rundir.specs.host import RAPL
from lowprof.rundir.specs.launches import STEPS
from lowprof.rundir.specs.marks import MARKS
from lowprof.rundir.specs.nvml import GPU_POWER
from tests import _analysis_runs as R

S = 1_000_000_000
PKG, CORE = "rapl:intel-rapl:0:package-0", "rapl:intel-rapl:0:0:core"
PASSES = [(1.0, 2.0), (3.0, 5.0)]  # s
PHASE = (1.5, 4.5)  # "decode", s


def _gpu_energy_j(k: int) -> float:
    """The GPU's counter at k s: power 200 + 10 k W over [k, k+1] s, so not one constant rate."""
    return float(sum(200.0 + 10.0 * i for i in range(k)))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("devices") / "r"
    w = RunWriter(path, kind="test")
    rows = []
    for zone, domain, watts in (("intel-rapl:0", "package-0", 40.0), ("intel-rapl:0:0", "core", 25.0)):
        for k in range(7):
            rows.append({"t_ns": k * S, "zone": zone, "domain": domain, "energy_j": watts * k,
                         "power_w": None if k == 0 else watts})
    w.write_frame(RAPL, pd.DataFrame(rows))
    w.table(GPU_POWER).extend([{"t_ns": k * S, "gpu": 0, "power_w": 200.0 + 10.0 * k, "energy_j": _gpu_energy_j(k),
                                "energy_t_ns": k * S, "power_limit_w": 400.0} for k in range(7)])
    w.write_frame(STEPS, pd.DataFrame({"name": ["pass#1", "pass#2"], "pid": 1, "tid": 1,
                                       "start_ns": [int(a * S) for a, _ in PASSES],
                                       "end_ns": [int(b * S) for _, b in PASSES]}))
    w.write_frame(MARKS, pd.DataFrame({"t_ns": [int(PHASE[0] * S), int(PHASE[1] * S)], "name": "decode",
                                       "kind": ["begin", "end"], "pid": 1}))
    w.finish()
    return path


@functools.cache
def _counters(run_dir) -> dict:
    """Each device's energy counter as the run's tables hold it: (t s, J), read once."""
    run = load(run_dir)
    g, r = run["gpu_power"], run["rapl"]
    counters = {"gpu0": (g.energy_t_ns / S, g.energy_j)}
    for zone, name in (("intel-rapl:0", PKG), ("intel-rapl:0:0", CORE)):
        z = r[r.zone == zone]
        counters[name] = (z.t_ns / S, z.energy_j)
    return counters


def _by_hand(run_dir, devices: list[str], a: float, b: float) -> float:
    """The devices' energy (J) over [a, b] s: each one's own counter, interpolated at the edges, summed."""
    counters = _counters(run_dir)
    return sum(float(np.interp(b, *counters[d]) - np.interp(a, *counters[d])) for d in devices)


def _per_pass(run_dir, devices: list[str]) -> float:
    return float(np.median([_by_hand(run_dir, devices, a, b) for a, b in PASSES]))


def _report(capsys, run_dir, *flags) -> dict:
    rc, out, err = R.lowprof_main(capsys, "report", run_dir, "--json", *flags)
    assert rc == 0, err
    return json.loads(out)["power"]


def test_report_sums_the_chosen_devices_per_pass_and_phase(run_dir, capsys):
    auto = _report(capsys, run_dir)
    assert auto["energy summed over"] == "gpus"  # default unchanged: auto, the GPUs
    assert auto["energy_per_pass_j"] == pytest.approx(_per_pass(run_dir, ["gpu0"]))
    assert auto["phase decode energy_j"] == pytest.approx(_by_hand(run_dir, ["gpu0"], *PHASE))
    assert {f"{d} energy_j" for d in ("gpu0", PKG, CORE)} <= set(auto)  # every device's own figures
    both = _report(capsys, run_dir, "--devices", f"gpu0,{PKG}")
    want = _per_pass(run_dir, ["gpu0", PKG])
    assert both["energy_per_pass_j"] == pytest.approx(want) and want > auto["energy_per_pass_j"] + 1
    assert both["phase decode energy_j"] == pytest.approx(_by_hand(run_dir, ["gpu0", PKG], *PHASE))
    assert both["energy summed over"] == f"gpu0,{PKG}" and f"{CORE} energy_j" not in both
    cpu = _report(capsys, run_dir, "--devices", "cpu")  # the package alone: its core subzone is inside it
    assert cpu["energy_per_pass_j"] == pytest.approx(_per_pass(run_dir, [PKG]))
    assert not any(k.startswith("gpu0") for k in cpu)
    assert _report(capsys, run_dir, "--devices", "all")["energy_per_pass_j"] == pytest.approx(want)


def _compare_rows(capsys, run_dir, *flags) -> dict:
    rc, out, err = R.lowprof_main(capsys, "compare", run_dir, run_dir, "--force", "--csv", "-", *flags)
    assert rc == 0, err
    return {(r["metric"], r["params"]): float(r["A"]) for r in csv.DictReader(out.splitlines())}


def test_compare_sums_the_chosen_devices_per_pass_and_phase(run_dir, capsys):
    auto = _compare_rows(capsys, run_dir)
    assert auto[("energy_per_pass_j", "devices=gpus,from=counter")] == pytest.approx(_per_pass(run_dir, ["gpu0"]))
    assert ("energy_j", f"device={CORE},from=counter") in auto  # every device's row without the flag
    both = _compare_rows(capsys, run_dir, "--devices", f"gpu0,{PKG}")
    key = f"devices=gpu0,{PKG},from=counter"
    assert both[("energy_per_pass_j", key)] == pytest.approx(_per_pass(run_dir, ["gpu0", PKG]))
    assert both[("phase_energy_j", f"{key},phase=decode")] == pytest.approx(_by_hand(run_dir, ["gpu0", PKG], *PHASE))
    assert {p for m, p in both if m == "energy_j"} == {"device=gpu0,from=counter", f"device={PKG},from=counter"}
    cpu = _compare_rows(capsys, run_dir, "--devices", "cpu")
    assert cpu[("energy_per_pass_j", "devices=cpu,from=counter")] == pytest.approx(_per_pass(run_dir, [PKG]))


@pytest.mark.parametrize("verb", ["report", "compare"])
@pytest.mark.parametrize("spec, says", [("gpu7", "no power readings for ['gpu7']"),
                                        (f"{PKG},{CORE}", f"'{CORE}' is inside '{PKG}'")])
def test_a_bad_devices_spec_is_one_line(verb, spec, says, run_dir, capsys):
    """As ``lowprof power --devices``: one line naming the problem, exit 1, nothing printed on stdout."""
    dirs = [run_dir] if verb == "report" else [run_dir, run_dir, "--force"]
    rc, out, err = R.lowprof_main(capsys, verb, *dirs, "--devices", spec)
    assert rc == 1 and out == "" and err.strip().count("\n") == 0 and says in err and "Traceback" not in err
    prc, _, perr = R.lowprof_main(capsys, "power", run_dir, "--devices", spec)
    assert prc == rc and says in perr  # the same line and status as power's


@pytest.mark.parametrize("verb", ["power", "ipw", "report", "compare"])
def test_every_power_verb_takes_devices_with_an_example(verb, capsys):
    with pytest.raises(SystemExit):
        R.lowprof_main(capsys, verb, "--help")
    text = capsys.readouterr().out
    assert "--devices LIST" in text and "auto (the GPUs" in text
    examples = text.split("examples:")[-1]
    assert "--devices" in examples, verb

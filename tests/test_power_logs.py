"""`lowprof import LOG`: power logs in nvidia-smi's documented CSV and dmon formats and a plain CSV, into
gpu_power, with their energy against a hand integral and every unparsable line named."""

from __future__ import annotations

import calendar
import json
from types import SimpleNamespace

import pytest

from lowprof.cli import main
from lowprof.rundir import load


@pytest.fixture
def lp(capsys):
    """``lowprof ARGS`` in this process (the parser and verbs as the command runs them, without ~1 s of
    interpreter start per call); returns returncode, stdout, stderr like subprocess.run."""
    def run(*args):
        capsys.readouterr()
        rc = main([str(a) for a in args])
        got = capsys.readouterr()
        return SimpleNamespace(returncode=rc, stdout=got.out, stderr=got.err)
    return run


def _trapezoid(t, p):
    return sum((p[i] + p[i + 1]) / 2 * (t[i + 1] - t[i]) for i in range(len(t) - 1))


def _power(run, path, *extra):
    r = run("power", path, "--json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["devices"]


# nvidia-smi --query-gpu=timestamp,index,name,power.draw,power.draw.instant,enforced.power.limit,clocks.sm,
#   utilization.gpu,clocks_event_reasons.active --format=csv -lms 100   (header with units, values with units)
SMI_INSTANT = [[71.23, 698.5, 702.0, 420.25, 69.0], [70.5, 310.0, 355.75, 300.5, 68.25]]
SMI_AVERAGE = [[70.0, 71.0, 250.0, 400.0, 390.0], [70.0, 70.5, 120.0, 200.0, 250.0]]


def _smi_csv(path, units=True):
    w = " W" if units else ""
    mhz = " MHz" if units else ""
    pct = " %" if units else ""
    lines = ["timestamp, index, name, power.draw [W], power.draw.instant [W], enforced.power.limit [W], "
             "clocks.sm [MHz], utilization.gpu [%], clocks_event_reasons.active"]
    for k in range(5):
        for g in (0, 1):
            lines.append(f"2024/05/14 10:21:33.{100 * k + 100:03d}, {g}, NVIDIA H100 80GB HBM3, "
                         f"{SMI_AVERAGE[g][k]:.2f}{w}, {SMI_INSTANT[g][k]:.2f}{w}, 700.00{w}, {1980 if k else 345}{mhz}, "
                         f"{97 if k else 0}{pct}, {'0x0000000000000004' if k == 2 else '0x0000000000000000'}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("units", [True, False])
def test_nvidia_smi_query_gpu_csv(tmp_path, lp, units):
    log = _smi_csv(tmp_path / "smi.csv", units)
    r = lp("import", log, "--out", tmp_path / "run", "--tz", "Europe/Paris")
    assert r.returncode == 0, r.stderr
    run = load(tmp_path / "run")
    g = run["gpu_power"]
    assert sorted(g.gpu.unique()) == [0, 1] and len(g) == 10
    # 10:21:33.100 in Paris on 14 May 2024 is CEST (UTC+2): 08:21:33.1 UTC
    assert run.manifest["clock"]["origin_realtime_ns"] == (calendar.timegm((2024, 5, 14, 8, 21, 33)) * 10**9 + 100_000_000)
    assert g[g.gpu == 0].sm_clock_hz.tolist() == [345e6] + [1980e6] * 4
    assert g[g.gpu == 0].clock_event_reasons.tolist() == [0, 0, 4, 0, 0]
    devs = _power(lp, tmp_path / "run")
    t = [0.0, 0.1, 0.2, 0.3, 0.4]
    for gpu in (0, 1):
        d = devs[f"gpu{gpu}"]
        assert d["signal"] == "instant" and d["energy_method"] == "integrated instant"
        assert d["energy_j"] == pytest.approx(_trapezoid(t, SMI_INSTANT[gpu]))
        assert d["peak_w"] == pytest.approx(max(SMI_INSTANT[gpu])) and d["limit_w"] == 700
    avg = _power(lp, tmp_path / "run", "--average")["gpu0"]
    assert avg["signal"] == "1 s average"  # power.draw on a GPU the log names as an H100 (Hopper)
    assert avg["energy_j"] == pytest.approx(_trapezoid(t, SMI_AVERAGE[0]))
    assert devs["gpu0"]["sw_power_cap_s"] == pytest.approx(0.1)


def test_nvidia_smi_local_time_needs_a_zone(tmp_path, lp):
    log = _smi_csv(tmp_path / "smi.csv")
    r = lp("import", log, "--out", tmp_path / "run")
    assert r.returncode == 1 and "smi.csv:2:" in r.stderr and "--tz" in r.stderr and "Traceback" not in r.stderr
    r = lp("import", log, "--out", tmp_path / "run2", "--tz", "+02:00")
    assert r.returncode == 0, r.stderr
    assert load(tmp_path / "run2").manifest["clock"]["origin_realtime_ns"] == (
        calendar.timegm((2024, 5, 14, 8, 21, 33)) * 10**9 + 100_000_000)
    r = lp("import", log, "--out", tmp_path / "run3", "--tz", "Mars/Olympus")
    assert r.returncode == 1 and "Mars/Olympus" in r.stderr and "Traceback" not in r.stderr


# nvidia-smi dmon -s pucm -o DT: the header names and units, repeated; '-' where a reading is not available
DMON = """#Date       Time        gpu    pwr  gtemp  mtemp     sm    mem    enc    dec   mclk   pclk
#YYYYMMDD   HH:MM:SS    Idx      W      C      C      %      %      %      %    MHz    MHz
 20240514   10:21:33      0     70     35     40      0      0      0      0   2619    345
 20240514   10:21:33      1     72     36     41      0      0      0      0   2619    345
 20240514   10:21:34      0    455     50     45     98     60      0      0   2619   1980
 20240514   10:21:34      1    300     48     44     90     50      0      0   2619   1980
#Date       Time        gpu    pwr  gtemp  mtemp     sm    mem    enc    dec   mclk   pclk
#YYYYMMDD   HH:MM:SS    Idx      W      C      C      %      %      %      %    MHz    MHz
 20240514   10:21:35      0    620     55      -     99     70      0      0   2619   1980
 20240514   10:21:35      1      -     50      -     95     55      0      0   2619   1980
 20240514   10:21:36      0    410     56     47     97     65      0      0   2619   1980
 20240514   10:21:36      1    280     51     46     92     58      0      0   2619   1980
"""


def test_nvidia_smi_dmon(tmp_path, lp):
    log = tmp_path / "dmon.log"
    log.write_text(DMON)
    r = lp("import", log, "--out", tmp_path / "run", "--tz", "UTC")
    assert r.returncode == 0, r.stderr
    run = load(tmp_path / "run")
    assert run.manifest["clock"]["origin_realtime_ns"] == calendar.timegm((2024, 5, 14, 10, 21, 33)) * 10**9
    g = run["gpu_power"]
    assert g[g.gpu == 0].temperature_c.tolist() == [35, 50, 55, 56] and g[g.gpu == 1].power_w.isna().sum() == 1
    devs = _power(lp, tmp_path / "run")
    assert devs["gpu0"]["energy_j"] == pytest.approx(_trapezoid([0, 1, 2, 3], [70, 455, 620, 410]))
    assert devs["gpu1"]["energy_j"] == pytest.approx(_trapezoid([0, 1, 3], [72, 300, 280]))  # '-' is no reading
    assert devs["gpu0"]["signal"] == "driver average (window unknown)"


def test_dmon_without_times_takes_the_interval(tmp_path, lp):
    log = tmp_path / "dmon.log"
    log.write_text("# gpu    pwr  gtemp\n# Idx      W      C\n    0     70     35\n    0    470     50\n    0    270     51\n")
    r = lp("import", log, "--out", tmp_path / "run")
    assert r.returncode == 1 and "--interval" in r.stderr and "dmon.log:3:" in r.stderr
    assert lp("import", log, "--out", tmp_path / "run", "--interval", "0.5").returncode == 0
    assert _power(lp, tmp_path / "run")["gpu0"]["energy_j"] == pytest.approx(_trapezoid([0, 0.5, 1.0], [70, 470, 270]))


def test_plain_csv_long_wide_and_with_a_counter(tmp_path, lp):
    long = tmp_path / "long.csv"
    long.write_text("t_s,gpu,power_w\n0,0,100\n0,1,50\n1,0,300\n1,1,50\n3,0,200\n3,1,150\n")
    assert lp("import", long, "--out", tmp_path / "a").returncode == 0
    devs = _power(lp, tmp_path / "a")
    assert devs["gpu0"]["energy_j"] == pytest.approx(_trapezoid([0, 1, 3], [100, 300, 200]))
    assert devs["gpu1"]["energy_j"] == pytest.approx(_trapezoid([0, 1, 3], [50, 50, 150]))
    wide = tmp_path / "wide.csv"
    wide.write_text("unix_s,left_w,right_w\n1715674893.0,100,50\n1715674894.0,300,50\n1715674896.0,200,150\n")
    assert lp("import", wide, "--out", tmp_path / "b").returncode == 0
    run = load(tmp_path / "b")
    assert run.manifest["clock"]["origin_realtime_ns"] == 1715674893 * 10**9
    assert [d["name"] for d in run.manifest["probes"]["nvml"]["devices"]] == ["left", "right"]
    assert _power(lp, tmp_path / "b")["gpu0"]["energy_j"] == pytest.approx(_trapezoid([0, 1, 3], [100, 300, 200]))
    counter = tmp_path / "counter.csv"
    counter.write_text("t_s,device,power_w,energy_j\n0,gpu-a,100,5000\n1,gpu-a,300,5190\n3,gpu-a,200,5700\n")
    assert lp("import", counter, "--out", tmp_path / "c").returncode == 0
    d = _power(lp, tmp_path / "c")["gpu0"]
    assert (d["energy_j"], d["energy_method"]) == (pytest.approx(700), "counter")
    assert d["energy_integrated_j"] == pytest.approx(_trapezoid([0, 1, 3], [100, 300, 200]))


@pytest.mark.parametrize("name, text, line", [
    ("smi.csv", "timestamp, index, power.draw [W]\n2024/05/14 10:21:33.100, 0, 71.2 W\n2024/05/14 10:21:33.200, 0, lots W\n", 3),
    ("smi.csv", "timestamp, index, power.draw [W]\n2024/05/14 10:21:33.100, 0, 71.2 W\n2024/05/14 25:21:33.200, 0, 7 W\n", 3),
    ("smi.csv", "timestamp, index, power.draw [W]\n2024/05/14 10:21:33.100, 0\n", 2),
    ("dmon.log", "#Date Time gpu pwr\n#YYYYMMDD HH:MM:SS Idx W\n 20240514 10:21:33 0 70\n 20240514 10:21:34 0 7x\n", 4),
    ("dmon.log", "#Date Time gpu pwr\n#YYYYMMDD HH:MM:SS Idx W\n 20240514 10:21:33 0\n", 3),
    ("p.csv", "t_s,gpu,power_w\n0,0,100\n1,0,\n2,zero,3\n", 4),
    ("p.csv", "t_s,gpu,power_w\n0,0,100\nsoon,0,3\n", 3),
])
def test_a_line_that_does_not_parse_is_named(tmp_path, cli, name, text, line):
    log = tmp_path / name
    log.write_text(text)
    r = cli("import", log, "--out", tmp_path / "run", "--tz", "UTC")
    assert r.returncode == 1 and f"{name}:{line}:" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_imported_log_through_ipw_and_budget(tmp_path, lp):
    """A plain unix-time log, a results file in unix time, and the oversubscription of a budget."""
    log = tmp_path / "p.csv"
    log.write_text("unix_s,gpu,power_w\n" + "".join(f"{1000 + k * 0.5},0,{200 if k % 2 else 400}\n" for k in range(21)))
    assert lp("import", log, "--out", tmp_path / "run").returncode == 0
    res = tmp_path / "res.jsonl"
    res.write_text('{"id": 1, "correct": true, "start_unix_s": 1001, "end_unix_s": 1003}\n'
                   '{"id": 2, "correct": false, "start_unix_s": 1003, "end_unix_s": 1009}\n')
    r = lp("ipw", tmp_path / "run", "--results", res, "--json")
    assert r.returncode == 0, r.stderr
    (got,) = json.loads(r.stdout)
    # the power alternates 400/200 W every 0.5 s: the mean of the linear interpolation over whole seconds is 300 W
    assert got["mean_power_w"] == pytest.approx(300) and got["ipw_per_w"] == pytest.approx(0.5 / 300)
    r = lp("power", tmp_path / "run", "--budget-w", "2000", "--limit-w", "500", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["servers_by_peak"] == 5, r.stderr


def test_nvidia_smi_csv_without_a_gpu_field_numbers_the_gpus_of_each_sample(tmp_path, lp):
    """`--query-gpu=timestamp,power.draw` on a 2-GPU host prints both GPUs, in index order, under one
    timestamp per sample: they are two devices, not one GPU alternating 100/300 W (before: one 'gpu0' with
    mean 200 W)."""
    log = tmp_path / "smi.csv"
    log.write_text("timestamp, power.draw [W]\n" + "".join(
        f"2024/05/14 10:21:3{k}.100, 100.00 W\n2024/05/14 10:21:3{k}.100, {300 + 10 * k:.2f} W\n" for k in range(3)))
    r = lp("import", log, "--out", tmp_path / "run", "--tz", "UTC")
    assert r.returncode == 0, r.stderr
    devs = _power(lp, tmp_path / "run")
    assert sorted(devs) == ["gpu0", "gpu1"]
    assert devs["gpu0"]["energy_j"] == pytest.approx(_trapezoid([0, 1, 2], [100, 100, 100]))
    assert devs["gpu1"]["energy_j"] == pytest.approx(_trapezoid([0, 1, 2], [300, 310, 320]))


def test_nvidia_smi_csv_without_timestamps_takes_the_interval(tmp_path, lp):
    """`--query-gpu=index,power.draw -lms 500` has no time field: --interval gives it (it crashed with
    KeyError 't_ns')."""
    log = tmp_path / "smi.csv"
    log.write_text("index, power.draw [W]\n0, 100 W\n1, 50 W\n0, 300 W\n1, 50 W\n0, 200 W\n1, 150 W\n")
    r = lp("import", log, "--out", tmp_path / "run", "--interval", "0.5")
    assert r.returncode == 0, r.stderr
    devs = _power(lp, tmp_path / "run")
    assert devs["gpu0"]["energy_j"] == pytest.approx(_trapezoid([0, 0.5, 1.0], [100, 300, 200]))
    assert devs["gpu1"]["energy_j"] == pytest.approx(_trapezoid([0, 0.5, 1.0], [50, 50, 150]))


@pytest.mark.parametrize("value, why", [("inf", "not a finite"), ("-5", "negative"), ("1e400", "not a finite")])
def test_a_power_that_is_no_power_is_named(tmp_path, cli, value, why):
    """'inf' or a negative power parsed as a reading and left every figure null or wrong; 'nan' (pandas' way
    of writing a missing value) is no reading, like nvidia-smi's [N/A]."""
    log = tmp_path / "p.csv"
    log.write_text(f"t_s,gpu,power_w\n0,0,100\n1,0,{value}\n2,0,300\n")
    r = cli("import", log, "--out", tmp_path / "run")
    assert r.returncode == 1 and "p.csv:3:" in r.stderr and why in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_nan_is_no_reading(tmp_path, lp):
    log = tmp_path / "p.csv"
    log.write_text("t_s,gpu,power_w\n0,0,100\n1,0,nan\n2,0,300\n")
    assert lp("import", log, "--out", tmp_path / "run").returncode == 0
    assert _power(lp, tmp_path / "run")["gpu0"]["energy_j"] == pytest.approx(_trapezoid([0, 2], [100, 300]))


def test_nvidia_smi_csv_with_only_the_instantaneous_power(tmp_path, lp):
    """`--query-gpu=timestamp,index,power.draw.instant` (no averaged field) imported (it failed unpacking None)."""
    log = tmp_path / "smi.csv"
    log.write_text("timestamp, index, power.draw.instant [W]\n2024/05/14 10:21:33.000, 0, 100.00 W\n"
                   "2024/05/14 10:21:34.000, 0, 300.00 W\n2024/05/14 10:21:36.000, 0, 200.00 W\n")
    r = lp("import", log, "--out", tmp_path / "run", "--tz", "UTC")
    assert r.returncode == 0, r.stderr
    d = _power(lp, tmp_path / "run")["gpu0"]
    assert d["signal"] == "instant" and d["energy_j"] == pytest.approx(_trapezoid([0, 1, 3], [100, 300, 200]))


@pytest.mark.parametrize("name, signal", [
    ("NVIDIA H100 80GB HBM3", "1 s average"), ("NVIDIA A100-SXM4-80GB", "instant (driver)"),
    ("NVIDIA A10G", "1 s average"), ("Tesla V100-SXM2-16GB", "instant (driver)"), ("NVIDIA L4", "1 s average"),
    ("Some Future GPU", "driver average (window unknown)")])
def test_what_power_draw_means_comes_from_the_gpu_named_in_the_log(tmp_path, lp, name, signal):
    """nvidia-smi: power.draw "On Ampere or newer devices, returns average power draw over 1 sec. On older
    devices, returns instantaneous power draw" (NVML: GA100 is instantaneous too). A log with a ``name`` field
    says which GPU it is, so its power_w meaning is recorded per GPU as for a recording (before: every log
    'window unknown')."""
    log = tmp_path / "smi.csv"
    log.write_text(f"timestamp, index, name, power.draw [W]\n2024/05/14 10:21:33.000, 0, {name}, 100.00 W\n"
                   f"2024/05/14 10:21:34.000, 0, {name}, 300.00 W\n")
    assert lp("import", log, "--out", tmp_path / "run", "--tz", "UTC").returncode == 0
    assert _power(lp, tmp_path / "run")["gpu0"]["signal"] == signal
    meaning = load(tmp_path / "run").manifest["probes"]["nvml"]["devices"][0]["power_w"]
    assert meaning["averaging"] == {"1 s average": "1s", "instant (driver)": "none"}.get(signal, "unknown")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_log_saved_with_a_byte_order_mark(tmp_path, lp, encoding):
    """nvidia-smi's output saved on Windows: with a UTF-8 BOM (the header read as '\\ufefftimestamp': 'no timestamp
    field') or as UTF-16 by PowerShell's '>' (not recognised as a power log at all)."""
    log = tmp_path / "smi.csv"
    log.write_bytes("timestamp, index, power.draw [W]\r\n2024/05/14 10:21:33.000, 0, 100.00 W\r\n"
                    "2024/05/14 10:21:35.000, 0, 300.00 W\r\n".encode(encoding))
    r = lp("import", log, "--out", tmp_path / "run", "--tz", "UTC")
    assert r.returncode == 0, r.stderr
    assert _power(lp, tmp_path / "run")["gpu0"]["energy_j"] == pytest.approx(_trapezoid([0, 2], [100, 300]))

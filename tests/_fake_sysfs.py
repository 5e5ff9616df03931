"""Fake /sys/class/powercap and /sys/class/hwmon trees laid out like the real ones, and a way to
run code as an unprivileged user so that a chmod 000 file really refuses to open (root ignores modes)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

NOBODY = 65534


def world_dir() -> Path:
    """A temp dir every user can enter (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="lowprof-sysfs-"))
    d.chmod(0o755)
    return d


def rapl_tree(root: Path, package_uj: int = 1_000_000, dram_uj: int = 500_000,
              max_uj: int = 262_143_328_850) -> Path:
    """intel-rapl:0 (package-0) with subzones :0:0 core and :0:1 dram, as on a one-socket Intel host."""
    for zone, name, uj in (("intel-rapl:0", "package-0", package_uj),
                           ("intel-rapl:0/intel-rapl:0:0", "core", package_uj // 2),
                           ("intel-rapl:0/intel-rapl:0:1", "dram", dram_uj)):
        z = root / zone
        z.mkdir(parents=True, exist_ok=True)
        (z / "name").write_text(name + "\n")
        (z / "energy_uj").write_text(f"{uj}\n")
        (z / "max_energy_range_uj").write_text(f"{max_uj}\n")
    (root / "intel-rapl").mkdir(exist_ok=True)  # the control type directory, not a zone
    (root / "intel-rapl" / "enabled").write_text("1\n")
    for p in root.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return root


def set_uj(root: Path, zone: str, uj: int) -> None:
    (root / zone / "energy_uj").write_text(f"{uj}\n")


GRACE_FIRMWARE = Path(__file__).resolve().parent / "data" / "traces" / "hwmon-grace"
ERR_RETURN = 0xFFFFFFFF  # AcpiPowerMeter.h PWR_METER_ERR_RETURN: _PMM's value when the telemetry is not valid
ENODATA_MARK = "<ENODATA>"  # a fake file holding this fails its read with ENODATA (see enodata_reads)


def grace_meters(socket: int = 0) -> list[dict]:
    """The ACPI power meters of one Grace socket as NVIDIA's firmware defines them
    (tests/data/traces/hwmon-grace/BpmpSsdtSocket<N>_TH500.asl): per ``Device (PMxy)`` its OEM information
    string, its default averaging interval (``CAI``, ms), the intervals it accepts (_PMC min/max, ms) and
    whether it supports hardware limits (a cap)."""
    text = (GRACE_FIRMWARE / f"BpmpSsdtSocket{socket}_TH500.asl").read_text()
    ms = {"PWR_METER_MEASUREMENT_SAMPLING_TIME_50MS": 50, "PWR_METER_MEASUREMENT_SAMPLING_TIME_1SEC": 1000}
    meters = []
    for block in re.split(r"\n\s*Device \(", text)[1:]:
        oem = re.search(r'"([^"]*Power Socket \d+)"', block)
        if not block.startswith("PM") or not oem:
            continue
        pmc = re.search(r"Name \(PMC, Package\(\) \{(.*?)\}\)", block, re.S).group(1)
        intervals = [ms[m] for m in re.findall(r"PWR_METER_MEASUREMENT_SAMPLING_TIME_\w+", pmc)]
        meters.append({"device": block.split(")", 1)[0], "oem_info": oem.group(1),
                       "average_interval_ms": ms[re.search(r"Name \(CAI, (\w+)\)", block).group(1)],
                       "interval_min_ms": min(intervals), "interval_max_ms": max(intervals),
                       "can_cap": "PWR_METER_SUPPORTS_HW_LIMITS" in pmc})
    return meters


def power_meter_value(mw: int | None, kernel: str = "new") -> str:
    """What ``power1_average`` reads for a firmware value in mW: acpi_power_meter prints mW * 1000 (µW); the
    firmware's error value 0xFFFFFFFF reads as 4294967295000 on older kernels and fails with ENODATA since
    the driver learned UNKNOWN_POWER (``kernel="new"``)."""
    if mw is None or mw == ERR_RETURN:
        return ENODATA_MARK if kernel == "new" else f"{ERR_RETURN * 1000}"
    return f"{mw * 1000}"


def grace_hwmon_tree(root: Path, module_mw: dict | None = None, kernel: str = "new") -> Path:
    """A GH200 node's /sys/class/hwmon: socket 0's four ACPI power meters laid out as the legacy
    ``acpi_power_meter`` driver registers them (``hwmonN/device/`` holding name, power1_average in µW,
    power1_average_interval and its min/max in ms, power1_oem_info, power1_accuracy, power1_is_battery;
    power1_cap* on meters that can cap), built from the firmware definitions; plus an amdgpu-style power
    sensor with a label, an energy counter, and a temperature-only chip. ``module_mw``: OEM info -> mW
    (None or 0xFFFFFFFF: the firmware's error value)."""
    values = {"Module Power Socket 0": 812_000, "Grace Power Socket 0": 121_500, "CPU Power Socket 0": 80_250,
              "SysIO Power Socket 0": 25_000} | (module_mw or {})
    for k, m in enumerate(grace_meters(0)):
        dev = root / f"hwmon{k}" / "device"
        dev.mkdir(parents=True)
        files = {"name": "power_meter", "power1_average": power_meter_value(values[m["oem_info"]], kernel),
                 "power1_oem_info": m["oem_info"], "power1_average_interval": m["average_interval_ms"],
                 "power1_average_interval_min": m["interval_min_ms"], "power1_average_interval_max": m["interval_max_ms"],
                 "power1_accuracy": "100.0%", "power1_is_battery": 0, "power1_model_number": "",
                 "power1_serial_number": ""}
        if m["can_cap"]:
            files |= {"power1_cap": 0, "power1_cap_min": 0, "power1_cap_max": 0, "power1_cap_hyst": "unknown",
                      "power1_alarm": 0}
        for name, v in files.items():
            (dev / name).write_text(f"{v}\n")
    gpu = root / "hwmon4"
    gpu.mkdir()
    (gpu / "name").write_text("amdgpu\n")
    (gpu / "power1_average").write_text("45000000\n")
    (gpu / "power1_label").write_text("PPT\n")
    en = root / "hwmon5"
    en.mkdir()
    (en / "name").write_text("energy_meter\n")
    (en / "energy1_input").write_text("3000000\n")
    (en / "energy1_label").write_text("Socket energy\n")
    t = root / "hwmon6"
    t.mkdir()
    (t / "name").write_text("nvme\n")
    (t / "temp1_input").write_text("41850\n")
    for p in root.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return root


def set_meter(root: Path, hwmon: str, mw: int | None, kernel: str = "new") -> None:
    (root / hwmon / "device" / "power1_average").write_text(power_meter_value(mw, kernel) + "\n")


def enodata_reads(monkeypatch) -> None:
    """Make the hwmon probe's reads of a fake file holding ENODATA_MARK fail as the kernel's would
    (OSError ENODATA from read(2)); a regular file cannot refuse a read by itself."""
    import errno

    from lowprof.probes import hwmon

    real = hwmon._read

    def read(path):
        v = real(path)
        if v == ENODATA_MARK:
            raise OSError(errno.ENODATA, os.strerror(errno.ENODATA), str(path))
        return v

    monkeypatch.setattr(hwmon, "_read", read)


def run_as_nobody(fn):
    """``fn()`` run in a forked child that dropped to user nobody (when we are root; as ourselves
    otherwise), so file modes apply; returns what fn returned (JSON-able). The child is forked, not
    exec'd: the interpreter under /root (mode 0700) need not be reachable by nobody."""
    if os.geteuid() != 0:
        return fn()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out = {"ok": fn()}
        except BaseException as e:  # noqa: BLE001 - report to the parent
            out, code = {"error": f"{type(e).__name__}: {e}"}, 1
        with os.fdopen(w, "w") as f:
            json.dump(out, f)
        os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    os.waitpid(pid, 0)
    got = json.loads(data)
    if "error" in got:
        raise AssertionError(f"as nobody: {got['error']}")
    return got["ok"]

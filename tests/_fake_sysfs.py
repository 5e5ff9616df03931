"""Fake /sys/class/powercap and /sys/class/hwmon trees laid out like the real ones, and a way to
run code as an unprivileged user so that a chmod 000 file really refuses to open (root ignores modes)."""

from __future__ import annotations

import json
import os
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


def grace_hwmon_tree(root: Path) -> Path:
    """A GH200 node: four ACPI power meters (name power_meter, attributes under device/ with
    power1_oem_info), an amdgpu-style power sensor with a label, an energy counter, and a
    temperature-only chip."""
    meters = [("hwmon0", "Module Power Socket 0", 812_000_000), ("hwmon1", "Grace Power Socket 0", 121_500_000),
              ("hwmon2", "CPU Power Socket 0", 80_250_000), ("hwmon3", "SysIO Power Socket 0", 25_000_000)]
    for hw, info, uw in meters:
        dev = root / hw / "device"
        dev.mkdir(parents=True)
        (root / hw / "name").write_text("power_meter\n")
        (dev / "power1_average").write_text(f"{uw}\n")
        (dev / "power1_oem_info").write_text(info + "\n")
        (dev / "power1_average_interval").write_text("50\n")
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

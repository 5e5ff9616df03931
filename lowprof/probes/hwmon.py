"""The ``hwmon`` probe: power and energy sensors under /sys/class/hwmon, including the GH200 / Grace
power meters.

Layout read (Documentation/hwmon/sysfs-interface): ``ROOT/hwmonN/name``; ``powerK_input`` or
``powerK_average`` in µW; ``energyK_input`` in µJ; ``powerK_label`` / ``energyK_label``. Drivers
registered the legacy way keep their attributes (and sometimes ``name``) in ``hwmonN/device/``;
both places are searched. Grace and Grace Hopper expose ACPI power meters (driver
``acpi_power_meter``, hwmon name ``power_meter``) whose ``device/power1_oem_info`` says what each
measures: ``Module Power Socket N`` (whole GH200 module: CPU, GPU, HBM, DRAM, regulators),
``Grace Power Socket N`` (the Grace socket), ``CPU Power Socket N`` (CPU rail), ``SysIO Power
Socket N`` (SoC / IO rail), with ``power1_average`` in µW over ``power1_average_interval`` ms
(NVIDIA Grace Performance Tuning Guide, "Power Telemetry"; NVIDIA DCGM's DcgmSystemMonitor reads
the same files). ``oem_info`` is used as the sensor's label; each sensor's averaging interval
(``powerK_average_interval``, ms: 50 by default on Grace, 1000 settable) is kept in the manifest.

No reading is not a reading of zero, and not the end of a sensor. NVIDIA's firmware answers
0xFFFFFFFF (``PWR_METER_ERR_RETURN``) while its telemetry is not valid; older kernels print that as
4294967295000 µW, newer ones fail the read with ENODATA. Either gives no row for that sample (counted
in ``read_errors``); the sensor is read again next sample. Only a sensor that cannot be opened at
start (permission, missing file) is left out, with the reason.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from lowprof.feature import Feature
from lowprof.probes.base import Probe, ProbeContext
from lowprof.rundir.specs.host import HWMON_POWER

__all__ = ["HwmonProbe", "HWMON_ROOT", "find_sensors"]

HWMON_ROOT = "/sys/class/hwmon"

_ATTR = re.compile(r"^(power|energy)(\d+)_(input|average)$")
# acpi_power_meter prints the firmware's 0xFFFFFFFF mW error value as µW on kernels without UNKNOWN_POWER
_ERROR_VALUES = {0xFFFFFFFF * 1000}
# read(2) errors that mean "no data this time", not "this sensor cannot be read"
_TRANSIENT = {errno.ENODATA, errno.EAGAIN, errno.EIO, errno.ETIMEDOUT, errno.EBUSY}


def _read(path: Path) -> str:
    with open(path, "rb") as f:
        return f.read().decode(errors="replace").strip()


def find_sensors(root: str | os.PathLike) -> tuple[list[dict], dict[str, str]]:
    """(sensors, unreadable): each sensor ``{path, sensor, chip, label, kind}``; unreadable maps a file to why.

    A sensor whose value file cannot be read now (e.g. permission) goes to ``unreadable`` with the reason.
    """
    root = Path(root)
    sensors, unreadable = [], {}
    if not root.is_dir():
        return sensors, unreadable
    for hw in sorted(root.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not hw.name.startswith("hwmon"):
            continue
        chip = ""
        for d in (hw, hw / "device"):
            try:
                chip = _read(d / "name")
                break
            except OSError:
                continue
        for d in (hw, hw / "device"):
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            kinds = {}
            for n in names:
                m = _ATTR.match(n)
                if m:  # prefer _input over _average for the same channel
                    key = (m.group(1), m.group(2))
                    if key not in kinds or m.group(3) == "input":
                        kinds[key] = n
            for (kind, ch), fname in sorted(kinds.items()):
                path = d / fname
                rel = str(path.relative_to(root))
                label = ""
                for lab in (f"{kind}{ch}_label", f"{kind}{ch}_oem_info"):
                    try:
                        label = _read(d / lab)
                        break
                    except OSError:
                        continue
                try:
                    int(_read(path))
                except PermissionError:
                    unreadable[rel] = "permission denied"
                    continue
                except OSError as e:
                    if e.errno not in _TRANSIENT:  # no data right now (ENODATA...) is still a sensor
                        unreadable[rel] = f"{type(e).__name__}: {e}"
                        continue
                except ValueError as e:
                    unreadable[rel] = f"{type(e).__name__}: {e}"
                    continue
                sensor = {"path": path, "sensor": rel, "chip": chip, "label": label or f"{kind}{ch}", "kind": kind}
                try:
                    sensor["average_interval_ms"] = int(_read(d / f"{kind}{ch}_average_interval"))
                except (OSError, ValueError):
                    pass
                sensors.append(sensor)
    return sensors, unreadable


class HwmonProbe(Probe):
    """Samples every readable power/energy sensor under ``root`` (default /sys/class/hwmon)."""

    name = "hwmon"
    tables = (HWMON_POWER,)
    root = HWMON_ROOT

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        if root is not None:
            self.root = str(root)
        self.unreadable: dict[str, str] = {}
        self.read_errors: dict[str, dict] = {}  # sensor -> {count, last}: samples it gave no reading

    @classmethod
    def available(cls, root: str | os.PathLike | None = None) -> str | None:
        base = Path(root or cls.root)
        if not base.is_dir():
            return f"{base} does not exist (no hwmon drivers)"
        sensors, unreadable = find_sensors(base)
        if sensors:
            return None
        if unreadable:
            f, why = next(iter(unreadable.items()))
            return f"no hwmon power sensor readable: {base / f}: {why}"
        return f"no hwmon power or energy sensors under {base}"

    def start(self, ctx: ProbeContext) -> None:
        self.sensors, self.unreadable = find_sensors(self.root)
        if not self.sensors:
            raise PermissionError(f"no readable hwmon power sensor under {self.root}: {self.unreadable}")

    def _failed(self, sensor: str, why: str) -> None:
        e = self.read_errors.setdefault(sensor, {"count": 0, "last": ""})
        e["count"] += 1
        e["last"] = why

    def sample(self, t_ns: int) -> dict[str, list[dict]]:
        rows = []
        for s in self.sensors:
            try:
                v = int(_read(s["path"]))
            except (OSError, ValueError) as e:  # no reading this time: note it, read it again next sample
                self._failed(s["sensor"], f"{type(e).__name__}: {e}")
                continue
            if v in _ERROR_VALUES:
                self._failed(s["sensor"], f"firmware error value {v} (0xFFFFFFFF mW): no valid reading")
                continue
            power = v / 1e6 if s["kind"] == "power" else None
            energy = v / 1e6 if s["kind"] == "energy" else None
            rows.append({"t_ns": t_ns, "sensor": s["sensor"], "chip": s["chip"], "label": s["label"],
                         "power_w": power, "energy_j": energy})
        return {"hwmon_power": rows}

    def facts(self) -> dict:
        return {"root": self.root,
                "sensors": [{k: s[k] for k in ("sensor", "chip", "label", "average_interval_ms") if k in s}
                            for s in getattr(self, "sensors", [])],
                "unreadable": self.unreadable, "read_errors": self.read_errors}


FEATURE = Feature("hwmon", "power and energy sensors under /sys/class/hwmon, GH200 / Grace power meters included", tables=HwmonProbe.tables, probe=lambda: HwmonProbe)

"""The ``rapl`` probe: CPU package / core / uncore / DRAM energy from Linux powercap (Intel RAPL;
AMD Zen exposes the same ``intel-rapl`` zones).

Each zone ``ROOT/intel-rapl:N[:M]`` has ``name`` (``package-0``, ``core``, ``dram``...),
``energy_uj`` (a counter in µJ that wraps at ``max_energy_range_uj``) and ``max_energy_range_uj``.
The probe keeps its own unwrapped total per zone: a reading below the previous one means the
counter wrapped once (sampling faster than a wrap, ~60 s at 4 kW, is assumed). A counter that
cannot be read (since Linux 5.10 ``energy_uj`` is root-only, CVE-2020-8694) is reported with the
reason, never written as zero; a zone whose read fails once gives no row for that sample (counted in
``read_errors``) and is read again next time, its energy across the gap kept.

Zones nest as sysfs nests them (``intel-rapl:0:0`` is a subzone of ``intel-rapl:0``): the core (PP0)
and uncore (PP1) subzones are part of the package's energy and are never added to it by the reports
(:mod:`lowprof.analysis.devices`); the dram subzone is a separate RAPL domain.
"""

from __future__ import annotations

import os
from pathlib import Path

from lowprof.feature import Feature
from lowprof.probes.base import Probe, ProbeContext
from lowprof.rundir.specs.host import RAPL

__all__ = ["RaplProbe", "POWERCAP_ROOT", "unwrap_uj"]

POWERCAP_ROOT = "/sys/class/powercap"


def unwrap_uj(prev_raw: int, raw: int, max_range_uj: int) -> int:
    """µJ used between two raw ``energy_uj`` readings, allowing one wrap at ``max_range_uj``.

    Example: ``unwrap_uj(262_143_000_000, 5_000_000, 262_143_328_850) == 5_328_850``
    """
    d = raw - prev_raw
    return d if d >= 0 else d + max_range_uj


def _read_int(path: Path) -> int:
    with open(path, "rb") as f:
        return int(f.read())


def _zones(root: Path) -> list[Path]:
    """Zone directories (``intel-rapl:*`` at any depth under ``root``), each once, sorted."""
    found = set()
    if not root.is_dir():
        return []
    for p in root.iterdir():
        if p.name.startswith("intel-rapl:"):
            found.add(p.resolve() if p.is_symlink() else p)
            for sub in p.iterdir() if p.is_dir() else ():
                if sub.name.startswith("intel-rapl:"):
                    found.add(sub)
    return sorted(found, key=lambda p: p.name)


def _probe_zone(zone: Path) -> str | None:
    """None if the zone's counter reads, else why not (one line)."""
    try:
        _read_int(zone / "energy_uj")
        _read_int(zone / "max_energy_range_uj")
        return None
    except PermissionError:
        return f"{zone / 'energy_uj'}: permission denied (root-only since Linux 5.10; run as root or chmod o+r)"
    except (OSError, ValueError) as e:
        return f"{zone / 'energy_uj'}: {type(e).__name__}: {e}"


class RaplProbe(Probe):
    """Samples every readable RAPL zone under ``root`` (default /sys/class/powercap)."""

    name = "rapl"
    tables = (RAPL,)
    root = POWERCAP_ROOT

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        if root is not None:
            self.root = str(root)
        self.unreadable: dict[str, str] = {}
        self.wraps: dict[str, int] = {}
        self.read_errors: dict[str, dict] = {}  # zone -> {count, last}: samples it gave no reading

    @classmethod
    def available(cls, root: str | os.PathLike | None = None) -> str | None:
        base = Path(root or cls.root)
        zones = _zones(base)
        if not zones:
            return f"no RAPL zones under {base} (no intel-rapl powercap driver)"
        reasons = [_probe_zone(z) for z in zones]
        if all(reasons):
            return f"no RAPL counter readable: {reasons[0]}" + (f" (and {len(zones) - 1} more)" if len(zones) > 1 else "")
        return None

    def start(self, ctx: ProbeContext) -> None:
        self.state: dict[str, dict] = {}
        for z in _zones(Path(self.root)):
            why = _probe_zone(z)
            if why:
                self.unreadable[z.name] = why
                continue
            try:
                domain = (z / "name").read_text().strip()
            except OSError:
                domain = z.name
            self.state[z.name] = {"path": z / "energy_uj", "domain": domain,
                                  "max": _read_int(z / "max_energy_range_uj"), "raw": None, "uj": 0, "t": None}
        if not self.state:
            raise PermissionError(f"no RAPL counter readable under {self.root}: {self.unreadable}")

    def sample(self, t_ns: int) -> dict[str, list[dict]]:
        rows = []
        for name, s in self.state.items():
            try:
                raw = _read_int(s["path"])
            except (OSError, ValueError) as e:
                err = self.read_errors.setdefault(name, {"count": 0, "last": ""})
                err["count"] += 1
                err["last"] = f"{type(e).__name__}: {e}"
                continue
            power = None
            if s["raw"] is not None:
                used = unwrap_uj(s["raw"], raw, s["max"])
                if raw < s["raw"]:
                    self.wraps[name] = self.wraps.get(name, 0) + 1
                s["uj"] += used
                dt = (t_ns - s["t"]) / 1e9
                power = used / 1e6 / dt if dt > 0 else None
            s["raw"], s["t"] = raw, t_ns
            rows.append({"t_ns": t_ns, "zone": name, "domain": s["domain"], "energy_j": s["uj"] / 1e6, "power_w": power})
        return {"rapl": rows}

    def facts(self) -> dict:
        zones = {n: {"domain": s["domain"], "max_energy_range_j": s["max"] / 1e6} for n, s in getattr(self, "state", {}).items()}
        return {"root": self.root, "zones": zones, "unreadable": self.unreadable, "wraps": self.wraps,
                "read_errors": self.read_errors}


FEATURE = Feature("rapl", "CPU package / core / uncore / DRAM energy from Linux powercap (RAPL)", tables=RaplProbe.tables, probe=lambda: RaplProbe)

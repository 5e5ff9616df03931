"""Which power devices a figure sums: the one device-selection policy of every power and energy figure
(``lowprof power``, ``--budget-w``, ``ipw``, ``report``'s power section, the metrics of ``compare``).

Every device of :func:`lowprof.analysis.power.power_traces` has a ``kind`` and, where its reading is
already part of another recorded device's, that device's name in ``inside``:

============== ======================================================== ===============================
kind           what it is                                               inside
============== ======================================================== ===============================
gpu            an NVIDIA GPU (NVML, or an imported power log)           its module, where one is recorded
gpu_module     NVML module scope (scopeId 1): GPU + Grace + memory      the hwmon module meter, if both
cpu_package    RAPL package-N (Intel PKG / AMD package)                 psys, where recorded
cpu_plane      RAPL core (PP0) or uncore (PP1) subzone                  its package
dram           RAPL dram subzone: a separate RAPL domain (the package   psys, where recorded
               excludes DRAM; Intel SDM vol. 3B, "RAPL domains")
platform       RAPL psys (the platform, package and DRAM included)      -
rapl           another RAPL zone                                        its parent zone, if a subzone
module         Grace "Module Power Socket N" (GH200 module: CPU, GPU,   -
               HBM, DRAM, regulators)
cpu_socket     Grace "Grace Power Socket N"                             Module Power Socket N
cpu_rail       Grace "CPU Power Socket N" / "SysIO Power Socket N"      Grace Power Socket N
hwmon          any other hwmon power or energy sensor                   -
============== ======================================================== ===============================

A sum never adds a device to one it is inside (issue: a RAPL package and its core subzone were summed).
Selections (``spec``; the ``--devices`` flag of every verb that takes one, help text :data:`DEVICES_HELP`):

- ``None`` or ``auto`` (default): the GPUs if any; else the CPU (``cpu``); else ``all``
- ``gpu``: every kind ``gpu``; ``cpu``: RAPL packages, else Grace sockets
- ``all``: every device inside no other recorded device (the whole recorded draw, each part once)
- a comma list of device names: those; a device listed with one it is inside is an error

What each figure takes when no selection is given is decided here too: :data:`AUTO` for energy per query
(``ipw``), per pass and per phase (``report``, ``compare``) and the totals of ``lowprof.window``;
:data:`SERVER` (``all``) for a server's power under ``lowprof power --budget-w``. ``--devices SPEC`` of
``power``, ``report`` and ``compare`` shows only the selected devices' per-device figures (every device
without the flag), and their sums take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lowprof.errors import LowprofError

if TYPE_CHECKING:  # light at import: the verbs' parsers read DEVICES_HELP from here
    import pandas as pd

__all__ = ["Selection", "choose_devices", "containers", "AUTO", "SERVER", "DEVICES_HELP"]

AUTO = "auto"  # the GPUs if any, else the CPU, else all: energy per query / pass, window totals
SERVER = "all"  # a server's power (POLCA oversubscription): the whole recorded draw, each part once
DEVICES_HELP = ("auto (the GPUs, else the CPU packages, else all), gpu, cpu, all (every recorded device, each "
                "part once) or device names (comma list)")


@dataclass(frozen=True)
class Selection:
    """The devices a figure sums and the short name a report shows for them (``gpus``, ``cpu``, ``all`` or the list)."""

    devices: list[str]
    label: str


def _table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per device: device, kind, inside."""
    import pandas as pd

    cols = ["device", "kind", "inside"]
    if not len(df):
        return pd.DataFrame(columns=cols)
    return df[cols].drop_duplicates("device").sort_values("device", kind="stable").reset_index(drop=True)


def containers(df: pd.DataFrame, device: str) -> list[str]:
    """The devices whose reading includes ``device``'s, innermost first (following ``inside``)."""
    inside = dict(zip(*_table(df)[["device", "inside"]].T.values)) if len(df) else {}
    out, d = [], inside.get(device) or ""
    while d and d not in out:
        out.append(d)
        d = inside.get(d) or ""
    return out


def choose_devices(df: pd.DataFrame, spec: str | None = None) -> Selection:
    """The devices of a power frame (:func:`~lowprof.analysis.power.power_traces`) that a sum takes; see the module doc."""
    t = _table(df)
    names = t.device.tolist()
    if not names:
        raise LowprofError("the run has no power readings (nvml, rapl or hwmon probe, or an imported power log)")
    kind = dict(zip(t.device, t.kind))
    spec = (spec or "").strip() or None
    if spec is None or spec == AUTO:
        if any(k == "gpu" for k in kind.values()):
            return choose_devices(df, "gpu")
        if any(k in ("cpu_package", "cpu_socket") for k in kind.values()):
            return choose_devices(df, "cpu")
        return choose_devices(df, "all")
    if spec == "gpu":
        chosen = [d for d in names if kind[d] == "gpu"]
        label = "gpus"
    elif spec == "cpu":
        chosen = [d for d in names if kind[d] == "cpu_package"] or [d for d in names if kind[d] == "cpu_socket"]
        label = "cpu"
    elif spec == "all":
        chosen = [d for d in names if not (t.set_index("device").inside.get(d) or "")]
        label = "all"
    else:
        chosen = [d.strip() for d in spec.split(",") if d.strip()]
        missing = [d for d in chosen if d not in kind]
        if missing:
            raise LowprofError(f"no power readings for {missing}; the run has {names}")
        for d in chosen:
            outer = [c for c in containers(df, d) if c in chosen]
            if outer:
                raise LowprofError(f"{d!r} is inside {outer[0]!r} (its reading includes {d!r}'s): "
                                   f"summing both counts {d!r} twice")
        label = ",".join(chosen)
    if not chosen:
        raise LowprofError(f"no {spec} power readings in this run; it has {names}")
    return Selection(chosen, label)

"""Power logs people already have, into a run directory's ``gpu_power`` table (``lowprof import LOG``), so
``lowprof power``, ``ipw`` and ``--budget-w`` work on them.

Formats (recognised from the file's first lines):

- ``nvidia-smi --query-gpu=timestamp,index,power.draw,... --format=csv[,nounits]``: the header names the
  fields (``power.draw [W]``); values carry units unless ``nounits`` (``71.23 W``); ``[N/A]`` and
  ``[Not Supported]`` are no reading. ``timestamp`` is local time (``YYYY/MM/DD HH:MM:SS.mmm``) with no
  zone: ``tz`` (an IANA name such as ``Europe/Paris``, or an offset such as ``+02:00``) says which; a log
  without timestamps needs ``interval_s`` (its ``-lms``/``-l`` period). Fields read: ``index`` (else
  ``uuid`` / ``pci.bus_id``, numbered in order; with none of them, the rows sharing one timestamp are
  the GPUs in index order, as nvidia-smi prints them), ``name``, ``power.draw`` (nvidia-smi: "On Ampere or
  newer devices, returns average power draw over 1 sec. On older devices, returns instantaneous"; what it
  means per GPU comes from the architecture its ``name`` gives, where lowprof knows the name),
  ``power.draw.average`` (1 s average), ``power.draw.instant``, ``module.power.draw.average`` /
  ``.instant``, ``enforced.power.limit`` (else ``power.limit``), ``clocks.sm`` / ``clocks.current.sm``,
  ``clocks.mem`` / ``clocks.current.memory`` (MHz), ``utilization.gpu`` / ``utilization.memory`` (%),
  ``temperature.gpu`` (°C), ``clocks_event_reasons.active`` / ``clocks_throttle_reasons.active`` (hex).
- ``nvidia-smi dmon [-s pucvmet] [-o DT]``: ``#`` header lines name the columns (``gpu pwr gtemp ... sm
  mem ... mclk pclk``) and their units; data lines are whitespace-separated, ``-`` is no reading; the
  header repeats. ``-o D`` / ``-o T`` add ``Date`` (``YYYYMMDD``) and ``Time`` (``HH:MM:SS``, local: give
  ``tz``); without them ``interval_s`` is the ``-d`` delay (default 1 s). ``pwr`` is the driver's power
  reading (averaging as for ``power.draw``).
- a plain CSV with a header: a time column (``t_s`` or ``t_ns`` on any clock, ``unix_s`` or ``unix_ns``)
  and either long rows (``gpu`` index or ``device`` name, ``power_w``, optionally ``power_instant_w``,
  ``energy_j`` (a cumulative counter), ``power_limit_w``) or wide rows (every other column one device's
  power in W, named by its header).

A line that does not parse is one error naming the file and line number; so is a power that is not
finite or is negative (``nan`` is no reading, as pandas writes a missing value). The run clock starts at the
first sample (``t_ns = 0``); ``origin_realtime_ns`` is its Unix time where the log gives wall time (so
results files and marks in Unix time line up), else 0.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import re
from pathlib import Path

from lowprof.clock import field_ns
from lowprof.errors import TraceError
from lowprof.tracers.sniff import TIME_COLS as _TIME_COLS
from lowprof.tracers.sniff import decode as _decode
from lowprof.tracers.sniff import field_name
from lowprof.tracers.sniff import sniff_power_log  # the sniffing: light, `lowprof import` sniffs before readers load

__all__ = ["sniff_power_log", "import_power_log", "parse_tz", "FORMATS"]

FORMATS = ("nvidia-smi-csv", "nvidia-smi-dmon", "power-csv")
_NA = {"", "[n/a]", "n/a", "[not supported]", "not supported", "-", "[unknown error]", "[gpu is lost]"}


def _text(path: Path) -> str:
    try:
        return _decode(path.read_bytes())
    except OSError as e:
        raise TraceError(f"{path}: {e.strerror or e}") from None


def parse_tz(tz: str) -> dt.tzinfo:
    """``Europe/Paris`` (IANA), ``UTC``, or an offset ``+02:00`` / ``-0530``."""
    m = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", tz.strip())
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return dt.timezone(sign * dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(tz.strip())
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError on odd names
        raise TraceError(f"--tz {tz!r}: not a time zone (give an IANA name such as Europe/Paris, or an offset "
                         f"such as +02:00)") from None


def _local_ns(stamp: str, fmt: str, tz: dt.tzinfo | None, where: str) -> int:
    try:
        t = dt.datetime.strptime(stamp, fmt)
    except ValueError:
        raise TraceError(f"{where}: timestamp {stamp!r} is not {fmt.replace('%', '')}") from None
    if tz is None:
        raise TraceError(f"{where}: nvidia-smi timestamps are local time without a zone: give --tz (e.g. --tz "
                         f"Europe/Paris, or the offset, e.g. --tz +02:00)")
    delta = t.replace(tzinfo=tz) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _number(v: str, where: str, what: str, scale: float = 1.0, nonnegative: bool = False) -> float | None:
    """A log's value as a float (``scale`` applied), None where it is no reading (``[N/A]``, ``-``, ``nan``);
    a value that is no number, not finite, or (``nonnegative``: power, energy) below zero is an error."""
    s = v.strip()
    if s.lower() in _NA or s.lower() == "nan":
        return None
    s = re.sub(r"\s*(W|MHz|%|C|mW|J)$", "", s)
    try:
        x = float(s) * scale
    except ValueError:
        raise TraceError(f"{where}: {what} {v.strip()!r} is not a number") from None
    if not math.isfinite(x):
        raise TraceError(f"{where}: {what} {v.strip()!r} is not a finite number")
    if nonnegative and x < 0:
        raise TraceError(f"{where}: {what} {v.strip()!r} is negative")
    return x


_SMI = {  # nvidia-smi field -> (gpu_power column, scale); *_w columns are power (never negative)
    "power.draw.instant": ("power_instant_w", 1.0), "module.power.draw.average": ("module_power_w", 1.0),
    "module.power.draw.instant": ("module_power_instant_w", 1.0),
    "clocks.sm": ("sm_clock_hz", 1e6), "clocks.current.sm": ("sm_clock_hz", 1e6),
    "clocks.mem": ("mem_clock_hz", 1e6), "clocks.current.memory": ("mem_clock_hz", 1e6),
    "utilization.gpu": ("gpu_util_percent", 1.0), "utilization.memory": ("mem_util_percent", 1.0),
    "temperature.gpu": ("temperature_c", 1.0),
}


def _read_smi_csv(path: Path, tz, interval_s):
    text = _text(path)
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    header = None
    rows, devices = [], {}
    counts: dict[int, int] = {}
    last_stamp, position = None, 0
    for n, rec in enumerate(reader, 1):
        if not rec or not "".join(rec).strip():
            continue
        where = f"{path}:{n}"
        if header is None:
            header = [field_name(h) for h in rec]
            power = next((c for c in ("power.draw.average", "power.draw") if c in header), None)
            if power is None and "power.draw.instant" not in header:
                raise TraceError(f"{where}: no power.draw, power.draw.average or power.draw.instant field in the header")
            ident = next((c for c in ("index", "uuid", "pci.bus_id") if c in header), None)
            if "timestamp" not in header and not interval_s:
                raise TraceError(f"{where}: no timestamp field: give --interval S (the log's -lms/-l period)")
            continue
        if len(rec) != len(header):
            raise TraceError(f"{where}: {len(rec)} fields, the header has {len(header)}")
        r = dict(zip(header, (v.strip() for v in rec)))
        if ident:
            key = r[ident]
        elif "timestamp" in header:  # no GPU field: nvidia-smi prints every GPU, in index order, under one timestamp
            same = rows and r["timestamp"] == last_stamp
            position = position + 1 if same else 0
            last_stamp, key = r["timestamp"], str(position)
        else:
            key = "0"
        if key not in devices:
            devices[key] = {"index": int(key) if ident in ("index", None) and key.isdigit() else len(devices),
                            "name": r.get("name"), "uuid": r.get("uuid")}
        gpu = devices[key]["index"]
        row = {"gpu": gpu}
        if "timestamp" in header:
            row["unix_ns"] = _local_ns(r["timestamp"], "%Y/%m/%d %H:%M:%S.%f", tz, where)
        else:  # -lms/-l period given as --interval
            row["t_ns"] = round(counts.get(gpu, 0) * interval_s * 1e9)
            counts[gpu] = counts.get(gpu, 0) + 1
        if power:
            row["power_w"] = _number(r[power], where, power, nonnegative=True)
        for field, (col, scale) in _SMI.items():
            if field in r:
                row[col] = _number(r[field], where, field, scale, nonnegative=col.endswith("_w"))
        limit = next((c for c in ("enforced.power.limit", "power.limit") if c in r), None)
        if limit:
            row["power_limit_w"] = _number(r[limit], where, limit, nonnegative=True)
        reasons = next((c for c in ("clocks_event_reasons.active", "clocks_throttle_reasons.active") if c in r), None)
        if reasons and r[reasons].lower() not in _NA:
            try:
                row["clock_event_reasons"] = int(r[reasons], 16)
            except ValueError:
                raise TraceError(f"{where}: {reasons} {r[reasons]!r} is not a hex bitmask") from None
        rows.append(row)
    if header is None or not rows:
        raise TraceError(f"{path}: no samples")
    averaging = {"power.draw.average": ("1s", "nvidia-smi power.draw.average: a 1 s average"),
                 "power.draw": ("unknown", "nvidia-smi power.draw: a 1 s average on Ampere and newer, "
                                           "instantaneous before; the log does not say which GPU")}.get(
        power, ("unknown", "no averaged power in the log (power.draw.instant only)"))
    return rows, devices, averaging, power or "power.draw.instant"


def _read_dmon(path: Path, tz, interval_s):
    cols, rows, devices = None, [], {}
    counts: dict[int, int] = {}
    day = 0
    last_time = None
    for n, line in enumerate(_text(path).splitlines(), 1):
        s = line.strip()
        where = f"{path}:{n}"
        if not s:
            continue
        if s.startswith("#"):
            names = s.lstrip("#").split()
            if names and names[0].lower() in ("date", "time", "gpu"):
                cols = [c.lower() for c in names]
                if "gpu" not in cols:
                    raise TraceError(f"{where}: dmon header without a gpu column")
            continue
        if cols is None:
            raise TraceError(f"{where}: data before the dmon header (# gpu pwr ...)")
        vals = s.split()
        if len(vals) != len(cols):
            raise TraceError(f"{where}: {len(vals)} columns, the header has {len(cols)}")
        r = dict(zip(cols, vals))
        try:
            gpu = int(r["gpu"])
        except ValueError:
            raise TraceError(f"{where}: gpu {r['gpu']!r} is not an index") from None
        devices.setdefault(str(gpu), {"index": gpu, "name": None, "uuid": None})
        row = {"gpu": gpu}
        if "time" in r:
            if "date" in r:
                row["unix_ns"] = _local_ns(f"{r['date']} {r['time']}", "%Y%m%d %H:%M:%S", tz, where)
            else:  # -o T: time of day only; the run clock counts from the first line, a wrap past midnight is a new day
                try:
                    h, m, sec = (int(x) for x in r["time"].split(":"))
                except ValueError:
                    raise TraceError(f"{where}: time {r['time']!r} is not HH:MM:SS") from None
                tod = (h * 3600 + m * 60 + sec) * 1_000_000_000
                if last_time is not None and tod < last_time:
                    day += 1
                last_time = tod
                row["t_ns"] = tod + day * 86_400 * 1_000_000_000
        elif interval_s:
            row["t_ns"] = round(counts.get(gpu, 0) * interval_s * 1e9)
            counts[gpu] = counts.get(gpu, 0) + 1
        else:
            raise TraceError(f"{where}: dmon lines without Date/Time (-o DT): give --interval S (the -d delay, default 1)")
        for field, col, scale in (("pwr", "power_w", 1.0), ("gtemp", "temperature_c", 1.0), ("sm", "gpu_util_percent", 1.0),
                                  ("mem", "mem_util_percent", 1.0), ("mclk", "mem_clock_hz", 1e6),
                                  ("pclk", "sm_clock_hz", 1e6)):
            if field in r:
                row[col] = _number(r[field], where, field, scale, nonnegative=col == "power_w")
        rows.append(row)
    if not rows:
        raise TraceError(f"{path}: no samples")
    return rows, devices, ("unknown", "nvidia-smi dmon pwr: the driver's reading (a 1 s average on Ampere and "
                                      "newer, instantaneous before); the log does not say which GPU"), "pwr"


def _read_plain(path: Path, tz, interval_s):
    reader = csv.reader(io.StringIO(_text(path)), skipinitialspace=True)
    header = None
    rows, devices = [], {}
    for n, rec in enumerate(reader, 1):
        if not rec or not "".join(rec).strip() or rec[0].lstrip().startswith("#"):
            continue
        where = f"{path}:{n}"
        if header is None:
            header = [h.strip() for h in rec]
            tcol = next((c for c in _TIME_COLS if c in header), None)
            if tcol is None:
                raise TraceError(f"{where}: no time column ({', '.join(_TIME_COLS)})")
            long = "gpu" in header or "device" in header
            if long and not ({"power_w", "power_instant_w", "energy_j"} & set(header)):
                raise TraceError(f"{where}: long rows need power_w, power_instant_w or energy_j")
            continue
        if len(rec) != len(header):
            raise TraceError(f"{where}: {len(rec)} fields, the header has {len(header)}")
        r = dict(zip(header, (v.strip() for v in rec)))
        t = _number(r[tcol], where, tcol)
        if t is None:
            raise TraceError(f"{where}: no {tcol}")
        t_ns = field_ns(tcol, t)
        key_time = "unix_ns" if tcol.startswith("unix") else "t_ns"
        if long:
            name = r.get("device") if "device" in r else r["gpu"]
            if name not in devices:
                if "device" in r:
                    idx = len(devices)
                else:
                    try:
                        idx = int(name)
                    except ValueError:
                        raise TraceError(f"{where}: gpu {name!r} is not an index (use a device column for names)") from None
                devices[name] = {"index": idx, "name": r.get("device"), "uuid": None}
            row = {"gpu": devices[name]["index"], key_time: t_ns}
            for col in ("power_w", "power_instant_w", "energy_j", "power_limit_w"):
                if col in r:
                    row[col] = _number(r[col], where, col, nonnegative=True)
            rows.append(row)
        else:
            for col in header:
                if col == tcol:
                    continue
                devices.setdefault(col, {"index": len(devices), "name": re.sub(r"(_w| \[W\])$", "", col), "uuid": None})
                rows.append({"gpu": devices[col]["index"], key_time: t_ns,
                             "power_w": _number(r[col], where, col, nonnegative=True)})
    if header is None or not rows:
        raise TraceError(f"{path}: no samples")
    return rows, devices, ("unknown", "plain CSV power_w: the log does not say how it was averaged"), "power_w"


# A GPU's architecture (nvmlDeviceArchitecture_t, compute capability) from the product name a log gives
# (nvidia-smi's ``name``); only names that say it unambiguously. Ampere's GA100 (A100, A30, A800) is 8.0.
_ARCH_BY_NAME = (
    (r"\b(GH200|H100|H200|H800|H20)\b", 9, (9, 0)),
    (r"\b(GB200|GB300|B100|B200|B300|RTX 50\d0)\b", 10, (10, 0)),
    (r"\b(L4|L20|L40S?|RTX 40\d0( Ti)?|RTX \d000 Ada)\b", 8, (8, 9)),
    (r"\b(A100|A30|A800)\b", 7, (8, 0)),
    (r"\b(A2|A10G?|A16|A40|RTX A\d000|RTX 30\d0( Ti)?)\b", 7, (8, 6)),
    (r"\b(T4|RTX 20\d0|Quadro RTX \d000|TITAN RTX)\b", 6, (7, 5)),
    (r"\b(V100|TITAN V)\b", 5, (7, 0)),
    (r"\b(P100|P40|P4|GTX 10\d0)\b", 4, (6, 0)),
)


def _named_power_meaning(name: str | None, fallback: tuple[str, str]) -> dict:
    """What the log's driver power means on the GPU it names (lowprof.probes.nvml.power_w_averaging of the
    architecture the name gives), else ``fallback`` (averaging, why)."""
    from lowprof.probes.nvml import ARCHITECTURES, power_w_averaging

    for pattern, arch, cc in _ARCH_BY_NAME:
        if name and re.search(pattern, name):
            averaging, why = power_w_averaging(arch, cc)
            return {"architecture": ARCHITECTURES[arch], "compute_capability": f"{cc[0]}.{cc[1]}",
                    "averaging": averaging, "why": f"{why} (architecture from the GPU name in the log, {name!r})"}
    return {"averaging": fallback[0], "why": fallback[1]}


def import_power_log(path: str | os.PathLike, out_dir: str | os.PathLike, force: bool = False, tz: str | None = None,
                     interval_s: float | None = None, kind: str | None = None) -> Path:
    """Import a power log into a new run directory (kind ``import``) with a ``gpu_power`` table; returns its path."""
    import pandas as pd

    from lowprof.clock import RunClock
    from lowprof.rundir.specs.nvml import GPU_POWER
    from lowprof.rundir import RunWriter

    path = Path(path)
    kind = kind or sniff_power_log(path)
    if kind not in FORMATS:
        raise TraceError(f"{path}: not a power log lowprof reads ({', '.join(FORMATS)})")
    if interval_s is not None and interval_s <= 0:
        raise TraceError(f"--interval must be > 0 seconds, got {interval_s}")
    zone = parse_tz(tz) if tz else None
    reader = {"nvidia-smi-csv": _read_smi_csv, "nvidia-smi-dmon": _read_dmon, "power-csv": _read_plain}[kind]
    rows, devices, (averaging, why), source = reader(path, zone, interval_s)
    df = pd.DataFrame(rows)
    if "unix_ns" in df:
        origin_unix = int(df["unix_ns"].min())
        df["t_ns"] = df.pop("unix_ns") - origin_unix
    else:
        origin_unix = 0
        df["t_ns"] = df["t_ns"] - int(df["t_ns"].min())
    df = df.sort_values(["t_ns", "gpu"], kind="stable").reset_index(drop=True)
    clock = RunClock(origin_monotonic_ns=0, origin_realtime_ns=origin_unix, name=f"{kind} log")
    writer = RunWriter(out_dir, kind="import", force=force, clock=clock)
    writer.manifest["clock"] = clock.to_json() | {
        "doc": "t_ns is ns since the log's first sample; origin_realtime_ns is its Unix time (0: the log gives no "
               "wall time)" + (f"; local times read in {tz}" if tz else "")}
    writer.manifest["command"] = ["lowprof", "import", str(path)]
    writer.manifest["power_log"] = {"format": kind, "path": str(path), "tz": tz, "interval_s": interval_s,
                                 "samples": len(df), "power_w_from": source}
    def facts(d: dict) -> dict:
        out = {"index": d["index"], "name": d.get("name"), "uuid": d.get("uuid"), "source": kind}
        if averaging != "unknown" or source not in ("power.draw", "pwr"):  # the field says it, or no driver reading
            return out | {"power_w": {"averaging": averaging, "why": why, "source": source}}
        m = _named_power_meaning(d.get("name"), (averaging, why))
        power_w = {"averaging": m.pop("averaging"), "why": m.pop("why"), "source": source}
        return out | m | {"power_w": power_w}

    writer.manifest["probes"]["nvml"] = {
        "status": "imported", "source": kind,
        "devices": [facts(d) for d in sorted(devices.values(), key=lambda d: d["index"])]}
    writer.write_frame(GPU_POWER, df)
    writer.finish(end_t_ns=int(df["t_ns"].max()))
    return writer.path

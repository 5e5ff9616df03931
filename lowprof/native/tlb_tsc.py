"""The TSC rate behind ``bench tlb``'s cycle figures, calibrated and checked against what the machine says.

The rate is measured (rdtscp ticks over CLOCK_MONOTONIC_RAW, :func:`lowprof.native.tlb.tsc_hz`) and compared
with the references the machine offers at run time, most exact first:

- CPUID leaf 0x15 (Intel): crystal Hz x TSC/crystal ratio, where all three fields are set;
- CPUID leaf 0x40000010 (hypervisor timing leaf, VMware/KVM): TSC kHz;
- /proc/cpuinfo ``cpu MHz`` where the kernel says it is the TSC rate (flag ``tsc_known_freq``, or a
  ``hypervisor`` without cpufreq): the kernel's own TSC frequency;
- CPUID leaf 0x16 (Intel): base MHz, which the TSC runs at to within a few per cent.

A calibration off its reference by more than the reference's tolerance is repeated with a window twice as
long (a busy VM can stall a short window); with no reference, two successive calibrations must agree.
What is still off after the attempts is said: ``status`` ``uncertain`` and the reason.
"""

from __future__ import annotations

import os
import re
from typing import Callable

__all__ = ["tsc_references", "judge_tsc", "calibrate_tsc"]

# tolerance per reference: the exact sources within 1 %, the base frequency within 3 %
_TOL = {"CPUID 0x15": 0.01, "CPUID 0x40000010": 0.01, "/proc/cpuinfo cpu MHz": 0.01, "CPUID 0x16": 0.03}
AGREE = 0.002  # two calibrations without a reference agree within 0.2 %


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def tsc_references(cpuid: Callable[[int], tuple[int, int, int, int]] | None = None,
                   cpuinfo: str | None = None, has_cpufreq: bool | None = None) -> list[dict]:
    """What the machine says the TSC rate is: ``[{"source", "hz", "tolerance"}]``, most exact first.

    ``cpuid``, ``cpuinfo`` and ``has_cpufreq`` default to this machine's (CPUID through the C helper).
    """
    if cpuid is None:
        from lowprof.native.tlb_cpuid import cpuid as _cpuid

        cpuid = _cpuid
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    if has_cpufreq is None:
        has_cpufreq = os.path.isdir("/sys/devices/system/cpu/cpu0/cpufreq")
    flags = set((re.search(r"^flags\s*:(.*)$", text, re.M) or [None, ""])[1].split())
    out: list[dict] = []
    top = cpuid(0)[0]
    if top >= 0x15:
        a, b, c, _ = cpuid(0x15)
        if a and b and c:
            out.append({"source": "CPUID 0x15", "hz": c * b / a})
    if "hypervisor" in flags and cpuid(0x40000000)[0] >= 0x40000010:
        khz = cpuid(0x40000010)[0]
        if khz:
            out.append({"source": "CPUID 0x40000010", "hz": khz * 1e3})
    m = re.search(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)
    if m and ("tsc_known_freq" in flags or ("hypervisor" in flags and not has_cpufreq)):
        out.append({"source": "/proc/cpuinfo cpu MHz", "hz": float(m.group(1)) * 1e6})
    if top >= 0x16:
        base = cpuid(0x16)[0] & 0xFFFF
        if base:
            out.append({"source": "CPUID 0x16", "hz": base * 1e6})
    for r in out:
        r["tolerance"] = _TOL[r["source"]]
    return out


def judge_tsc(measured_hz: list[float], references: list[dict]) -> dict:
    """Verdict on the calibrations so far (oldest first): ``{"hz", "status", "reason", ...}``.

    ``status`` is ``ok`` when the latest calibration is within the tolerance of the most exact reference
    (or, with none, within 0.2 % of the one before), else ``uncertain``; ``hz`` is always the latest
    calibration (the longest window), the reason says what it disagrees with and by how much.
    """
    hz = measured_hz[-1]
    out = {"hz": hz, "calibrations_hz": list(measured_hz), "references": references}
    if references:
        ref = references[0]
        off = hz / ref["hz"] - 1
        out["reference"] = ref["source"]
        out["off_reference"] = off
        if abs(off) <= ref["tolerance"]:
            return out | {"status": "ok", "reason": None}
        return out | {"status": "uncertain",
                      "reason": (f"the calibrated {hz / 1e9:.4f} GHz is {100 * off:+.1f} % off {ref['source']} "
                                 f"({ref['hz'] / 1e9:.4f} GHz) after {len(measured_hz)} calibrations; "
                                 "cycle figures are ns x the calibrated rate")}
    if len(measured_hz) >= 2 and abs(hz / measured_hz[-2] - 1) <= AGREE:
        return out | {"status": "ok", "reason": None}
    if len(measured_hz) < 2:
        return out | {"status": "uncertain", "reason": "one calibration and no reference to check it against"}
    spread = 100 * (max(measured_hz) / min(measured_hz) - 1)
    return out | {"status": "uncertain",
                  "reason": (f"{len(measured_hz)} calibrations differ by {spread:.1f} % and the machine reports "
                             "no TSC rate to check them against (CPUID 0x15/0x16, hypervisor leaf, cpuinfo)")}


def calibrate_tsc(attempts: int = 3, seconds: float = 0.05, measure: Callable[[float], float] | None = None,
                  references: list[dict] | None = None) -> dict:
    """Calibrate, check (:func:`judge_tsc`), and recalibrate with a window twice as long while off.

    ``measure(seconds)`` returns one calibration in Hz (default: median of 5 rdtscp windows).
    """
    if measure is None:
        from lowprof.native.tlb import tsc_hz

        def measure(s: float) -> float:
            return tsc_hz(s, 5)
    refs = tsc_references() if references is None else references
    got: list[float] = []
    for k in range(attempts):
        got.append(measure(seconds * 2 ** k))
        verdict = judge_tsc(got, refs)
        if verdict["status"] == "ok":
            break
    verdict["method"] = ("rdtscp ticks over CLOCK_MONOTONIC_RAW windows (each end the tightest of 8 clock "
                         "brackets), median of 5; checked against the machine's TSC rate, recalibrated with a "
                         "window twice as long while off; cycles are TSC (reference) cycles, not core cycles, "
                         "which differ under DVFS/turbo")
    return verdict

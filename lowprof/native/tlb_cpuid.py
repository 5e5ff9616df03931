"""What the CPU says about its TLBs, decoded from CPUID (AMD 0x80000005/6/19, Intel 0x18) and /proc/cpuinfo.

Each entry is ``{"level": "L1"|"L2", "kind": "data"|"instruction"|"unified"|..., "page_bytes": int,
"entries": int, "ways": int|None (None = fully associative)}``. Intel's legacy leaf 0x2 byte
descriptors are not decoded (leaf 0x18 covers every Intel CPU since Skylake).
"""

from __future__ import annotations

import re

__all__ = ["cpuid", "vendor", "reported_tlbs", "cpuinfo_tlb_line", "reported_entries"]

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

# AMD's associativity code for the L2 fields of 0x80000006 / 0x80000019 (APM vol. 3, CPUID appendix).
_AMD_L2_WAYS = {0x1: 1, 0x2: 2, 0x3: 3, 0x4: 4, 0x5: 6, 0x6: 8, 0x8: 16, 0xA: 32, 0xB: 48, 0xC: 64,
                0xD: 96, 0xE: 128, 0xF: None}


def cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """Raw CPUID (eax, ebx, ecx, edx) through the C helper; all zeros off x86."""
    from lowprof.native._tlb import ffi, lib

    out = ffi.new("uint32_t[4]")
    lib.tlb_cpuid(leaf, subleaf, out)
    return tuple(int(v) for v in out)  # type: ignore[return-value]


def vendor() -> str:
    _, b, c, d = cpuid(0)
    return b"".join(x.to_bytes(4, "little") for x in (b, d, c)).decode("ascii", "replace")


def _amd_l1(reg: int, page: int) -> list[dict]:
    out = []
    for kind, shift in (("data", 16), ("instruction", 0)):
        ways, entries = (reg >> (shift + 8)) & 0xFF, (reg >> shift) & 0xFF
        if entries:
            out.append({"level": "L1", "kind": kind, "page_bytes": page, "entries": entries,
                        "ways": None if ways == 0xFF else ways})
    return out


def _amd_l2(reg: int, page: int, level: str = "L2") -> list[dict]:
    """4-bit associativity code + 12-bit entries per half (0x80000006, and both registers of 0x80000019)."""
    out = []
    for kind, shift in (("data", 16), ("instruction", 0)):
        code, entries = (reg >> (shift + 12)) & 0xF, (reg >> shift) & 0xFFF
        if entries and code:
            out.append({"level": level, "kind": kind, "page_bytes": page, "entries": entries,
                        "ways": _AMD_L2_WAYS.get(code, code)})
    return out


def _amd() -> list[dict]:
    top = cpuid(0x80000000)[0]
    out: list[dict] = []
    if top >= 0x80000005:
        a, b, _, _ = cpuid(0x80000005)
        out += _amd_l1(b, 4 * KIB) + _amd_l1(a, 2 * MIB)
    if top >= 0x80000006:
        a, b, _, _ = cpuid(0x80000006)
        out += _amd_l2(b, 4 * KIB) + _amd_l2(a, 2 * MIB)
    if top >= 0x80000019:
        a, b, _, _ = cpuid(0x80000019)
        out += _amd_l2(a, GIB, "L1") + _amd_l2(b, GIB)
    return out


_INTEL_KIND = {1: "data", 2: "instruction", 3: "unified", 4: "load", 5: "store"}


def _intel() -> list[dict]:
    if cpuid(0)[0] < 0x18:
        return []
    out: list[dict] = []
    max_sub = cpuid(0x18, 0)[0]
    for sub in range(max_sub + 1):
        _, b, c, d = cpuid(0x18, sub)
        kind = _INTEL_KIND.get(d & 0x1F)
        if not kind:
            continue
        ways, sets = (b >> 16) & 0xFFFF, c
        for bit, page in ((0, 4 * KIB), (1, 2 * MIB), (2, 4 * MIB), (3, GIB)):
            if b >> bit & 1:
                out.append({"level": f"L{(d >> 5) & 7}", "kind": kind, "page_bytes": page,
                            "entries": ways * sets, "ways": None if d >> 8 & 1 else ways})
    return out


def reported_tlbs() -> dict:
    """``{"vendor", "source", "tlbs": [...], "cpuinfo": str|None}`` for this CPU."""
    v = vendor()
    if v == "AuthenticAMD" or v == "HygonGenuine":
        tlbs, source = _amd(), "CPUID 0x80000005 / 0x80000006 / 0x80000019"
    elif v == "GenuineIntel":
        tlbs, source = _intel(), "CPUID 0x18 (deterministic address translation parameters)"
    else:
        tlbs, source = [], f"vendor {v!r}: no TLB leaf decoded"
    return {"vendor": v, "source": source, "tlbs": tlbs, "cpuinfo": cpuinfo_tlb_line()}


def cpuinfo_tlb_line() -> str | None:
    """The ``TLB size`` line of /proc/cpuinfo (AMD: L2 dTLB + L2 iTLB 4 KiB entries), if present."""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^TLB size\s*:\s*(.+)$", f.read(), re.M)
    except OSError:
        return None
    return m.group(1).strip() if m else None


def reported_entries(report: dict, level: str, page_bytes: int) -> int | None:
    """Entries of the data (or unified / load) TLB at ``level`` for ``page_bytes`` pages, as reported."""
    for kind in ("data", "unified", "load"):
        for t in report["tlbs"]:
            if t["level"] == level and t["kind"] == kind and t["page_bytes"] == page_bytes:
                return t["entries"]
    return None

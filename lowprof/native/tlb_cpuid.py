"""What the CPU says about its TLBs, decoded from CPUID (AMD 0x80000005/6/19, Intel 0x18) and /proc/cpuinfo.

Each entry is ``{"level": "L1"|"L2", "kind": "data"|"instruction"|"unified"|..., "page_bytes": int,
"entries": int, "ways": int|None (None = fully associative)}``. On Intel, leaf 0x18 is used where the
CPU has it and the legacy leaf 0x2 descriptor bytes otherwise (TLB descriptors only).
"""

from __future__ import annotations

import re

__all__ = ["cpuid", "vendor", "reported_tlbs", "decode_leaf2", "cpuinfo_tlb_line", "reported_entries"]

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

# CPUID leaf 0x2 TLB descriptor bytes (Intel SDM vol. 2A, CPUID, "Encoding of CPUID Leaf 2 Descriptors"):
# byte -> [(level, kind, page sizes, entries, ways or None for fully associative)]. "data0" is the small
# first-level data TLB some cores put in front of the main one.
_K4, _M2, _M4, _G1 = 4 * KIB, 2 * MIB, 4 * MIB, GIB
_LEAF2: dict[int, list[tuple]] = {
    0x01: [("L1", "instruction", (_K4,), 32, 4)],
    0x02: [("L1", "instruction", (_M4,), 2, None)],
    0x03: [("L1", "data", (_K4,), 64, 4)],
    0x04: [("L1", "data", (_M4,), 8, 4)],
    0x05: [("L1", "data", (_M4,), 32, 4)],
    0x0B: [("L1", "instruction", (_M4,), 4, 4)],
    0x4F: [("L1", "instruction", (_K4,), 32, None)],
    0x50: [("L1", "instruction", (_K4, _M2, _M4), 64, None)],
    0x51: [("L1", "instruction", (_K4, _M2, _M4), 128, None)],
    0x52: [("L1", "instruction", (_K4, _M2, _M4), 256, None)],
    0x55: [("L1", "instruction", (_M2, _M4), 7, None)],
    0x56: [("L1", "data0", (_M4,), 16, 4)],
    0x57: [("L1", "data0", (_K4,), 16, 4)],
    0x59: [("L1", "data0", (_K4,), 16, None)],
    0x5A: [("L1", "data0", (_M2, _M4), 32, 4)],
    0x5B: [("L1", "data", (_K4, _M4), 64, None)],
    0x5C: [("L1", "data", (_K4, _M4), 128, None)],
    0x5D: [("L1", "data", (_K4, _M4), 256, None)],
    0x61: [("L1", "instruction", (_K4,), 48, None)],
    0x63: [("L1", "data", (_M2, _M4), 32, 4), ("L1", "data", (_G1,), 4, 4)],
    0x6B: [("L1", "data", (_K4,), 256, 8)],
    0x6C: [("L1", "data", (_M2, _M4), 128, 8)],
    0x6D: [("L1", "data", (_G1,), 16, None)],
    0x76: [("L1", "instruction", (_M2, _M4), 8, None)],
    0xB0: [("L1", "instruction", (_K4,), 128, 4)],
    0xB1: [("L1", "instruction", (_M2,), 8, 4)],
    0xB2: [("L1", "instruction", (_K4,), 64, 4)],
    0xB3: [("L1", "data", (_K4,), 128, 4)],
    0xB4: [("L1", "data", (_K4,), 256, 4)],
    0xB5: [("L1", "instruction", (_K4,), 64, 8)],
    0xB6: [("L1", "instruction", (_K4,), 128, 8)],
    0xBA: [("L1", "data", (_K4,), 64, 4)],
    0xC0: [("L1", "data", (_K4, _M4), 8, 4)],
    0xC1: [("L2", "unified", (_K4, _M2), 1024, 8)],
    0xC2: [("L1", "data", (_K4, _M2), 16, 4)],
    0xC3: [("L2", "unified", (_K4, _M2), 1536, 6), ("L2", "unified", (_G1,), 16, 4)],
    0xCA: [("L2", "unified", (_K4,), 512, 4)],
}
LEAF2_USE_LEAF_18 = 0xFE  # "leaf 2 does not report TLB descriptors; use leaf 0x18"


def decode_leaf2(regs: tuple[int, int, int, int]) -> tuple[list[dict], bool]:
    """TLBs named by one CPUID(2) result ``(eax, ebx, ecx, edx)``; second value: whether it defers to 0x18.

    Byte 0 of EAX is an iteration count, not a descriptor; a register with bit 31 set holds none.
    """
    out: list[dict] = []
    defer = False
    for r, reg in enumerate(regs):
        if reg >> 31 & 1:
            continue
        for byte in range(4):
            if r == 0 and byte == 0:
                continue
            desc = (reg >> (8 * byte)) & 0xFF
            defer |= desc == LEAF2_USE_LEAF_18
            for level, kind, pages, entries, ways in _LEAF2.get(desc, ()):
                out += [{"level": level, "kind": kind, "page_bytes": p, "entries": entries, "ways": ways}
                        for p in pages]
    return out, defer


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
        if not tlbs:
            tlbs, _ = decode_leaf2(cpuid(2))
            source = "CPUID 0x2 (descriptor bytes)"
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

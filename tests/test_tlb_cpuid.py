"""CPUID TLB decoding: Intel leaf 0x2 descriptor bytes from a real CPU's registers (no Intel CPU needed)."""

from __future__ import annotations

from lowprof.native.tlb_cpuid import decode_leaf2, reported_entries

MIB, GIB = 1 << 20, 1 << 30


def test_haswell_leaf2_gives_the_published_data_tlbs():
    """CPUID(2) of a Core i7-4770 (Haswell); Intel's optimization manual: DTLB 64 x 4 KiB (4-way),
    32 x 2 MiB (4-way), 4 x 1 GiB (4-way); STLB 1024 entries, 8-way, shared by 4 KiB and 2 MiB pages."""
    tlbs, defers = decode_leaf2((0x76036301, 0x00F0B5FF, 0x00000000, 0x00C10000))
    report = {"tlbs": tlbs}
    assert not defers
    assert reported_entries(report, "L1", 4096) == 64
    assert reported_entries(report, "L1", 2 * MIB) == 32
    assert reported_entries(report, "L1", GIB) == 4
    assert reported_entries(report, "L2", 4096) == reported_entries(report, "L2", 2 * MIB) == 1024
    stlb = [t for t in tlbs if t["level"] == "L2"]
    assert {t["ways"] for t in stlb} == {8}


def test_leaf2_skips_the_count_byte_and_flagged_registers_and_sees_the_defer_marker():
    # EAX byte 0 = 0x03 is the iteration count, not descriptor 0x03; EBX has bit 31 set: no descriptors.
    tlbs, defers = decode_leaf2((0x00FE0003, 0x80000003, 0, 0))
    assert tlbs == [] and defers

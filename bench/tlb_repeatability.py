"""TLB detection repeatability: the default 4 KiB sweep of `lowprof bench tlb`, run several times.

Prints, per run, the detected L1 dTLB and L2 STLB reach (sweep point and interpolated 50 %-miss
crossing) as ratios to what CPUID reports, the page-walk cost just beyond the STLB and at the largest
working set, the wall time and the STLB's verdict (measured or uncertain); then the median and spread. Runs share the machine with whatever else
is running, so the spread is the honest noise of one sweep here. Usage: python bench/tlb_repeatability.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from lowprof.native.tlb_bench import record_tlb
from lowprof.native.tlb_cpuid import reported_entries, reported_tlbs


def main(runs: int = 5) -> int:
    report = reported_tlbs()
    rep1, rep2 = reported_entries(report, "L1", 4096), reported_entries(report, "L2", 4096)
    print(f"CPUID ({report['source']}): L1 dTLB {rep1}, L2 STLB {rep2} entries (4 KiB pages)")
    print(f"{'run':>3} {'L1':>5} {'L1 x':>6} {'STLB':>5} {'cross':>7} {'x CPUID':>8} "
          f"{'walk ns':>8} {'max ns':>7} {'wall s':>7} {'verdict':>10}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            t0 = time.monotonic()
            _, facts = record_tlb(Path(tmp) / f"r{i}", page_sizes=[4096], max_bytes=1 << 30)
            wall = time.monotonic() - t0
            d = facts["sweeps"]["4096"]
            l1, l2 = d["l1_dtlb"] or {}, d["l2_stlb"] or {}
            r = {"l1": l1.get("entries"), "l2": l2.get("entries"), "cross": l2.get("crossing_pages"),
                 "walk": d["walk_extra_ns"], "max": d["extra_ns_at_max"], "wall": wall,
                 "verdict": (d["l2_stlb"] or d.get("l2_stlb_verdict") or {}).get("status", "-")}
            rows.append(r)
            ratio = (r["cross"] / rep2) if r["cross"] and rep2 else float("nan")
            l1x = (r["l1"] / rep1) if r["l1"] and rep1 else float("nan")
            print(f"{i:>3} {r['l1'] or '-':>5} {l1x:>6.2f} {r['l2'] or '-':>5} {r['cross'] or 0:>7.0f} "
                  f"{ratio:>8.2f} {r['walk'] or float('nan'):>8.1f} {r['max']:>7.1f} {wall:>7.1f} {r['verdict']:>10}")
    crosses = [r["cross"] for r in rows if r["cross"]]
    if crosses and rep2:
        print(f"STLB 50%-miss crossing / CPUID entries: median {statistics.median(crosses) / rep2:.2f}, "
              f"range {min(crosses) / rep2:.2f}..{max(crosses) / rep2:.2f} over {len(crosses)} runs")
    print(f"STLB verdicts: {', '.join(f'{v} x{n}' for v, n in sorted(__import__('collections').Counter(r['verdict'] for r in rows).items()))}")
    walks = [r["walk"] for r in rows if r["walk"]]
    if walks:
        print(f"walk cost just beyond STLB reach: median {statistics.median(walks):.1f} ns, "
              f"range {min(walks):.1f}..{max(walks):.1f} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))

"""``lowprof bench tlb``: TLB reach and page-walk cost, 4 KiB and 2 MiB pages, recorded into a run directory."""

from __future__ import annotations

import argparse
import re

from lowprof.cli._common import add_output_flags
from lowprof.errors import LowprofError

HELP = "TLB reach (L1 dTLB, L2 STLB) and page-walk cost from a one-line-per-page pointer chase"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.I)


def parse_bytes(text: str) -> int:
    """``'512M'``, ``'1G'``, ``'1.5GiB'``, ``'65536'`` -> bytes (binary multiples)."""
    m = _SIZE.match(str(text))
    if not m:
        raise LowprofError(f"--max-bytes: cannot read {text!r} as a size (e.g. 512M, 1G, 1073741824)")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_output_flags(p)
    p.add_argument("--max-bytes", default=None, metavar="SIZE",
                   help="memory the benchmark may map at once (default: min(1G, half the available memory)); "
                        "must not exceed the available memory")
    p.add_argument("--page-sizes", default="4k,2m", metavar="LIST", help="page sizes to sweep: 4k, 2m (default: 4k,2m)")
    p.add_argument("--max-pages", type=int, default=65536, metavar="N",
                   help="largest working set in pages, per page size, before --max-bytes caps it (default: 65536)")
    p.add_argument("--per-octave", type=int, default=4, metavar="K", help="sweep points per doubling (default: 4)")
    p.add_argument("--passes", type=int, default=5, metavar="P", help="interleaved passes; the minimum is kept (default: 5)")
    p.add_argument("--json", action="store_true", help="print the detected figures and the curve as JSON")
    p.epilog = ("examples:\n  lowprof bench tlb --out runs/tlb\n  lowprof bench tlb --page-sizes 4k --max-bytes 256M --json\n"
                "  lowprof bench tlb --max-bytes 9G --page-sizes 2m   # 2 MiB pages past a 2048-entry STLB")
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def _validate(args) -> dict:
    import platform

    import psutil

    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise LowprofError(f"bench tlb needs x86-64 Linux (rdtscp, CPUID, /proc/self/smaps); this is "
                           f"{platform.system()} {platform.machine()}")
    sizes = {"4k": 4096, "2m": 2 << 20}
    picked = [s.strip().lower() for s in args.page_sizes.split(",") if s.strip()]
    bad = [s for s in picked if s not in sizes]
    if bad or not picked:
        raise LowprofError(f"--page-sizes: unknown {','.join(bad) or repr(args.page_sizes)}; use 4k, 2m or 4k,2m")
    for flag, v, lo, hi in (("--per-octave", args.per_octave, 1, 16), ("--passes", args.passes, 1, 50),
                            ("--max-pages", args.max_pages, 64, 1 << 22)):
        if not lo <= v <= hi:
            raise LowprofError(f"{flag} must be in [{lo}, {hi}], got {v}")
    avail = psutil.virtual_memory().available
    if args.max_bytes is None:
        max_bytes = min(1 << 30, avail // 2)
    else:
        max_bytes = parse_bytes(args.max_bytes)
        if max_bytes > avail:
            raise LowprofError(f"--max-bytes {args.max_bytes} ({max_bytes} B) exceeds the available memory "
                               f"({avail} B)")
    if max_bytes < 16 << 20:
        raise LowprofError(f"--max-bytes {args.max_bytes or max_bytes} is below the 16M the sweep needs")
    return {"page_sizes": [sizes[s] for s in picked], "max_bytes": max_bytes, "available_bytes": avail}


def _progress_factory(progress):
    def make(label: str, total: int):
        task = progress.add_task(label, total=total)
        return lambda n: progress.advance(task, n)
    return make


def _page_label(page: int) -> str:
    return f"{page >> 10} KiB" if page < (1 << 20) else f"{page >> 20} MiB"


def _print_human(path, facts: dict, rows) -> None:
    from lowprof.cli._ui import fmt_bytes, out, table

    tsc = facts["tsc"]
    hz = tsc["hz"]
    check = (f"within {100 * abs(tsc['off_reference']):.2f} % of {tsc['reference']}" if tsc.get("reference")
             else "no reference on this machine; repeated calibrations agree")
    out.print(f"TSC: {hz / 1e9:.4f} GHz (rdtscp vs CLOCK_MONOTONIC_RAW, {check}); cycles below are TSC cycles"
              if tsc.get("status", "ok") == "ok" else f"TSC: {hz / 1e9:.4f} GHz, UNCERTAIN: {tsc['reason']}")
    for page, d in facts["sweeps"].items():
        page = int(page)
        if "skipped" in d:
            out.print(f"{_page_label(page)} pages: skipped: {d['skipped']}")
            continue
        pr = rows[rows.page_size_bytes == page]
        out.print(table(f"{_page_label(page)} pages: one line per page vs the same lines packed densely",
                        ["pages", "working set", "ns/access", "cycles/access", "cache-only ns", "extra ns", "extra cycles"],
                        [[r.pages, fmt_bytes(r.working_set_bytes), f"{r.ns_per_access:.2f}", f"{r.cycles_per_access:.1f}",
                          f"{r.cache_only_ns:.2f}", f"{r.extra_ns:.2f}", f"{r.extra_cycles:.1f}"]
                         for r in pr.itertuples()], right=set(range(7))))
    cmp_rows, uncertain = [], []
    for c in facts["comparison"]:
        d = facts["sweeps"][str(c["page_size_bytes"])]
        key = "l1_dtlb" if c["level"].startswith("L1") else "l2_stlb"
        lvl = d.get(key)
        seen = (f"{c['detected_entries']} ({fmt_bytes(c['detected_bytes'])})" if lvl
                else f"not seen up to {d.get('max_pages', '?')} pages")
        verdict = lvl if lvl else d.get(f"{key}_verdict") or {}
        if verdict.get("status") == "uncertain":
            seen = f"uncertain ({c['detected_entries']}?)" if lvl else "uncertain"
            uncertain.append(f"{_page_label(c['page_size_bytes'])} {verdict['reason']}")
        bracket = f"{lvl['last_pages_below']}..{lvl['first_pages_above']}" if lvl else "-"
        cost = f"{lvl['extra_ns_above']:.1f} ns / {lvl['extra_cycles_above']:.0f} cyc" if lvl else "-"
        rep = f"{c['reported_entries']} ({fmt_bytes(c['reported_bytes'])})" if c["reported_entries"] else "not reported"
        ok = {True: "yes", False: "NO", None: "-"}[c["within_one_step"]]
        cmp_rows.append([_page_label(c["page_size_bytes"]), c["level"], seen, bracket, rep, ok, cost])
    out.print(table("Detected reach vs what CPUID reports",
                    ["pages", "level", "detected entries (reach)", "step between", "CPUID reports",
                     "within 1 step", "cost per access beyond"], cmp_rows))
    for line in uncertain:
        out.print(f"uncertain: {line}")
    for page, d in facts["sweeps"].items():
        if d.get("repeated_sweep"):
            out.print(f"{_page_label(int(page))} pages: a level was uncertain after one sweep; swept again, "
                      "the figures are over both sweeps")
    for page, d in facts["sweeps"].items():
        if "skipped" in d:
            continue
        walk = (f"{d['walk_extra_ns']:.1f} ns = {d['walk_extra_cycles']:.0f} TSC cycles just beyond STLB reach"
                if d["walk_extra_ns"] is not None else "STLB reach not seen")
        out.print(f"{_page_label(int(page))} page walk: {walk}; {d['extra_ns_at_max']:.1f} ns = "
                  f"{d['extra_cycles_at_max']:.0f} cycles at {d['max_pages']} pages "
                  f"({fmt_bytes(d['max_pages'] * int(page))})")
    for page, t in facts["thp"].items():
        if page != "cache_only_buffer":
            out.print(f"THP ({_page_label(int(page))} sweep): {t['note']}")
    perf = facts["perf"]
    out.print("perf dTLB-load-misses: " + ("recorded per point" if perf["available"] else f"unavailable — {perf['reason']}"))
    out.print(f"recorded {path} in {facts['elapsed_s']:.1f} s")


def main(args) -> int:
    import lowprof
    from lowprof.cli._ui import err, print_json
    from lowprof.native.tlb_bench import record_tlb
    from lowprof.record import default_out_dir

    cfg = _validate(args)
    out_dir = args.out or default_out_dir("tlb")
    kw = dict(page_sizes=cfg["page_sizes"], max_bytes=cfg["max_bytes"], available_bytes=cfg["available_bytes"],
              max_pages=args.max_pages, per_octave=args.per_octave, passes=args.passes, force=args.force)
    if args.quiet or args.json:
        path, facts = record_tlb(out_dir, **kw)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=err, transient=True) as progress:
            path, facts = record_tlb(out_dir, progress=_progress_factory(progress), **kw)
    run = lowprof.load(path)
    rows = run["tlb"]
    if args.quiet or args.json:  # the human output says these itself ("uncertain: ...")
        from lowprof.cli._common import print_notices

        print_notices(run.manifest)
    if args.json:
        clean = rows.astype(object).where(rows.notna(), None)  # null, not NaN: strict JSON
        print_json({"run": str(path), "tlb": facts, "rows": clean.to_dict(orient="records")})
    elif not args.quiet:
        _print_human(path, facts, rows)
    return 0

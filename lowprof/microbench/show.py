"""Print a recorded ``bench gpu`` / ``bench host`` run: measured beside the published reference, as a rich
table or as Markdown (for README / results/<gpu>/)::

    python -m lowprof.microbench.show results/NVIDIA_H100_80GB_HBM3/run --markdown
"""

from __future__ import annotations

import argparse
import json

import lowprof

__all__ = ["markdown_table", "main"]


def _fmt(v, spec: str = ".4g") -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else format(v, spec)


def _txt(v) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def markdown_table(df) -> str:
    """``bench_results`` rows as a Markdown table, reference and its source beside each measured figure."""
    from lowprof.microbench.cli import _short_params

    lines = ["| benchmark | metric | params | measured (median) | p5-p95 | reference | source | method differs | throttled |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples():
        ref = f"{_fmt(r.reference_value)} {r.reference_unit}" if _fmt(r.reference_value) else ""
        lines.append(f"| {r.benchmark} | {r.metric} | {_short_params(r.params_json)} | {_fmt(r.value)} {r.unit} | "
                     f"{_fmt(r.p5) + '-' + _fmt(r.p95) if _fmt(r.p5) else ''} | {ref} | {_txt(r.reference_source)} | "
                     f"{_txt(getattr(r, 'reference_differs', None))} | {'yes' if r.throttled is True else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from lowprof.cli import OneLineParser, guarded

    p = OneLineParser(prog="python -m lowprof.microbench.show", description=__doc__.splitlines()[0])
    p.add_argument("run", help="run directory written by lowprof bench gpu/host")
    p.add_argument("--markdown", action="store_true", help="Markdown instead of a rich table")
    p.add_argument("--references-only", action="store_true", help="only rows that have a published reference")
    args = p.parse_args(argv)
    return guarded(_show, args)


def _show(args) -> int:
    from lowprof.errors import LowprofError

    run = lowprof.load(args.run)
    if "bench_results" not in run.tables:
        what = " (a TLB run: see lowprof report or lowprof plot)" if "tlb" in run.tables else ""
        raise LowprofError(f"{args.run}: no bench_results table{what}; this shows runs of lowprof bench gpu/host")
    df = run["bench_results"]
    if args.references_only:
        df = df[df.reference_value.notna()]
    facts = run.manifest.get("microbench", {})
    title = f"{facts.get('gpu_name', 'host')}: measured beside published references"
    if args.markdown:
        print(f"**{title}**\n\n{markdown_table(df)}")
        bench = facts.get("benchmarks", {})
        if bench:
            print("\n" + json.dumps({n: {k: e.get(k) for k in ("status", "elapsed_s", "expected_s_h100")}
                                     for n, e in bench.items()}, indent=1))
    else:
        from lowprof.cli._ui import out
        from lowprof.microbench.cli import results_table

        out.print(results_table(df, title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Print a recorded ``bench gpu`` / ``bench host`` run: measured beside the published reference, as a rich
table or as Markdown (for README / results/<gpu>/)::

    python -m lowprof.cli.bench_show results/NVIDIA_H100_80GB_HBM3/run --markdown
"""

from __future__ import annotations

import argparse

__all__ = ["results_table", "add_arguments", "main"]

PROG = "python -m lowprof.cli.bench_show"
HELP = __doc__.splitlines()[0]


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def results_table(df, title: str):
    """Rich table of ``bench_results`` rows: measured beside the published reference."""
    from lowprof.cli._ui import table
    from lowprof.microbench.show import short_params

    rows = []
    for r in df.itertuples():
        spread = "" if _missing(r.p5) else f"{r.p5:.4g}-{r.p95:.4g}"
        ref = "" if _missing(r.reference_value) else f"{r.reference_value:.4g} {r.reference_unit}"
        src = "" if _missing(r.reference_source) else r.reference_source[:48]
        differs = getattr(r, "reference_differs", None)
        differs = "" if _missing(differs) else differs[:48]
        flag = "THROTTLED" if r.throttled is True else ""
        rows.append([r.benchmark, r.metric, short_params(r.params_json), f"{r.value:.4g} {r.unit}", spread, ref, src,
                     differs, flag])
    cols = ["bench", "metric", "params", "measured (median)", "p5-p95", "reference", "source", "method differs", "clocks"]
    keep = [k for k in range(len(cols)) if k < 4 or any(r[k] for r in rows)]  # drop columns empty in every row
    return table(title, [cols[k] for k in keep], [[r[k] for k in keep] for r in rows],
                 right={i for i, k in enumerate(keep) if k in (3, 4, 5)})


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory written by lowprof bench gpu/host")
    p.add_argument("--markdown", action="store_true", help="Markdown instead of a rich table")
    p.add_argument("--references-only", action="store_true", help="only rows that have a published reference")


def main(args) -> int:
    from lowprof.microbench.show import bench_results, markdown

    df, facts, title = bench_results(args.run, references_only=args.references_only)
    if args.markdown:
        print(markdown(df, facts, title))
    else:
        from lowprof.cli._ui import out

        out.print(results_table(df, title))
    return 0


def cli(argv: list[str] | None = None) -> int:
    """``python -m lowprof.cli.bench_show RUN [--markdown] [--references-only]``."""
    from lowprof.cli import OneLineParser, guarded

    p = OneLineParser(prog=PROG, description=HELP)
    add_arguments(p)
    return guarded(main, p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(cli())

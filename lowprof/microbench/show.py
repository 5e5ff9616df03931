"""A recorded ``bench gpu`` / ``bench host`` run's results, measured beside the published reference: the rows
and their Markdown table (for README / results/<gpu>/). Its command line lives in cli/bench_show.py."""

from __future__ import annotations

import json

__all__ = ["short_params", "markdown_table", "markdown", "bench_results"]


def _fmt(v, spec: str = ".4g") -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else format(v, spec)


def _txt(v) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else str(v)


def short_params(params_json: str) -> str:
    """The parameters that tell a result's rows apart (sizes, ILP, warps...), as ``k=v`` words."""
    p = json.loads(params_json or "{}")
    keep = ("footprint_bytes", "array_bytes", "size_bytes", "ilp", "warps", "maxrregcount", "stride_words",
            "variant", "warps_on_subcore", "pages")
    return " ".join(f"{k}={p[k]}" for k in keep if k in p)


def markdown_table(df) -> str:
    """``bench_results`` rows as a Markdown table, reference and its source beside each measured figure."""
    lines = ["| benchmark | metric | params | measured (median) | p5-p95 | reference | source | method differs | throttled |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples():
        ref = f"{_fmt(r.reference_value)} {r.reference_unit}" if _fmt(r.reference_value) else ""
        lines.append(f"| {r.benchmark} | {r.metric} | {short_params(r.params_json)} | {_fmt(r.value)} {r.unit} | "
                     f"{_fmt(r.p5) + '-' + _fmt(r.p95) if _fmt(r.p5) else ''} | {ref} | {_txt(r.reference_source)} | "
                     f"{_txt(getattr(r, 'reference_differs', None))} | {'yes' if r.throttled is True else ''} |")
    return "\n".join(lines)


def bench_results(path, references_only: bool = False):
    """(the ``bench_results`` rows, the manifest's ``microbench`` facts, a title) of the run at ``path``;
    LowprofError when it holds no such table (a TLB run, a plain run)."""
    import lowprof
    from lowprof.errors import LowprofError

    run = lowprof.load(path)
    if "bench_results" not in run.tables:
        what = " (a TLB run: see lowprof report or lowprof plot)" if "tlb" in run.tables else ""
        raise LowprofError(f"{path}: no bench_results table{what}; this shows runs of lowprof bench gpu/host")
    df = run["bench_results"]
    if references_only:
        df = df[df.reference_value.notna()]
    facts = run.manifest.get("microbench", {})
    return df, facts, f"{facts.get('gpu_name', 'host')}: measured beside published references"


def markdown(df, facts: dict, title: str) -> str:
    """The title, the Markdown table and, for a GPU run, each benchmark's status and seconds as JSON."""
    text = f"**{title}**\n\n{markdown_table(df)}"
    bench = facts.get("benchmarks", {})
    if bench:
        text += "\n\n" + json.dumps({n: {k: e.get(k) for k in ("status", "elapsed_s", "expected_s_h100")}
                                     for n, e in bench.items()}, indent=1)
    return text

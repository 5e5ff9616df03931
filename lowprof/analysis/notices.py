"""Failures that change what a run holds, said in one line each: printed at the end of ``lowprof run`` and
by ``lowprof report`` (and under ``notices`` in ``report --json``). Read from the manifest alone, so a run
still being written and a finished one say the same."""

from __future__ import annotations

__all__ = ["notices"]


def _s(v) -> str:
    return "" if v is None else str(v)


def _launch_rows(m: dict) -> int | None:
    t = (m.get("tables") or {}).get("launches")
    if not isinstance(t, dict):
        return None
    rows = t.get("rows")
    return rows if isinstance(rows, int) else None


def _no_launches(m: dict) -> str | None:
    """Why a traced run or an imported trace has no GPU launches, or None when it has some (or was not traced)."""
    trace = m.get("trace")
    if not isinstance(trace, dict) or _launch_rows(m) != 0:
        return None
    if isinstance(trace.get("no_launches_note"), str):  # an importer's own line (it names what the trace holds)
        return trace["no_launches_note"]
    why = trace.get("launches_empty_reason") or trace.get("no_gpu_reason")
    if not why and m.get("kind") == "import":
        events = trace.get("events")
        why = ("the trace holds no GPU activity" + (f" ({events} events, all on the CPU)" if isinstance(events, int)
                                                    else ""))
    return f"no GPU launches recorded: {why or 'the trace holds no GPU activity'}"


def _trace_losses(m: dict, said: str | None, most: int = 5) -> list[str]:
    """The live trace's recorded losses (a segment lost, a file missing), one line each (at most ``most``),
    leaving out the one the no-launches line already says."""
    trace = m.get("trace")
    errs = trace.get("errors") if isinstance(trace, dict) else None
    if not isinstance(errs, list):
        return []
    lines = [f"--trace: {_s(e)}" for e in errs if not (said and _s(e).split(": ", 1)[-1] in said)]
    if len(lines) > most:
        lines = lines[:most] + [f"--trace: {len(lines) - most} more losses (manifest trace.errors)"]
    return lines


def _tlb_uncertain(m: dict) -> list[str]:
    """``bench tlb`` figures it could not confirm (lowprof.native.tlb_verdict, lowprof.native.tlb_tsc)."""
    t = m.get("tlb")
    if not isinstance(t, dict):
        return []
    out = []
    tsc = t.get("tsc")
    if isinstance(tsc, dict) and tsc.get("status") == "uncertain":
        out.append(f"bench tlb: TSC rate uncertain: {_s(tsc.get('reason'))}")
    for page, d in (t.get("sweeps") or {}).items() if isinstance(t.get("sweeps"), dict) else ():
        if not isinstance(d, dict) or not str(page).isdigit():
            continue
        label = f"{int(page) >> 10} KiB" if int(page) < (1 << 20) else f"{int(page) >> 20} MiB"
        for key in ("l1_dtlb", "l2_stlb"):
            v = d.get(key) or d.get(f"{key}_verdict")
            if isinstance(v, dict) and v.get("status") == "uncertain":
                out.append(f"bench tlb: {label} pages, no reach given: {_s(v.get('reason'))}")
    return out


def notices(manifest: dict, errors: bool = True) -> list[str]:
    """One plain-text line per failure the run's manifest records (no markup; the caller styles it).
    ``errors=False`` leaves out ``extension_errors`` (``lowprof run`` prints those itself, as errors)."""
    m = manifest if isinstance(manifest, dict) else {}
    out: list[str] = []
    marks = m.get("marks_file")
    if isinstance(marks, dict) and marks.get("status") != "ok":
        out.append(f"--marks {_s(marks.get('path'))} not read, its marks are left out: {_s(marks.get('reason'))}")
    probes = m.get("probes") if isinstance(m.get("probes"), dict) else {}
    requested = m.get("probes_requested") if isinstance(m.get("probes_requested"), list) else []
    for name in requested:
        p = probes.get(name) or {}
        if p.get("status") != "ok":
            out.append(f"--probes {name}: {_s(p.get('status') or 'not recorded')}"
                       + (f" ({p['reason']})" if p.get("reason") else ""))
    for name, p in probes.items():  # a probe that started and then broke, asked for or not
        if isinstance(p, dict) and p.get("status") in ("failed", "error") and name not in requested:
            out.append(f"probe {name} failed: {_s(p.get('reason') or p.get('error'))}")
    why = _no_launches(m)
    if why and (errors or not (m.get("trace") or {}).get("error")):  # a fatal trace error is printed as the error
        out.append(why)
    out += _trace_losses(m, why)
    stacks = m.get("pystacks_timeline")
    if isinstance(stacks, dict) and stacks.get("status") != "ok":
        out.append(f"--stacks: no Python stacks recorded: {_s(stacks.get('reason'))}")
    out += _tlb_uncertain(m)
    for e in (m.get("extension_errors") or []) if errors else []:
        out.append(_s(e))
    return out

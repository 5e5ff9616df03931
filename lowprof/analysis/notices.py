"""Failures that change what a run holds, said in one line each: printed at the end of ``lowprof run`` and
by ``lowprof report`` (and under ``notices`` in ``report --json``). Read from the manifest alone, so a run
still being written and a finished one say the same."""

from __future__ import annotations

from lowprof.rundir.sections import Manifest

__all__ = ["notices"]


def _s(v) -> str:
    return "" if v is None else str(v)


def _launch_rows(m: Manifest) -> int | None:
    t = m.tables.get("launches")
    return t.rows if t is not None else None


def _no_launches(m: Manifest) -> str | None:
    """Why a traced run or an imported trace has no GPU launches, or None when it has some (or was not traced)."""
    trace = m.trace
    if "trace" not in m or _launch_rows(m) != 0:
        return None
    if trace.no_launches_note is not None:  # an importer's own line (it names what the trace holds)
        return trace.no_launches_note
    why = trace.launches_empty_reason or trace.no_gpu_reason
    if not why and m.kind == "import":
        events = trace.events
        why = ("the trace holds no GPU activity" + (f" ({events} events, all on the CPU)" if events is not None
                                                    else ""))
    return f"no GPU launches recorded: {why or 'the trace holds no GPU activity'}"


def _trace_losses(m: Manifest, said: str | None, most: int = 5) -> list[str]:
    """The live trace's recorded losses (a segment lost, a file missing), one line each (at most ``most``),
    leaving out the one the no-launches line already says."""
    errs = m.trace.errors
    if errs is None:
        return []
    lines = [f"--trace: {_s(e)}" for e in errs if not (said and _s(e).split(": ", 1)[-1] in said)]
    if len(lines) > most:
        lines = lines[:most] + [f"--trace: {len(lines) - most} more losses (manifest trace.errors)"]
    return lines


def _tlb_uncertain(m: Manifest) -> list[str]:
    """``bench tlb`` figures it could not confirm (lowprof.native.tlb_verdict, lowprof.native.tlb_tsc)."""
    t = m.tlb
    out = []
    if t.tsc.status == "uncertain":
        out.append(f"bench tlb: TSC rate uncertain: {_s(t.tsc.reason)}")
    for page, d in t.sweeps.items():
        if not d or not str(page).isdigit():
            continue
        label = f"{int(page) >> 10} KiB" if int(page) < (1 << 20) else f"{int(page) >> 20} MiB"
        for key in ("l1_dtlb", "l2_stlb"):
            v = getattr(d, key) or getattr(d, f"{key}_verdict")
            if v.status == "uncertain":
                out.append(f"bench tlb: {label} pages, no reach given: {_s(v.reason)}")
    return out


def notices(manifest: dict, errors: bool = True) -> list[str]:
    """One plain-text line per failure the run's manifest records (no markup; the caller styles it).
    ``errors=False`` leaves out ``extension_errors`` (``lowprof run`` prints those itself, as errors)."""
    m = Manifest(manifest)
    out: list[str] = []
    marks = m.marks_file
    if "marks_file" in m and marks.status != "ok":
        out.append(f"--marks {_s(marks.path)} not read, its marks are left out: {_s(marks.reason)}")
    probes = m.probes
    requested = m.probes_requested or []
    for name in requested:
        p = probes.entry(name)
        if p.status != "ok":
            out.append(f"--probes {name}: {_s(p.status or 'not recorded')}" + (f" ({p.reason})" if p.reason else ""))
    for name, p in probes.items():  # a probe that started and then broke, asked for or not
        if p.status in ("failed", "error") and name not in requested:
            out.append(f"probe {name} failed: {_s(p.reason or p.error)}")
    why = _no_launches(m)
    if why and (errors or not m.trace.error):  # a fatal trace error is printed as the error
        out.append(why)
    out += _trace_losses(m, why)
    stacks = m.pystacks_timeline
    if "pystacks_timeline" in m and stacks.status != "ok":
        out.append(f"--stacks: no Python stacks recorded: {_s(stacks.reason)}")
    out += _tlb_uncertain(m)
    for e in (m.extension_errors or []) if errors else []:
        out.append(_s(e))
    return out

"""Whether a detected TLB reach can be printed as a figure: independent repeats agree, and CPUID agrees.

One sweep's curve can put a level's step in the wrong place (a burst of interference across a transition,
a shallow step lost in noise). So each level is detected on the whole sweep and on independent repeats of
it (the even and the odd passes, each a full curve with its own random cycles; after a repeated sweep, each
sweep alone). The level is ``measured`` when every repeat sees it within one sweep step of the whole
sweep's crossing and, where CPUID reports the level, the reach is within one step of that (a level CPUID
reports must be seen); otherwise it is ``uncertain`` and ``reason`` says which check failed, with the figures. ``bench tlb`` repeats the sweep
once when a level is uncertain (:func:`needs_repeat`), then judges again over both sweeps.
"""

from __future__ import annotations

import math

__all__ = ["judge_level", "judge_sweep", "needs_repeat", "LEVELS"]

LEVELS = {"l1_dtlb": ("L1", "L1 dTLB"), "l2_stlb": ("L2", "L2 STLB")}


def _steps_apart(a: float, b: float, per_octave: int) -> float:
    return abs(math.log2(a / b)) * per_octave


def judge_level(name: str, whole: dict | None, repeats: list[dict | None], per_octave: int,
                reported: int | None, max_pages: int | None = None) -> dict:
    """``{"status": "measured"|"uncertain"|"not seen", "reason", "repeat_crossing_pages"}`` of one level.

    ``whole`` and ``repeats`` are :func:`lowprof.native.tlb.detect` level dicts (None: not seen);
    ``reported`` the CPUID entries (None: not reported); ``max_pages`` the sweep's largest working set. One step is ``1 / per_octave`` octave; a crossing
    is interpolated, a whole-page grid point may sit up to one step from it, hence the 0.04-step slack.
    """
    crossings = [r["crossing_pages"] if r else None for r in repeats]
    out = {"repeat_crossing_pages": crossings}
    if whole is None:
        if any(c is not None for c in crossings):
            seen = ", ".join("-" if c is None else f"{c:.0f}" for c in crossings)
            return out | {"status": "uncertain",
                          "reason": (f"{name}: no step on the whole sweep, but some independent repeats see one "
                                     f"(crossings: {seen} pages)")}
        if reported and max_pages is not None and reported >= max_pages:
            return out | {"status": "not seen",
                          "reason": (f"{name}: CPUID reports {reported} entries, beyond the sweep's largest working "
                                     f"set ({max_pages} pages)")}
        if reported:
            return out | {"status": "uncertain",
                          "reason": (f"{name}: CPUID reports {reported} entries, but no curve shows a step for it "
                                     "(a step too shallow for the noise, or beyond the largest working set)")}
        return out | {"status": "not seen", "reason": None}
    c0 = whole["crossing_pages"]
    missing = sum(c is None for c in crossings)
    if missing:
        return out | {"status": "uncertain",
                      "reason": (f"{name} at {c0:.0f} pages on the whole sweep, but {missing} of {len(crossings)} "
                                 "independent repeats see no such step")}
    far = [c for c in crossings if _steps_apart(c, c0, per_octave) > 1.04]
    if far:
        all_c = ", ".join(f"{c:.0f}" for c in [c0, *crossings])
        return out | {"status": "uncertain",
                      "reason": (f"{name}: independent repeats put the 50%-miss crossing at {all_c} pages, more "
                                 f"than one sweep step (x{2 ** (1 / per_octave):.2f}) apart")}
    if reported and _steps_apart(whole["entries"], reported, per_octave) > 1.04:
        ratio = whole["entries"] / reported
        return out | {"status": "uncertain",
                      "reason": (f"{name}: {len(crossings) + 1} curves agree on {whole['entries']} entries, but "
                                 f"CPUID reports {reported} ({ratio:.2f}x); the step is not where the CPU says "
                                 "this level ends (a hypervisor's CPUID, or entries covering more than one "
                                 "page, e.g. coalesced PTEs)")}
    return out | {"status": "measured", "reason": None}


def judge_sweep(whole: dict, repeats: list[dict], per_octave: int, reported: dict[str, int | None]) -> dict:
    """:func:`judge_level` for each level of one page size's detection: ``{"l1_dtlb": {...}, "l2_stlb": {...}}``.

    ``reported``: CPUID entries by level key (``l1_dtlb``, ``l2_stlb``)."""
    return {key: judge_level(label, whole.get(key), [r.get(key) for r in repeats], per_octave, reported.get(key),
                             whole.get("max_pages"))
            for key, (_, label) in LEVELS.items()}


def needs_repeat(verdicts: dict) -> bool:
    """A level that is uncertain (repeats disagree, CPUID disagrees) is worth one more sweep."""
    return any(v["status"] == "uncertain" for v in verdicts.values())

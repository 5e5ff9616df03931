"""A key/value table whose values are sentences (report sections: reasons, notes) keeps its keys whole at
80 columns: the sentences wrap at spaces, and no figure in them is cut."""

from __future__ import annotations

import io

from rich.console import Console

from lowprof.cli._ui import table

ROWS = [["tsc_hz", "2.5961 GHz"],
        ["4 KiB L1 dTLB", "91 entries (372736 B), 50%-miss crossing 99 pages; CPUID 96"],
        ["4 KiB pages given", "MADV_NOHUGEPAGE: 4 KiB pages (no AnonHugePages in the buffer)"],
        ["perf", "perf_event_open: ENOENT: no hardware PMU is exposed to this kernel (cpu-cycles fails the same "
                 "way; typical of a VM without vPMU)"]]


def _render(width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, markup=False, color_system=None).print(
        table("tlb", ["metric", "value"], ROWS, right={1}))
    return buf.getvalue()


def test_sentence_values_wrap_and_keys_stay_whole_at_80_columns():
    text = _render(80)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    keys = [ln.split("│")[1].strip() for ln in lines if ln.startswith("│")]
    assert [k for k in keys if k] == [r[0] for r in ROWS], text
    assert any(ln.startswith("┃ metric ") for ln in lines), text
    for figure in ("2.5961 GHz", "(372736 B)", "50%-miss", "99 pages", "96"):
        assert any(figure in ln for ln in lines), (figure, text)

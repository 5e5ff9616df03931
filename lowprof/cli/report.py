"""``lowprof report DIR``: a summary of one recorded run."""

from __future__ import annotations

import argparse
from collections import Counter

from lowprof.cli._common import add_devices_flag, add_signal_flags, signal_of
from lowprof.cli._ui import fmt_bytes, fmt_s, out, print_json, table

HELP = "summarise a run directory (duration, exit, CPU/memory, probes)"
EXAMPLES = """lowprof report lowprof-runs/20261125T101500Z-serve.py
lowprof report runs/a --json | jq .cpu_memory
lowprof report runs/serve --average     (power figures on the driver's 1 s average, as nvidia-smi shows)
lowprof report runs/serve --devices cpu   (the CPU packages' figures; energy per pass and phase summed over them)"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="run directory")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_signal_flags(p)
    add_devices_flag(p, "auto for the energy per pass and per phase; every device for the per-device figures "
                        "(with the flag: only the selected devices')")


def _fmt(key: str, v) -> str:
    if v is None:
        return "-"
    if key.endswith("_bytes"):
        return fmt_bytes(v)
    if key.endswith("_s"):
        return fmt_s(v)
    if key.endswith("_percent") or "_percent_" in key:
        return f"{v:.1f} %"
    if key.endswith("_hz") and isinstance(v, (int, float)):
        return f"{v / 1e9:.4f} GHz" if v >= 1e8 else f"{v / 1e6:.3f} MHz"
    if isinstance(v, float):  # 4 significant figures, never e-notation
        import numpy as np

        return np.format_float_positional(v, precision=4, unique=False, fractional=False, trim="-")
    return str(v)


def main(args) -> int:
    from rich.markup import escape
    from rich.panel import Panel
    from rich.text import Text

    from lowprof.analysis.summary import summarize
    from lowprof.rundir import load

    run = load(args.dir)
    from lowprof.features import FEATURES

    s = summarize(run, signal=signal_of(args), features=FEATURES, devices=args.devices)
    if args.json:
        print_json(s)
        return 0
    state = {"complete": "[green]complete[/]", "recording": "[yellow]still recording[/]",
             "incomplete": "[red]INCOMPLETE[/] (the recorder stopped before finishing; tables hold what was flushed)"}
    if run.section("status") == "interrupted":  # a sweep point cut short by Ctrl-C (lowprof sweep)
        state["incomplete"] = f"[red]INCOMPLETE[/] (interrupted: {escape(str(run.section('interrupted') or 'Ctrl-C'))})"
    w = s["workload"]
    if w.get("signal"):
        ended = f"killed by {w['signal']}"
    elif "exit_code" in w:
        ended = f"exit code {w['exit_code']}"
    else:
        ended = w.get("ended_by") or "-"
    dur = fmt_s(s["duration_s"]) + (" (at least)" if s["duration_is_lower_bound"] else "")
    gpus = (", ".join(f"{n}x {g}" if n > 1 else g for g, n in Counter(map(str, s["gpus"])).items())
            if isinstance(s["gpus"], list) else s["gpus"])
    head = [  # manifest strings are data, never markup
        f"[bold]{escape(s['path'])}[/]  {escape(str(s['kind']))}, {state.get(s['state'], s['state'])}",
        f"command   {escape(w.get('command') or '-')}",
        f"started   {escape(str(s['started_utc']))}",
        f"duration  {dur}   ended: {escape(str(ended))}",
        f"host      {escape(s['host'])}",
        f"GPUs      {escape(str(gpus))}",
    ]
    for name, why in s["unreadable_tables"].items():
        head.append(f"[red]table {escape(name)} unreadable[/]: {escape(why)} (left out below)")
    # soft_wrap off: a long line wraps inside the panel instead of being cut at the terminal's edge
    out.print(Panel(Text.from_markup("\n".join(head)), title="lowprof report", title_align="left", expand=False), soft_wrap=False)
    for line in s["notices"]:  # whole lines, never cut: a reader may grep them
        out.print(Text.assemble(("warning: ", "yellow"), line))
    cm = s["cpu_memory"]
    if cm:
        out.print(table("CPU and memory", ["metric", "value"], [[k, _fmt(k, v)] for k, v in cm.items()], right={1}))
    out.print(table("Probes", ["probe", "status", "samples", "rows", "note"],
                    [[p["probe"], p["status"], p["samples"], p["rows"], p["reason"] or ""] for p in s["probes"]],
                    right={2, 3}))
    for key, section in s.items():
        if key in ("path", "kind", "state", "started_utc", "duration_s", "duration_is_lower_bound", "host",
                   "gpus", "workload", "cpu_memory", "probes", "tables", "unreadable_tables", "notices"):
            continue
        if isinstance(section, dict):
            out.print(table(key.replace("_", " "), ["metric", "value"],
                            [[k, _fmt(k, v)] for k, v in section.items() if not isinstance(v, (dict, list))], right={1}))
    return 0

"""``lowprof power DIR``: per-device power figures, energy two ways, throttling, limit headroom,
the breakdown by phase; with ``--budget-w`` the POLCA-style oversubscription of a power budget."""

from __future__ import annotations

import argparse
import math
import sys

from lowprof.cli._common import add_devices_flag, add_signal_flags, seconds_arg, signal_of  # noqa: F401 (shared; ipw imports them from here too)
from lowprof.cli._ui import fmt_s, out, print_json, table
from lowprof.errors import LowprofError

HELP = "power per device: mean/median/p95/p99/peak, energy (counter vs integrated), throttling, headroom, phases"
EXAMPLES = """lowprof power runs/serve
lowprof power runs/serve --window 1 --json
lowprof power runs/serve --csv > power.csv
lowprof power runs/serve --average          # the driver's 1 s average, as nvidia-smi power.draw shows it
lowprof power runs/s1 runs/s2 --budget-w 20000 --risk 0.01 --cap-w 5000
lowprof power runs/s1 --budget-w 20000 --devices gpu --server-base-w 400 --limit-w 6500"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run directory (several: one per server, with --budget-w)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print everything as JSON (W, J, s)")
    fmt.add_argument("--csv", action="store_true", help="print one CSV row per device (W, J, s)")
    p.add_argument("--window", type=seconds_arg, default=0.0, metavar="S",
                   help="peak = largest mean over any S-second window (default 0: the largest reading)")
    add_signal_flags(p)
    add_devices_flag(p, "every device; with --budget-w, all: a server's power is every recorded device, each part "
                        "once (GPUs and RAPL/hwmon where recorded)")
    g = p.add_argument_group("oversubscription (POLCA): each DIR is one server's recorded run")
    g.add_argument("--budget-w", type=float, metavar="W", help="rack/cluster power budget in W")
    g.add_argument("--risk", type=float, default=0.01, metavar="F",
                   help="allowed fraction of time the summed power may exceed the budget (default 0.01)")
    g.add_argument("--cap-w", type=float, metavar="W", help="also evaluate a per-server power cap of W")
    g.add_argument("--server-base-w", "--other-w", dest="server_base_w", type=float, default=0.0, metavar="W",
                   help="constant power per server that nothing recorded (fans, NICs, PSU loss...), added to each trace")
    g.add_argument("--limit-w", type=float, metavar="W",
                   help="a server's provisioned power (nameplate; default: the GPUs' summed power limits + the "
                        "other devices' recorded peaks + --server-base-w)")
    g.add_argument("--step", type=seconds_arg, default=0.1, metavar="S", help="resampling grid of the traces (default 0.1 s)")
    g.add_argument("--trials", type=int, default=200, metavar="N", help="random time-shift draws per server count (default 200)")


def _w(v) -> str:
    return "-" if v is None or v != v else f"{v:.1f}"


def _j(v) -> str:
    return "-" if v is None or v != v else f"{v:.1f}"


def _j2(v) -> str:
    return "-" if v is None or v != v else f"{v:.2f}"


def _pct(v) -> str:
    return "-" if v is None or v != v else f"{v:+.2f}%"


def strict(obj):
    """``obj`` with every non-finite float (a figure that does not exist) as None, for strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def _refusals(run) -> tuple[str, str]:
    """(the NVML readings refused, module scope not offered) as two lines ("" when nothing)."""
    refused = dict(run.section("probes").entry("nvml").refused or {})
    module = {k: refused.pop(k) for k in list(refused) if k.startswith("module_")}
    line = "; ".join(f"{k} on GPU {', '.join(v)} ({', '.join(sorted(set(v.values())))})" for k, v in refused.items())
    gpus = sorted({g for v in module.values() for g in v})
    mline = f"module scope (NVML scopeId 1, GH200 modules) not offered on GPU {', '.join(gpus)}" if gpus else ""
    return line, mline


def _one(path: str, args) -> int:
    from rich.markup import escape
    import pandas as pd

    from lowprof.analysis.power import phase_breakdown, summarize_power
    from lowprof.rundir import load

    run = load(path)
    signal = signal_of(args)
    s = {d: v for d, v in summarize_power(run, window_s=args.window, signal=signal, devices=args.devices).items() if v}
    if not s:
        raise LowprofError(f"{path}: no power readings (record with --probes nvml, rapl or hwmon, or lowprof import a power log)")
    phases = phase_breakdown(run, signal=signal, devices=args.devices)
    if args.json:
        print_json(strict({"path": path, "devices": s, "phases": phases.to_dict(orient="records"),
                           "refused": run.section("probes").entry("nvml").refused or {}}))
        return 0
    if args.csv:
        pd.DataFrame([{"device": d} | v for d, v in s.items()]).to_csv(sys.stdout, index=False)
        return 0
    win = "reading" if args.window <= 0 else f"{args.window:g} s mean"
    rows = [[d, v["signal"], v["samples"], fmt_s(v["span_s"]), _w(v["mean_w"]), _w(v["median_w"]), _w(v["p95_w"]),
             _w(v["p99_w"]), f"{_w(v['peak_w'])} @{v['peak_at_s']:.2f}s", _w(v.get("limit_w")),
             f"{_w(v.get('headroom_p99_w'))} ({_w(v.get('headroom_p99_percent'))}%)" if "limit_w" in v else "-",
             f"{_w(v.get('headroom_peak_w'))} ({_w(v.get('headroom_peak_percent'))}%)" if "limit_w" in v else "-"]
            for d, v in s.items()]
    out.print(table(f"Power (W) of {path}: percentiles and peak (over one {win}) of each row's signal; "
                    "mean = energy / span", ["device", "signal", "n", "span", "mean", "median", "p95", "p99",
                                             "peak", "limit", "limit-p99", "limit-peak"], rows, right=set(range(2, 12))))
    both = any("energy_integrated_average_j" in v or "energy_integrated_instant_j" in v for v in s.values())
    cols = ["device", "energy", "from", "counter", "integrated (row's signal)", "vs counter"]
    if both:
        cols += ["integrated 1 s average", "vs counter", "integrated instant", "vs counter"]
    rows = []
    for d, v in s.items():
        row = [d, _j(v["energy_j"]), v["energy_method"], _j(v.get("energy_counter_j")), _j(v["energy_integrated_j"]),
               _pct(v.get("energy_disagreement_percent"))]
        if both:
            row += [_j(v.get("energy_integrated_average_j")), _pct(v.get("energy_disagreement_average_percent")),
                    _j(v.get("energy_integrated_instant_j")), _pct(v.get("energy_disagreement_instant_percent"))]
        rows.append(row)
    out.print(table("Energy (J): the energy counter where the device has one, else integrated power (trapezoid)",
                    cols, rows, right={1} | set(range(3, len(cols)))))
    thr = [[d, fmt_s(v["throttled_s"]), ", ".join(f"{k.removesuffix('_s')} {fmt_s(x)}" for k, x in v.items()
                                                     if k.endswith("_s") and k not in ("span_s", "throttled_s", "peak_at_s", "peak_window_s"))]
           for d, v in s.items() if "throttled_s" in v]
    if thr:
        out.print(table("Clock events (time each reason held; throttled = power/thermal/slowdown/sync-boost)",
                        ["device", "throttled", "by reason"], thr, right={1}))
    if len(phases):
        out.print(table("By phase (energy: the counter where the device has one)",
                        ["phase", "device", "start", "duration", "energy (J)", "from", "counter (J)", "integrated (J)",
                         "vs counter", "mean W"],
                        [[r.phase, r.device, f"{r.start_s:.3f} s", fmt_s(r.duration_s), _j2(r.energy_j),
                          r.energy_method, _j(r.energy_counter_j), _j(r.energy_integrated_j),
                          _pct(r.energy_disagreement_percent), _w(r.mean_w)]
                         for r in phases.itertuples()], right={2, 3, 4, 6, 7, 8, 9}))
        for r in phases[phases.energy_j.isna() & (phases.covered_percent < 99)].itertuples():
            out.print(f"[dim]{escape(r.phase)} at {r.start_s:.3f} s: only {r.covered_percent:.0f}% inside "
                      f"{escape(r.device)}'s readings: no energy (what lies outside was not measured)[/]", markup=True)
    for d in (d for d in s if d.endswith(":module")):
        gpu = d.removesuffix(":module")
        out.print(f"[dim]{escape(d)}: NVML module scope (scopeId 1): the whole GH200 module (GPU, Grace CPU, memory); "
                  f"{escape(gpu)} is inside it[/]", markup=True)
    refused, module = _refusals(run)
    if refused:
        out.print(f"[dim]NVML refused: {escape(refused)}[/]", markup=True)
    if module:
        out.print(f"[dim]{escape(module)}[/]", markup=True)
    return 0


def _budget(args) -> int:
    from rich.markup import escape
    import pandas as pd

    from lowprof.rundir import load
    from lowprof.analysis.polca import oversubscription, server_trace

    from lowprof.analysis.devices import SERVER

    servers = [server_trace(load(d), devices=args.devices or SERVER, step_s=args.step, server_base_w=args.server_base_w,
                            limit_w=args.limit_w, signal=signal_of(args)) for d in args.dirs]
    r = oversubscription(servers, args.budget_w, risk=args.risk, cap_w=args.cap_w, trials=args.trials)
    per = [{"server": s.name, "devices": s.devices, "signals": s.signals, "server_base_w": s.base_w,
            "limit_w": s.limit_w, "limit_from": s.limit_from, "p99_w": s.p99_w, "peak_w": s.peak_w,
            "mean_w": float(s.power_w.mean()), "gpu_only": s.gpu_only} for s in servers]
    if args.json:
        print_json(strict({"servers": per} | r.to_dict()))
        return 0
    if args.csv:  # one row: the result, with the power signal of every server's devices beside it
        signals = "; ".join(f"{p['server']}: {', '.join(p['signals'])}" for p in per)
        pd.DataFrame([r.to_dict() | {"signals": signals}]).to_csv(sys.stdout, index=False)
        return 0
    out.print(table("Servers (recorded runs): power = the devices summed + the stated base",
                    ["server", "devices (signal)", "base W", "limit W", "mean W", "p99 W", "peak W"],
                    [[p["server"], "; ".join(p["signals"]), _w(p["server_base_w"]), _w(p["limit_w"]), _w(p["mean_w"]),
                      _w(p["p99_w"]), _w(p["peak_w"])] for p in per], right={2, 3, 4, 5, 6}))
    for p in per:
        out.print(f"[dim]{escape(p['server'])}: limit = {escape(p['limit_from'])}[/]", markup=True)
    if all(p["gpu_only"] for p in per):
        out.print("[dim]GPU power only: no non-GPU power was recorded or stated (--server-base-w W adds it)[/]", markup=True)
    rows = [["by power limit (nameplate)", r.servers_by_limit, "0 (by construction)"],
            ["by observed p99", r.servers_by_p99, "-"],
            ["by observed peak", r.servers_by_peak, "0 (in the recorded traces)"],
            [f"in phase (all peak together), risk <= {r.risk:g}", r.servers_in_phase, f"{r.exceed_fraction_in_phase:.4f}"],
            [f"independent (random shifts), risk <= {r.risk:g}", r.servers_at_risk, f"{r.exceed_fraction_at_risk:.4f}"]]
    if r.cap_w is not None:
        rows.append([f"independent + static cap {r.cap_w:g} W", r.servers_at_risk_capped, f"{r.exceed_fraction_capped:.4f}"])
    out.print(table(f"Servers that fit in {args.budget_w:g} W", ["provisioned", "servers", "time over budget"], rows,
                    right={1, 2}))
    extra = f"{r.extra_servers_vs_limit:+d} servers vs provisioning by limit"
    if r.cap_w is not None:
        extra += (f"; with the cap {r.extra_servers_capped_vs_limit:+d}, a server sits at its cap "
                  f"{100 * r.capped_time_fraction:.1f}% of the time")
    out.print(extra)
    out.print("[dim]Model: time over budget of summed recorded traces (not POLCA's performance impact), a static "
              "clip for the cap (not POLCA's reactive frequency capping); see docs/power.md[/]", markup=True)
    return 0


def main(args) -> int:
    from lowprof.cli._common import DURATION_RANGE_S, check_seconds

    if args.window != 0:
        args.window = check_seconds("--window", args.window, 1e-6, DURATION_RANGE_S[1])
    args.step = check_seconds("--step", args.step, 1e-6, DURATION_RANGE_S[1])
    if args.budget_w is not None:
        return _budget(args)
    rc = 0
    for d in args.dirs:
        rc |= _one(d, args)
    return rc

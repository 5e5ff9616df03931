"""Power headroom and oversubscription of a power budget, after POLCA (Patel et al., "POLCA: Power
Oversubscription in LLM Cloud Providers", arXiv:2308.12908, 2023).

What is modelled. Each recorded run stands for one server. Its power P(t) is the sum of the chosen
devices (default ``all``: the GPUs plus, where recorded, RAPL packages / DRAM or the Grace module
meters, each part counted once; see :mod:`lowprof.analysis.devices`) plus ``server_base_w``, a stated
constant for what nothing measured (fans, NICs, PSU loss), resampled onto a regular grid. GPU power is
the instantaneous reading where recorded (NVML field 186), else the driver's 1 s average, as labelled.
Given a budget B (W) for a rack / row / cluster:

- provisioned by limit:  ``n = floor(B / L)`` with L the server's provisioned power (``limit_w``, the
  nameplate; default: the GPUs' summed enforced limits + the other devices' recorded peaks + the base)
- provisioned by p99 / peak: ``n = floor(B / p99)``, ``floor(B / peak)`` of the server's own summed readings
  (not of the resampled grid, which can step over a short peak)
- oversubscribed at risk r, independent servers: the largest n whose summed power exceeds B for at
  most a fraction r of the time. n servers are made by cycling the recorded runs (server k replays run
  ``k mod m``), each shifted by a random whole number of grid steps (circularly), since servers do not
  start in step; the exceedance is the mean over ``trials`` random shift draws (seeded, so reproducible).
- the in-phase bound: the same with every server unshifted (all servers draw their peaks together, as a
  synchronised job or a load burst hitting every server would): the count that is safe even then.
- with a cap C per server, each trace is first clipped at C (``min(p, C)``), as a static power cap
  (e.g. ``nvidia-smi -pl``) would hold it; the fraction of time a server sits at its cap is reported.

How this differs from the paper. POLCA measures whole-server power (CPUs, fans and all) on DGX-A100
servers; here a server is only what was recorded plus the stated base. POLCA judges a policy by its
performance impact (latency and throughput of the inference jobs, SLO violations) and the number of
power-capping events; here the figure is the fraction of time over budget, and clipping assumes the
work simply runs at the cap (a capped job really runs longer, so this is optimistic for
throughput-bound work). POLCA is reactive: when row power crosses a first threshold it lowers the GPU
clocks of low-priority inference work, past a second threshold also of high-priority work, and
releases them below; here a cap is static and instantaneous. The servers' only coupling here is the
shared workload mix (independent shifts) or none at all (the in-phase bound).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from lowprof.analysis.devices import SERVER, choose_devices
from lowprof.analysis.power import power_traces, total_power
from lowprof.errors import LowprofError
from lowprof.rundir import Run

__all__ = ["ServerTrace", "server_trace", "exceed_fraction", "oversubscription", "OversubscriptionResult"]


@dataclass
class ServerTrace:
    """One server's summed power (W) on a regular grid of ``step_s`` seconds and its provisioned power (W),
    with what it sums: ``devices``, their power ``signals``, the stated ``base_w`` and how the limit was made."""

    name: str
    power_w: np.ndarray
    step_s: float
    limit_w: float
    devices: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    base_w: float = 0.0
    limit_from: str = ""
    gpu_only: bool = False  # every summed device is a GPU's own scope (no host, Grace or module power) and no base
    recorded_p99_w: float | None = None  # of the summed readings themselves (the grid can miss a short peak)
    recorded_peak_w: float | None = None

    @property
    def p99_w(self) -> float:
        """99th percentile (W) of the summed readings where known, else of the grid."""
        return self.recorded_p99_w if self.recorded_p99_w is not None else float(np.percentile(self.power_w, 99))

    @property
    def peak_w(self) -> float:
        """Largest summed reading (W) where known, else the grid's largest value."""
        return self.recorded_peak_w if self.recorded_peak_w is not None else float(self.power_w.max())


def server_trace(run: Run, devices: str | None = SERVER, step_s: float = 0.1, server_base_w: float = 0.0,
                 limit_w: float | None = None, signal: str = "auto") -> ServerTrace:
    """A run as one server: summed power of ``devices`` (see :func:`~lowprof.analysis.devices.choose_devices`)
    plus ``server_base_w`` on a ``step_s`` grid; its provisioned power: ``limit_w``, else the GPUs' summed
    enforced limit + the other devices' recorded peaks + the base."""
    if step_s <= 0:
        raise LowprofError(f"--step must be > 0 seconds, got {step_s}")
    if server_base_w < 0:
        raise LowprofError(f"--server-base-w must be >= 0 W, got {server_base_w}")
    df = power_traces(run, signal)
    chosen = choose_devices(df, devices).devices
    t, p = total_power(df, chosen)
    if len(t) < 2:
        raise LowprofError(f"{run.path}: fewer than 2 power readings for {chosen}")
    grid = np.arange(t[0], t[-1] + 1, step_s * 1e9)
    power = np.interp(grid, t, p) + server_base_w
    sel = df[df.device.isin(chosen)]
    signals = [f"{d}: {g.signal.iloc[0]}" for d, g in sel.groupby("device", sort=True)]
    if limit_w is not None:
        how = "given (--limit-w)"
    else:
        parts, how_parts = [], []
        for d, g in sel.groupby("device", sort=True):
            if g.kind.iloc[0] == "gpu":
                lim = g.limit_w.median()
                if not np.isfinite(lim):
                    raise LowprofError(f"{run.path}: no power limit recorded for {d}; give --limit-w (per server)")
                parts.append(float(lim))
                how_parts.append(f"{d} limit {lim:g} W")
            else:
                peak = float(g.power_w.max())
                parts.append(peak)
                how_parts.append(f"{d} recorded peak {peak:.0f} W")
        if server_base_w:
            how_parts.append(f"base {server_base_w:g} W")
        limit_w = float(sum(parts)) + server_base_w
        how = " + ".join(how_parts)
    gpu_only = server_base_w == 0 and set(sel.kind) == {"gpu"}
    return ServerTrace(name=str(run.path), power_w=power, step_s=step_s, limit_w=float(limit_w), devices=chosen,
                       signals=signals, base_w=server_base_w, limit_from=how, gpu_only=gpu_only,
                       recorded_p99_w=float(np.percentile(p, 99)) + server_base_w,
                       recorded_peak_w=float(p.max()) + server_base_w)


def exceed_fraction(traces: list[np.ndarray], budget_w: float, shifts: list[int]) -> float:
    """Fraction of grid steps where the sum of ``traces`` (each rolled by its shift, cut to the
    shortest length) is above ``budget_w``."""
    n = min(len(x) for x in traces)
    total = np.zeros(n)
    for x, s in zip(traces, shifts):
        total += np.roll(np.asarray(x[:n], dtype=float), s)
    return float(np.mean(total > budget_w))


@dataclass
class OversubscriptionResult:
    budget_w: float
    servers_by_limit: int
    servers_by_p99: int
    servers_by_peak: int
    risk: float
    servers_at_risk: int
    exceed_fraction_at_risk: float
    extra_servers_vs_limit: int
    servers_in_phase: int
    exceed_fraction_in_phase: float
    cap_w: float | None = None
    servers_at_risk_capped: int | None = None
    exceed_fraction_capped: float | None = None
    capped_time_fraction: float | None = None
    extra_servers_capped_vs_limit: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _exceed(servers: list[np.ndarray], n: int, budget_w: float, trials: int, rng: np.random.Generator) -> float:
    traces = [servers[k % len(servers)] for k in range(n)]
    length = min(len(x) for x in traces)
    if trials <= 0:
        return exceed_fraction(traces, budget_w, [0] * n)
    return float(np.mean([exceed_fraction(traces, budget_w, list(rng.integers(0, length, n))) for _ in range(trials)]))


def _max_servers(servers: list[np.ndarray], budget_w: float, risk: float, trials: int, seed: int) -> tuple[int, float]:
    """Largest n with estimated exceedance <= risk (exceedance grows with n), and that exceedance."""
    floor_w = max(min(float(x.min()) for x in servers), 1e-3 * float(np.mean([x.mean() for x in servers])), 1e-9)
    hi = min(int(budget_w // floor_w) + 1, 100_000)  # beyond this even the lowest draw exceeds the budget
    best, best_f = 0, 0.0
    for n in range(1, hi + 1):
        f = _exceed(servers, n, budget_w, trials, np.random.default_rng(seed + n))
        if f > risk:
            break
        best, best_f = n, f
    return best, best_f


def oversubscription(servers: list[ServerTrace], budget_w: float, risk: float = 0.01, cap_w: float | None = None,
                     trials: int = 200, seed: int = 0) -> OversubscriptionResult:
    """How many servers fit under ``budget_w`` (W) by limit, p99, peak, and at ``risk`` (fraction of time over
    budget) for independent servers (random shifts) and in phase (no shifts)."""
    if budget_w <= 0:
        raise LowprofError(f"--budget-w must be > 0 W, got {budget_w}")
    if not 0 <= risk < 1:
        raise LowprofError(f"--risk must be in [0, 1), got {risk}")
    if not servers:
        raise LowprofError("no server traces given")
    limit = max(s.limit_w for s in servers)
    p99 = max(s.p99_w for s in servers)
    peak = max(s.peak_w for s in servers)
    by_limit = math.floor(budget_w / limit)
    traces = [s.power_w for s in servers]
    n, f = _max_servers(traces, budget_w, risk, trials, seed)
    n0, f0 = _max_servers(traces, budget_w, risk, 0, seed)
    res = OversubscriptionResult(budget_w=budget_w, servers_by_limit=by_limit, servers_by_p99=math.floor(budget_w / p99),
                                 servers_by_peak=math.floor(budget_w / peak), risk=risk, servers_at_risk=n,
                                 exceed_fraction_at_risk=f, extra_servers_vs_limit=n - by_limit,
                                 servers_in_phase=n0, exceed_fraction_in_phase=f0)
    if cap_w is not None:
        if cap_w <= 0:
            raise LowprofError(f"--cap-w must be > 0 W, got {cap_w}")
        capped = [np.minimum(x, cap_w) for x in traces]
        nc, fc = _max_servers(capped, budget_w, risk, trials, seed)
        res.cap_w = cap_w
        res.servers_at_risk_capped = nc
        res.exceed_fraction_capped = fc
        res.capped_time_fraction = float(np.mean(np.concatenate([x >= cap_w for x in traces])))
        res.extra_servers_capped_vs_limit = nc - by_limit
    return res

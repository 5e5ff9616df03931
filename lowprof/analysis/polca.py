"""Power headroom and oversubscription of a power budget, after POLCA (Patel et al., "POLCA: Power
Oversubscription in LLM Cloud Providers", arXiv:2308.12908, 2023).

Each recorded run stands for one server: its power is the sum of the chosen devices (default: its
GPUs), resampled onto a regular grid. Given a budget B (W) for a rack / row / cluster:

- provisioned by limit:  ``n = floor(B / L)`` with L the server's summed power limit (or nameplate)
- provisioned by p99 / peak: ``n = floor(B / p99)``, ``floor(B / peak)`` of the server's own trace
- oversubscribed at risk r: the largest n whose summed power exceeds B for at most a fraction r of
  the time. n servers are made by cycling the recorded runs (server k replays run ``k mod m``), each
  shifted by a random whole number of grid steps (circularly), since servers do not start in step;
  the exceedance is the mean over ``trials`` random shift draws (seeded, so reproducible).
- with a cap C per server, each trace is first clipped at C (``min(p, C)``), as a power cap (e.g.
  ``nvidia-smi -pl``) would hold it; the fraction of time a server sits at its cap is reported as
  the performance risk. Clipping assumes the work simply runs at the cap: it ignores that a capped
  job runs longer, so it is optimistic for throughput-bound work.

Assumptions: recorded runs are representative of production load; servers are independent apart
from sharing the workload mix; no power draw besides the chosen devices (add host power with
``--devices all`` where RAPL/hwmon were recorded, or a fixed ``--other-w`` per server).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from lowprof.analysis.power import power_traces, total_power
from lowprof.errors import LowprofError
from lowprof.rundir import Run

__all__ = ["ServerTrace", "server_trace", "exceed_fraction", "oversubscription", "OversubscriptionResult"]


@dataclass
class ServerTrace:
    """One server's summed power (W) on a regular grid of ``step_s`` seconds, and its summed limit (W)."""

    name: str
    power_w: np.ndarray
    step_s: float
    limit_w: float

    @property
    def p99_w(self) -> float:
        return float(np.percentile(self.power_w, 99))

    @property
    def peak_w(self) -> float:
        return float(self.power_w.max())


def server_trace(run: Run, devices: str = "gpu", step_s: float = 0.1, other_w: float = 0.0,
                 limit_w: float | None = None) -> ServerTrace:
    """A run as one server: summed power of ``devices`` (``gpu``, ``cpu``, ``all`` or a comma list of
    device names) plus ``other_w``, on a ``step_s`` grid; limit: ``limit_w`` or the GPUs' summed limit."""
    df = power_traces(run)
    names = sorted(df.device.unique())
    if devices == "gpu":
        chosen = [d for d in names if d.startswith("gpu")]
    elif devices == "cpu":
        chosen = [d for d in names if d.startswith("rapl:") and "package" in d]
    elif devices == "all":
        chosen = names
    else:
        chosen = [d.strip() for d in devices.split(",") if d.strip()]
    missing = [d for d in chosen if d not in names]
    if not chosen or missing:
        raise LowprofError(f"{run.path}: no power readings for devices {missing or devices!r}; it has {names}")
    t, p = total_power(df, chosen)
    if len(t) < 2:
        raise LowprofError(f"{run.path}: fewer than 2 power readings for {chosen}")
    grid = np.arange(t[0], t[-1] + 1, step_s * 1e9)
    power = np.interp(grid, t, p) + other_w
    if limit_w is None:
        lims = [df[df.device == d].limit_w.median() for d in chosen]
        if any(not np.isfinite(x) for x in lims):
            raise LowprofError(f"{run.path}: no power limit recorded for {chosen}; give --limit-w (per server)")
        limit_w = float(sum(lims)) + other_w
    return ServerTrace(name=str(run.path), power_w=power, step_s=step_s, limit_w=float(limit_w))


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
    """How many servers fit under ``budget_w`` (W) by limit, p99, peak, and at ``risk`` (fraction of time over budget)."""
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
    res = OversubscriptionResult(budget_w=budget_w, servers_by_limit=by_limit, servers_by_p99=math.floor(budget_w / p99),
                                 servers_by_peak=math.floor(budget_w / peak), risk=risk, servers_at_risk=n,
                                 exceed_fraction_at_risk=f, extra_servers_vs_limit=n - by_limit)
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

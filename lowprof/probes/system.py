"""The ``system`` probe: host CPU and memory, and the workload's process tree, read straight from /proc (a tick costs ~0.2 ms of CPU)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from lowprof.feature import Feature
from lowprof.probes.base import Probe, ProbeContext
from lowprof.rundir.specs.host import CORES, SYSTEM

if TYPE_CHECKING:
    from lowprof.analysis.metric import Metric

__all__ = ["SystemProbe"]

_TREE_REFRESH_S = 0.5  # re-walk the process tree at most this often


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` from /proc/PID/task/*/children (no scan of all of /proc)."""
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out.extend(int(c) for c in f.read().split())
    return out


def _tree_pids(root: int) -> list[int]:
    """``root`` and its descendants. Falls back to psutil's full /proc scan without CONFIG_PROC_CHILDREN."""
    try:
        pids, todo = [], [root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                todo.extend(_children(pid))
            except FileNotFoundError:  # exited while walking
                continue
        return pids
    except OSError:
        import psutil

        return [root, *(c.pid for c in psutil.Process(root).children(recursive=True))]


_MEMINFO_KEYS = (b"MemTotal:", b"MemAvailable:", b"SwapTotal:", b"SwapFree:")
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _meminfo() -> dict[bytes, int]:
    """MemTotal, MemAvailable, SwapTotal, SwapFree from /proc/meminfo, in bytes (one read)."""
    with open("/proc/meminfo", "rb") as f:
        data = f.read()
    out = {}
    for key in _MEMINFO_KEYS:
        i = data.find(key)
        if i >= 0:
            out[key] = int(data[i + len(key):data.index(b"kB", i)]) * 1024
    return out


def _cpu_jiffies() -> list[tuple[int, int]]:
    """Per logical CPU (busy, total) jiffies from /proc/stat; idle = idle + iowait (as psutil and top)."""
    out = []
    with open("/proc/stat", "rb") as f:
        for line in f:
            if not line.startswith(b"cpu"):
                break
            if line[3:4] == b" ":  # the all-CPU line
                continue
            v = [int(x) for x in line.split()[1:9]]  # user nice system idle iowait irq softirq steal
            total = sum(v)
            out.append((total - v[3] - v[4], total))
    return out


def _host_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs together, cumulative since boot (the ``cpu`` line of /proc/stat)."""
    with open("/proc/stat", "rb") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    total = sum(v)
    return total - v[3] - v[4], total


def _proc_stat(pid: int) -> tuple[float, float, int, int] | None:
    """(user s incl. reaped children, system s incl. reaped children, threads, RSS bytes) from one
    read of /proc/PID/stat (proc(5) fields 14-17, 20, 24); None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()  # fields from 3 (state) on
    if fields[0] == b"Z":
        return None
    ut, st, cut, cst = (int(x) for x in fields[11:15])
    return (ut + cut) * _TICK_S, (st + cst) * _TICK_S, int(fields[17]), int(fields[21]) * _PAGE


class SystemProbe(Probe):
    name = "system"
    tables = (SYSTEM, CORES)

    def start(self, ctx: ProbeContext) -> None:
        self._ctx = ctx
        self._pids: list[int] = []
        self._tree_at = 0.0
        self._last_jiffies = _cpu_jiffies()
        self._host_start = _host_jiffies()
        self._host_end: tuple[int, int] | None = None

    def stop(self) -> None:
        self._host_end = _host_jiffies()

    def facts(self) -> dict:
        """The run's host CPU from cumulative /proc/stat counters at start and stop (exact to a tick per CPU)."""
        if self._host_end is None:
            return {}
        (b0, t0), (b1, t1) = self._host_start, self._host_end
        return {"host_cpu": {
            "busy_jiffies": b1 - b0, "total_jiffies": t1 - t0, "clock_tick_s": _TICK_S,
            "percent": 100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else None,
            "doc": "host CPU busy over the recording, all CPUs: delta of /proc/stat's cpu line "
                   "(busy = total - idle - iowait) from the probe's start to its stop"}}

    def _tree(self) -> list[int]:
        if self._ctx.pid is None:
            return []
        now = time.monotonic()
        if now - self._tree_at >= _TREE_REFRESH_S or not self._pids:
            self._tree_at = now
            self._pids = _tree_pids(self._ctx.pid) if os.path.exists(f"/proc/{self._ctx.pid}") else []
        return self._pids

    def sample(self, t_ns: int) -> dict[str, list[dict]]:
        now = _cpu_jiffies()
        per_core = [100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
                    for (b0, t0), (b1, t1) in zip(self._last_jiffies, now)]
        self._last_jiffies = now
        mi = _meminfo()
        # A child that exits is reaped by its parent in the tree, whose reaped-children times then
        # hold its CPU: summing over the live tree stays cumulative.
        user = system = 0.0
        rss = threads = alive = 0
        for pid in self._tree():
            st = _proc_stat(pid)
            if st is None:
                continue
            user += st[0]
            system += st[1]
            threads += st[2]
            rss += st[3]
            alive += 1
        row = {
            "t_ns": t_ns,
            "cpu_percent": sum(per_core) / len(per_core),
            "mem_used_bytes": mi[b"MemTotal:"] - mi[b"MemAvailable:"],
            "mem_available_bytes": mi[b"MemAvailable:"],
            "swap_used_bytes": mi.get(b"SwapTotal:", 0) - mi.get(b"SwapFree:", 0),
            "proc_count": alive,
            "proc_threads": threads,
            "proc_rss_bytes": rss,
            "proc_cpu_user_s": user,
            "proc_cpu_system_s": system,
        }
        cores = [{"t_ns": t_ns, "core": i, "util_percent": v} for i, v in enumerate(per_core)]
        return {"system": [row], "system_cores": cores}


def _metrics() -> tuple[Metric, ...]:
    """Host CPU busy over the run (:mod:`lowprof.analysis.summary_metrics`). The workload's CPU and RSS are
    core metrics: ``lowprof run`` has them from wait4 without this probe."""
    from lowprof.analysis import summary_metrics

    return summary_metrics.HOST_METRICS


FEATURE = Feature("system", "host CPU and memory, and the workload's process tree, from /proc",
                  tables=SystemProbe.tables, probe=lambda: SystemProbe, metrics=_metrics)

"""The ``system`` probe: host CPU and memory, and the workload's process tree, via psutil."""

from __future__ import annotations

import time

import psutil

from lowprof.probes.base import Probe, ProbeContext
from lowprof.rundir import Column, TableSpec

__all__ = ["SystemProbe"]

SYSTEM = TableSpec(
    "system", 1,
    (
        Column("t_ns", "int64", "ns", "run clock at the read"),
        Column("cpu_percent", "float64", "%", "host CPU busy since the previous sample, mean over cores (0-100)"),
        Column("mem_used_bytes", "int64", "B", "host memory in use (total - available)"),
        Column("mem_available_bytes", "int64", "B", "host memory available without swapping"),
        Column("swap_used_bytes", "int64", "B", "host swap in use"),
        Column("proc_count", "int64", "", "processes in the workload's tree (0 without a workload)"),
        Column("proc_threads", "int64", "", "threads in the workload's tree"),
        Column("proc_rss_bytes", "int64", "B", "resident set size summed over the workload's tree"),
        Column("proc_cpu_user_s", "float64", "s", "user CPU time of the tree, cumulative, reaped children included"),
        Column("proc_cpu_system_s", "float64", "s", "system CPU time of the tree, cumulative, reaped children included"),
    ),
    doc="host and workload-process figures, one row per sample",
)

CORES = TableSpec(
    "system_cores", 1,
    (
        Column("t_ns", "int64", "ns", "run clock at the read"),
        Column("core", "int32", "", "logical CPU number"),
        Column("util_percent", "float64", "%", "busy share of this core since the previous sample (0-100)"),
    ),
    doc="per-core CPU utilisation, long format (one row per core per sample)",
)

_TREE_REFRESH_S = 0.5  # enumerating children scans /proc; do it at most this often


class SystemProbe(Probe):
    name = "system"
    tables = (SYSTEM, CORES)

    def start(self, ctx: ProbeContext) -> None:
        self._ctx = ctx
        self._procs: dict[int, psutil.Process] = {}
        self._tree_at = 0.0
        psutil.cpu_percent(percpu=True)  # prime the since-last-call counters

    def _tree(self) -> list[psutil.Process]:
        if self._ctx.pid is None:
            return []
        now = time.monotonic()
        if now - self._tree_at >= _TREE_REFRESH_S or not self._procs:
            self._tree_at = now
            try:
                root = self._procs.get(self._ctx.pid) or psutil.Process(self._ctx.pid)
                found = [root, *root.children(recursive=True)]
            except psutil.Error:
                found = []
            self._procs = {p.pid: self._procs.get(p.pid, p) for p in found}
        return list(self._procs.values())

    def sample(self, t_ns: int) -> dict[str, list[dict]]:
        per_core = psutil.cpu_percent(percpu=True)
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        rss = threads = 0
        # A child that exits is reaped by its parent in the tree, whose children_* times then hold
        # its CPU: summing user+system+children_* over the live tree stays cumulative.
        user = system = 0.0
        alive = 0
        for p in self._tree():
            try:
                with p.oneshot():
                    ct = p.cpu_times()
                    mem = p.memory_info().rss
                    nth = p.num_threads()
            except psutil.Error:  # gone between the scan and the read
                self._procs.pop(p.pid, None)
                continue
            user += ct.user + ct.children_user
            system += ct.system + ct.children_system
            rss += mem
            threads += nth
            alive += 1
        row = {
            "t_ns": t_ns,
            "cpu_percent": sum(per_core) / len(per_core),
            "mem_used_bytes": vm.total - vm.available,
            "mem_available_bytes": vm.available,
            "swap_used_bytes": sw.used,
            "proc_count": alive,
            "proc_threads": threads,
            "proc_rss_bytes": rss,
            "proc_cpu_user_s": user,
            "proc_cpu_system_s": system,
        }
        cores = [{"t_ns": t_ns, "core": i, "util_percent": v} for i, v in enumerate(per_core)]
        return {"system": [row], "system_cores": cores}

"""``lowprof info``: this machine's inventory."""

from __future__ import annotations

import argparse

from lowprof.cli._ui import fmt_bytes, out, print_json, table
from lowprof.inventory import gpu_facts, host_facts, software_facts

HELP = "show this machine's CPU, caches, memory, NUMA and GPUs (or why no GPU is seen)"
EXAMPLES = """lowprof info
lowprof info --json > machine.json"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print as JSON")


def main(args) -> int:
    host, gpus, sw = host_facts(), gpu_facts(), software_facts()
    if args.json:
        print_json({"host": host, "gpus": gpus, "software": sw})
        return 0
    rows = [["hostname", host["hostname"]], ["OS", host["os"]], ["kernel", host["kernel"]],
            ["CPU", f"{host['cpu_model']} ({host['cpu_physical']} cores, {host['cpu_logical']} threads)"],
            ["memory", fmt_bytes(host["memory_bytes"])], ["NUMA nodes", host["numa_nodes"]],
            ["Python", sw["python"]]]
    out.print(table("Host", ["", ""], rows))
    out.print(table("CPU caches (cpu0)", ["level", "type", "size", "line", "shared by CPUs"],
                    [[c["level"], c["type"], fmt_bytes(c["size_bytes"]), f"{c['line_bytes']} B", c["shared_cpu_list"]]
                     for c in host["caches"]]))
    if gpus["available"]:
        out.print(table(f"GPUs (driver {gpus['driver_version']}, CUDA {gpus['cuda_driver_version']})",
                        ["#", "name", "memory", "power limit", "PCIe", "uuid"],
                        [[d["index"], d["name"], fmt_bytes(d["memory_bytes"]),
                          f"{d['power_limit_w']:.0f} W" if d["power_limit_w"] else "-",
                          f"gen{d['pcie_gen']} x{d['pcie_width']}", d["uuid"]] for d in gpus["devices"]]))
    else:
        out.print(f"GPUs: none seen — {gpus['reason']}")
    return 0

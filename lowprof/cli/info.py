"""``lowprof info``: this machine's inventory."""

from __future__ import annotations

import argparse

from lowprof.cli._ui import fmt_bytes, out, print_json, table

HELP = ("show this machine's CPU (family/model/stepping, microarchitecture, AVX-512, SMT), hypervisor, THP, "
        "frequency governor, cgroup limits, caches, memory, NUMA and GPUs (or why no GPU is seen)")
EXAMPLES = """lowprof info
lowprof info --json > machine.json
lowprof info --json | jq .platform.cgroup      # the CPU and memory limits this process runs under"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print as JSON")


def main(args) -> int:
    from lowprof.inventory import gpu_facts, host_facts, software_facts
    from lowprof.platform_facts import platform_facts

    host, gpus, sw, plat = host_facts(), gpu_facts(), software_facts(), platform_facts()
    if args.json:
        print_json({"host": host, "platform": plat, "gpus": gpus, "software": sw})
        return 0
    rows = [["hostname", host["hostname"]], ["OS", host["os"]], ["kernel", host["kernel"]],
            ["CPU", f"{host['cpu_model']} ({host['cpu_physical']} cores, {host['cpu_logical']} threads)"],
            ["memory", fmt_bytes(host["memory_bytes"])], ["NUMA nodes", host["numa_nodes"]],
            ["Python", sw["python"]]]
    rows += platform_rows(plat)
    out.print(table("Host", ["", ""], rows, names=set()))
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


def _unknown(_: str, plat: dict, *keys: str) -> str:
    why = next((f"{k}: {plat['unknown'][k]}" for k in keys if k in plat["unknown"]), None)
    return f"unknown ({why})" if why else "unknown"


def platform_rows(plat: dict) -> list[list[str]]:
    """The platform facts as (label, text) rows; a fact not known reads "unknown (file: why)"."""
    c, hv, thp, fq, cg = plat["cpu"], plat["hypervisor"], plat["thp"], plat["cpufreq"], plat["cgroup"]
    if c["family"] is not None:
        ident = (f"{c['vendor'] or 'unknown vendor'} family {c['family']} (0x{c['family']:x}) model {c['model']} "
                 f"(0x{c['model']:x}) stepping {c['stepping']}" if c["model"] is not None and c["stepping"] is not None
                 else f"family {c['family']}")
        ident += f", microcode {c['microcode']}" if c["microcode"] else ""
    elif c["arm_part"] is not None:
        ident = (f"{c['vendor'] or 'unknown vendor'} implementer 0x{c['arm_implementer']:x} part 0x{c['arm_part']:x} "
                 f"variant {c['arm_variant']} revision {c['arm_revision']}")
    else:
        ident = _unknown("CPU", plat, "/proc/cpuinfo")
    uarch = (f"{c['microarchitecture']} (the Linux kernel's " + ("cputype.h" if c["arm_part"] is not None else
             "intel-family.h" if c["vendor"] == "GenuineIntel" else "amd.c") + " table)") if c["microarchitecture"] else ("unknown (not in lowprof's tables, from the Linux kernel's)" if c["flags"] is not None
                                       else _unknown("", plat, "/proc/cpuinfo"))
    if c["flags"] is None:
        isa = _unknown("", plat, "/proc/cpuinfo")
    else:
        f = c["flags"]
        have = [n for k, n in (("avx2", "AVX2"), ("fma", "FMA"), ("avx_vnni", "AVX-VNNI"), ("sha_ni", "SHA"),
                               ("asimd", "NEON"), ("sve", "SVE"), ("sve2", "SVE2"), ("sme", "SME")) if f[k]]
        avx512 = f"AVX-512 ({len(c['avx512'])}: {' '.join(c['avx512'])})" if c["avx512"] else "no AVX-512"
        amx = ", ".join(n for k, n in (("amx_tile", "AMX-TILE"), ("amx_bf16", "AMX-BF16"), ("amx_int8", "AMX-INT8")) if f[k])
        tsc = "invariant TSC" if f["constant_tsc"] and f["nonstop_tsc"] else "TSC not invariant" if c["vendor"] else ""
        isa = ", ".join(x for x in (", ".join(have), avx512, amx or ("no AMX" if c["vendor"] else ""), tsc) if x)
    if c["smt_active"] is None and c["threads_per_core"] is None:
        smt = _unknown("", plat, "/sys/devices/system/cpu/smt/active")
    else:
        state = {True: "on", False: "off", None: "unknown"}[c["smt_active"]]
        smt = f"{state} ({c['threads_per_core'] if c['threads_per_core'] is not None else '?'} thread(s) per core" + \
              (f"; control {c['smt_control']})" if c["smt_control"] else ")")
    if hv["present"] is None:
        hyper = _unknown("", plat, "hypervisor")
    else:
        hyper = (f"{hv['name'] or 'yes, unnamed'}" + (f" ({hv['source']})" if hv["source"] else "")) if hv["present"] \
            else "none (bare metal: no hypervisor CPU flag)"
    if hv["container"]:
        hyper += f"; in a {hv['container']} container"
    thp_text = ("unknown" if thp["enabled"] is None else f"enabled {thp['enabled']}") + ", " + \
               ("defrag unknown" if thp["defrag"] is None else f"defrag {thp['defrag']}")
    if thp["enabled"] is None:
        thp_text = _unknown("", plat, "/sys/kernel/mm/transparent_hugepage/enabled")
    gov = (fq["governor"] if fq["governor"] != "mixed" else
           "mixed: " + ", ".join(f"{g} on {n} CPUs" for g, n in fq["governors"].items())) if fq["governor"] else \
        _unknown("", plat, "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor")
    if fq["governor"] and fq["driver"]:
        gov += f" (driver {fq['driver']})"
    ver = f" (cgroup v{cg['version']})" if cg["version"] else ""
    cpu_lim = {"limited": f"{cg['cpu_limit_cpus']:g} CPUs ({cg['cpu_limit_source']})" if cg["cpu_limit_cpus"] is not None else "",
               "none": "none", "unknown": _unknown("", plat, "/proc/self/cgroup", "/proc/self/mountinfo", "cgroup cpu limit")}[cg["cpu_limit"]]
    mem_lim = {"limited": f"{fmt_bytes(cg['memory_limit_bytes'])} ({cg['memory_limit_source']})" if cg["memory_limit_bytes"] is not None else "",
               "none": "none", "unknown": _unknown("", plat, "/proc/self/cgroup", "/proc/self/mountinfo", "cgroup memory limit")}[cg["memory_limit"]]
    usable = f"; this process may run on {cg['usable_cpus']} CPUs" if cg["usable_cpus"] is not None else ""
    return [["CPU id", ident], ["microarchitecture", uarch], ["ISA", isa], ["SMT", smt], ["hypervisor", hyper],
            ["THP", thp_text], ["frequency governor", gov], ["cgroup CPU limit", cpu_lim + ver + usable],
            ["cgroup memory limit", mem_lim + ver]]

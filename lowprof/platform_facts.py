"""What shapes a measurement on this host beyond its CPU model: CPU identity and microarchitecture, the
instruction-set flags that matter, SMT, hypervisor, transparent huge pages, the frequency governor and the
cgroup CPU and memory limits the process runs under.

Every fact is read from a file (``/proc/cpuinfo``, ``/sys/...``, the process's cgroup files) under ``root``
(``/`` on a real host; a fake tree in tests), and the hypervisor's name also from CPUID leaf 0x40000000 on
x86. A fact whose file is missing or unreadable is ``None`` and its entry in ``unknown`` says which file;
nothing here raises.

Microarchitecture names: x86 from the family/model/stepping the CPU reports, with the Linux kernel's tables
(Intel: ``arch/x86/include/asm/intel-family.h``; AMD Zen generations: ``bsp_init_amd()`` in
``arch/x86/kernel/cpu/amd.c``, Linux 6.18); Arm from ``CPU implementer``/``CPU part``
(``arch/arm64/include/asm/cputype.h``). A CPU not in the tables is ``None``, never a guess.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["platform_facts", "microarchitecture", "parse_cpuinfo"]

# Intel family 6 (and 19) model -> name, from intel-family.h (the comment beside each model number).
_INTEL = {
    (6, 0x1A): "Nehalem-EP", (6, 0x1E): "Nehalem", (6, 0x1F): "Nehalem", (6, 0x2E): "Nehalem-EX",
    (6, 0x25): "Westmere", (6, 0x2C): "Westmere-EP", (6, 0x2F): "Westmere-EX",
    (6, 0x2A): "Sandy Bridge", (6, 0x2D): "Sandy Bridge-EP", (6, 0x3A): "Ivy Bridge", (6, 0x3E): "Ivy Bridge-EP",
    (6, 0x3C): "Haswell", (6, 0x45): "Haswell", (6, 0x46): "Haswell", (6, 0x3F): "Haswell-X",
    (6, 0x3D): "Broadwell", (6, 0x47): "Broadwell", (6, 0x4F): "Broadwell-X", (6, 0x56): "Broadwell-D",
    (6, 0x4E): "Skylake", (6, 0x5E): "Skylake", (6, 0x55): "Skylake-X",
    (6, 0x8E): "Kaby Lake", (6, 0x9E): "Kaby Lake", (6, 0xA5): "Comet Lake", (6, 0xA6): "Comet Lake",
    (6, 0x66): "Cannon Lake", (6, 0x7D): "Ice Lake", (6, 0x7E): "Ice Lake", (6, 0x6A): "Ice Lake-X",
    (6, 0x6C): "Ice Lake-D", (6, 0x8C): "Tiger Lake", (6, 0x8D): "Tiger Lake", (6, 0xA7): "Rocket Lake",
    (6, 0x97): "Alder Lake", (6, 0x9A): "Alder Lake", (6, 0xB7): "Raptor Lake", (6, 0xBA): "Raptor Lake",
    (6, 0xBF): "Raptor Lake", (6, 0xAA): "Meteor Lake", (6, 0xAC): "Meteor Lake", (6, 0xBD): "Lunar Lake",
    (6, 0xC5): "Arrow Lake", (6, 0xC6): "Arrow Lake", (6, 0xB5): "Arrow Lake", (6, 0xCC): "Panther Lake",
    (6, 0x8F): "Sapphire Rapids", (6, 0xCF): "Emerald Rapids", (6, 0xAD): "Granite Rapids",
    (6, 0xAE): "Granite Rapids-D", (6, 0xAF): "Sierra Forest", (6, 0xB6): "Grand Ridge",
    (6, 0xDD): "Clearwater Forest", (19, 0x01): "Diamond Rapids",
    (6, 0x57): "Knights Landing", (6, 0x85): "Knights Mill",
    (6, 0x5C): "Goldmont", (6, 0x5F): "Goldmont-D", (6, 0x7A): "Goldmont Plus", (6, 0x86): "Tremont-D",
    (6, 0x96): "Tremont", (6, 0x9C): "Tremont-L", (6, 0xBE): "Gracemont",
}
# Skylake-X's model 0x55 is also Cascade Lake (stepping 5-7) and Cooper Lake (10-11) (intel-family.h).
_INTEL_55_STEPPINGS = {5: "Cascade Lake", 6: "Cascade Lake", 7: "Cascade Lake", 10: "Cooper Lake", 11: "Cooper Lake"}
# AMD family -> [(first model, last model, generation)], bsp_init_amd() (Zen 1 includes Zen+).
_AMD = {
    0x17: [(0x00, 0x2F, "Zen"), (0x50, 0x5F, "Zen"), (0x30, 0x4F, "Zen 2"), (0x60, 0x7F, "Zen 2"),
           (0x90, 0x91, "Zen 2"), (0xA0, 0xAF, "Zen 2")],
    0x19: [(0x00, 0x0F, "Zen 3"), (0x20, 0x5F, "Zen 3"), (0x10, 0x1F, "Zen 4"), (0x60, 0xAF, "Zen 4")],
    0x1A: [(0x00, 0x2F, "Zen 5"), (0x40, 0x4F, "Zen 5"), (0x60, 0x7F, "Zen 5"), (0x50, 0x5F, "Zen 6"),
           (0x80, 0xAF, "Zen 6"), (0xC0, 0xCF, "Zen 6")],
}
# Arm (implementer, part) -> core, cputype.h.
_ARM = {
    (0x41, 0xD0C): "Neoverse N1", (0x41, 0xD40): "Neoverse V1", (0x41, 0xD49): "Neoverse N2",
    (0x41, 0xD4F): "Neoverse V2", (0x41, 0xD84): "Neoverse V3", (0x41, 0xD8E): "Neoverse N3",
    (0x41, 0xD08): "Cortex-A72", (0x41, 0xD0B): "Cortex-A76", (0x41, 0xD41): "Cortex-A78",
    (0x41, 0xD4B): "Cortex-A78C", (0x41, 0xD44): "Cortex-X1", (0x41, 0xD46): "Cortex-A510",
    (0x41, 0xD47): "Cortex-A710", (0x41, 0xD4D): "Cortex-A715",
    (0x48, 0xD01): "TaiShan v110 (Kunpeng 920)", (0xC0, 0xAC3): "AmpereOne", (0x4E, 0x004): "Carmel",
}
# Instruction-set flags worth knowing for a measurement (x86 /proc/cpuinfo names; Arm `Features` names).
_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx_vnni", "avx512f", "amx_tile", "amx_bf16", "amx_int8",
          "sha_ni", "aes", "constant_tsc", "nonstop_tsc", "asimd", "sve", "sve2", "sme")
# CPUID 0x40000000 signature (ebx ecx edx) -> hypervisor (as systemd-detect-virt names them).
_HV_SIGNATURES = {"KVMKVMKVM": "kvm", "Linux KVM Hv": "kvm", "Microsoft Hv": "microsoft", "VMwareVMware": "vmware",
                  "XenVMMXenVMM": "xen", "TCGTCGTCGTCG": "qemu", "ACRNACRNACRN": "acrn", "bhyve bhyve": "bhyve",
                  " lrpepyh  vr": "parallels", "QNXQVMBSQG": "qnx", "VBoxVBoxVBox": "oracle"}


def _read(root: Path, path: str, unknown: dict) -> str | None:
    """The file's text (stripped), or None with ``unknown[path]`` saying why."""
    try:
        return (root / path.lstrip("/")).read_text(errors="replace").strip()
    except OSError as e:
        unknown[path] = e.strerror or type(e).__name__
        return None


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The first processor's ``key: value`` lines of /proc/cpuinfo (keys as written, e.g. ``cpu family``)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if out:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


def _int(v: str | None, base: int = 10) -> int | None:
    try:
        return int(v, base) if v is not None else None
    except ValueError:
        return None


def microarchitecture(vendor: str | None, family: int | None, model: int | None, stepping: int | None = None,
                      arm_implementer: int | None = None, arm_part: int | None = None) -> str | None:
    """The microarchitecture's name from the kernel's tables (see the module docstring), or None."""
    if arm_implementer is not None and arm_part is not None:
        return _ARM.get((arm_implementer, arm_part))
    if family is None or model is None:
        return None
    if vendor == "GenuineIntel":
        if (family, model) == (6, 0x55) and stepping in _INTEL_55_STEPPINGS:
            return _INTEL_55_STEPPINGS[stepping]
        return _INTEL.get((family, model))
    if vendor in ("AuthenticAMD", "HygonGenuine"):
        if vendor == "HygonGenuine" and family == 0x18:
            return "Dhyana (Zen)"
        for lo, hi, name in _AMD.get(family, []):
            if lo <= model <= hi:
                return name
    return None


def _cpu(root: Path, unknown: dict, cpuid) -> dict:
    text = _read(root, "/proc/cpuinfo", unknown)
    info = parse_cpuinfo(text or "")
    flags = set((info.get("flags") or info.get("Features") or "").split())
    vendor = info.get("vendor_id")
    family, model, stepping = _int(info.get("cpu family")), _int(info.get("model")), _int(info.get("stepping"))
    impl, part = _int(info.get("CPU implementer"), 0), _int(info.get("CPU part"), 0)
    smt_active = _read(root, "/sys/devices/system/cpu/smt/active", unknown)
    siblings = _read(root, "/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", unknown)
    return {
        "vendor": vendor or ({0x41: "ARM", 0xC0: "Ampere", 0x48: "HiSilicon", 0x61: "Apple", 0x4E: "NVIDIA"}.get(impl)
                             if impl is not None else None),
        "family": family, "model": model, "stepping": stepping,
        "arm_implementer": impl, "arm_part": part, "arm_variant": _int(info.get("CPU variant"), 0),
        "arm_revision": _int(info.get("CPU revision")),
        "microcode": info.get("microcode"),
        "microarchitecture": microarchitecture(vendor, family, model, stepping, impl, part) if text else None,
        "flags": {f: f in flags for f in _FLAGS} if text else None,
        "avx512": sorted(f for f in flags if f.startswith("avx512")) if text else None,
        "hypervisor_flag": ("hypervisor" in flags) if text and vendor else None,
        "smt_active": None if smt_active not in ("0", "1") else smt_active == "1",
        "smt_control": _read(root, "/sys/devices/system/cpu/smt/control", unknown),
        "threads_per_core": _count_cpus(siblings) if siblings else None,
    }


def _count_cpus(cpu_list: str) -> int | None:
    """CPUs in a kernel CPU list such as ``0-3,8,10-11``."""
    n = 0
    try:
        for part in cpu_list.split(","):
            a, _, b = part.strip().partition("-")
            n += int(b) - int(a) + 1 if b else 1
    except ValueError:
        return None
    return n


def _hypervisor(root: Path, unknown: dict, cpu: dict, cpuid) -> dict:
    name, source = None, None
    if cpu.get("hypervisor_flag") and cpuid is not None:
        try:
            _, b, c, d = cpuid(0x40000000)
            sig = b"".join(x.to_bytes(4, "little") for x in (b, c, d)).rstrip(b"\0").decode("ascii", "replace")
            name = _HV_SIGNATURES.get(sig) or _HV_SIGNATURES.get(sig.strip()) or (sig or None)
            source = "CPUID 0x40000000" if name else None
        except Exception:  # noqa: BLE001 - no C helper: the files below still say
            pass
    if name is None:
        xen = _read(root, "/sys/hypervisor/type", {})
        if xen:
            name, source = xen, "/sys/hypervisor/type"
    present = cpu.get("hypervisor_flag")
    if present is None and name is not None:
        present = True
    if present is None:
        unknown.setdefault("hypervisor", "no CPU flags to tell (/proc/cpuinfo)")
    container = next((kind for kind, f in (("docker", "/.dockerenv"), ("podman", "/run/.containerenv"))
                      if (root / f.lstrip("/")).exists()), None)
    return {"present": present, "name": name if present else None, "source": source, "container": container}


def _bracketed(text: str | None) -> str | None:
    """The selected word of a sysfs choice file: ``always [madvise] never`` -> ``madvise``."""
    if not text:
        return None
    for w in text.split():
        if w.startswith("[") and w.endswith("]"):
            return w[1:-1]
    return None


def _cpufreq(root: Path, unknown: dict) -> dict:
    base = root / "sys/devices/system/cpu"
    govs, drivers = {}, set()
    for d in sorted(base.glob("cpu[0-9]*/cpufreq")):
        for name, into in (("scaling_governor", govs), ("scaling_driver", None)):
            try:
                v = (d / name).read_text().strip()
            except OSError:
                continue
            if into is None:
                drivers.add(v)
            else:
                into.setdefault(v, []).append(d.parent.name)
    if not govs:
        unknown["/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"] = "no cpufreq (typical of a VM or a container)"
    return {"governor": None if not govs else next(iter(govs)) if len(govs) == 1 else "mixed",
            "governors": {g: len(c) for g, c in govs.items()} or None,
            "driver": ", ".join(sorted(drivers)) or None}


def _cgroup_dirs(root: Path, unknown: dict) -> tuple[int | None, dict[str, Path]]:
    """cgroup version and controller -> this process's cgroup folder (v2: the one folder, key '')."""
    groups = _read(root, "/proc/self/cgroup", unknown)
    mounts = _read(root, "/proc/self/mountinfo", unknown)
    if groups is None or mounts is None:
        return None, {}
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in groups.splitlines():
        hid, _, rest = line.partition(":")
        ctrls, _, path = rest.partition(":")
        if hid == "0" and ctrls == "":
            v2 = path
        for c in ctrls.split(","):
            if c:
                v1[c] = path
    dirs: dict[str, Path] = {}
    for line in mounts.splitlines():
        left, _, right = line.partition(" - ")
        f, r = left.split(), right.split()
        if len(f) < 5 or len(r) < 3:
            continue
        mroot, mpoint, fstype, opts = f[3], f[4], r[0], r[2].split(",")
        for ctrl, path in ([("", v2)] if fstype == "cgroup2" and v2 is not None else
                           [(c, v1[c]) for c in opts if c in v1] if fstype == "cgroup" else []):
            rel = os.path.relpath(path, mroot) if path.startswith(mroot) else None
            if rel is None or rel.startswith(".."):
                continue  # this process's cgroup is not under that mount's root
            dirs[ctrl] = root / mpoint.lstrip("/") / ("" if rel == "." else rel)
    version = 1 if ("cpu" in dirs or "memory" in dirs) else 2 if "" in dirs else None
    return version, dirs


def _up(d: Path, top: Path):
    """``d`` and its parents up to ``top`` (the mount point), innermost first."""
    while True:
        yield d
        if d == top or top not in d.parents:
            return
        d = d.parent


def _file(d: Path, name: str) -> str | None:
    try:
        return (d / name).read_text().strip()
    except OSError:
        return None


_NO_LIMIT = 1 << 62  # a v1 memory limit this large (9223372036854771712) means none


def _cgroup(root: Path, unknown: dict) -> dict:
    version, dirs = _cgroup_dirs(root, unknown)
    out = {"version": version, "cpu_limit": "unknown", "cpu_limit_cpus": None, "cpu_limit_source": None,
           "memory_limit": "unknown", "memory_limit_bytes": None, "memory_limit_source": None,
           "usable_cpus": len(os.sched_getaffinity(0)) if str(root) == "/" and hasattr(os, "sched_getaffinity") else None}
    cpu_dir, mem_dir = (dirs.get(""), dirs.get("")) if version == 2 else (dirs.get("cpu"), dirs.get("memory"))
    if cpu_dir is not None:
        top, best, seen = _mount_top(cpu_dir, root), None, False
        name = "cpu.max" if version == 2 else "cpu.cfs_quota_us"
        for d in _up(cpu_dir, top):  # the tightest limit on the way up is the one in force
            text = _file(d, name)
            if text is None:
                continue
            seen = True
            if version == 2:  # "max 100000" or "200000 100000"
                q, _, p = text.partition(" ")
                quota, period = (None if q == "max" else _int(q)), _int(p or "100000")
            else:  # -1: no quota
                quota, period = _int(text), _int(_file(d, "cpu.cfs_period_us"))
            if quota is not None and quota >= 0 and period:
                if best is None or quota / period < best[0]:
                    best = (quota / period, _shown(d / name, root))
        out["cpu_limit"] = "limited" if best else "none" if seen else "unknown"
        if best:
            out["cpu_limit_cpus"], out["cpu_limit_source"] = best
    if mem_dir is not None:
        top, best = _mount_top(mem_dir, root), None
        name = "memory.max" if version == 2 else "memory.limit_in_bytes"
        for d in _up(mem_dir, top):
            v = _file(d, name)
            if v is None:
                continue
            if out["memory_limit"] == "unknown":
                out["memory_limit"] = "none"
            b = None if v == "max" else _int(v)
            if b is not None and b < _NO_LIMIT and (best is None or b < best[0]):
                best = (b, _shown(d / name, root))
        if best:
            out["memory_limit"], (out["memory_limit_bytes"], out["memory_limit_source"]) = "limited", best
    if out["cpu_limit"] == "unknown":
        unknown["cgroup cpu limit"] = "no cpu controller files for this process"
    if out["memory_limit"] == "unknown":
        unknown["cgroup memory limit"] = "no memory controller files for this process"
    return out


def _shown(path: Path, root: Path) -> str:
    """``path`` as the host names it (without a fake ``root``)."""
    return "/" + str(path.relative_to(root)) if root != Path("/") else str(path)


def _mount_top(d: Path, root: Path) -> Path:
    """The mount point holding ``d`` (walking up stops there): the closest ancestor that is a mount point
    (by /proc/self/mountinfo), else ``d`` itself."""
    try:
        text = (root / "proc/self/mountinfo").read_text()
    except OSError:
        return d
    points = {root / line.split()[4].lstrip("/") for line in text.splitlines() if len(line.split()) > 4}
    for p in _up(d, root):
        if p in points:
            return p
    return d


def platform_facts(root: str | os.PathLike = "/", cpuid=None) -> dict:
    """CPU identity, microarchitecture, flags, SMT, hypervisor, THP, frequency governor and cgroup limits.

    ``root``: where /proc and /sys are (``/``); ``cpuid``: a function leaf -> (eax, ebx, ecx, edx) for the
    hypervisor's name (default: lowprof's C helper on a real x86 host, none under a fake root).
    Units: bytes, CPUs (cgroup quota / period). ``unknown``: file or fact -> why it is not known.
    """
    root = Path(root)
    if cpuid is None and str(root) == "/":
        try:
            from lowprof.native.tlb_cpuid import cpuid as cpuid  # noqa: PLW0127
        except Exception:  # noqa: BLE001 - no C helper: no CPUID
            cpuid = None
    unknown: dict[str, str] = {}
    cpu = _cpu(root, unknown, cpuid)
    thp = {"enabled": _bracketed(_read(root, "/sys/kernel/mm/transparent_hugepage/enabled", unknown)),
           "defrag": _bracketed(_read(root, "/sys/kernel/mm/transparent_hugepage/defrag", unknown))}
    return {"cpu": cpu, "hypervisor": _hypervisor(root, unknown, cpu, cpuid), "thp": thp,
            "cpufreq": _cpufreq(root, unknown), "cgroup": _cgroup(root, unknown), "unknown": unknown}

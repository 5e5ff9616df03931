"""`lowprof info`: CPU identity, microarchitecture, ISA flags, SMT, hypervisor, THP, governor, cgroup limits.

On this host, each figure is compared with the file it comes from, read here independently (/proc/cpuinfo,
/sys, the process's cgroup files), and the hypervisor with systemd-detect-virt where it is installed. Fake
trees built like the kernel's check the cgroup arithmetic (v1 and v2, limits set on a parent), Arm
identification and that a host missing every file says "unknown", never a traceback.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lowprof.cli.info import platform_rows
from lowprof.platform_facts import microarchitecture, platform_facts
from tests.conftest import run_cli

pytestmark = pytest.mark.hardware


@pytest.fixture(scope="module")
def info() -> dict:
    r = run_cli("info", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))


def _first_cpu() -> dict[str, str]:
    block = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in block.splitlines()) if _}


def _text(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def test_cpu_identity_and_flags_are_what_proc_cpuinfo_says(info):
    cpu, ref = info["platform"]["cpu"], _first_cpu()
    if "cpu family" not in ref:
        pytest.skip("not an x86 /proc/cpuinfo")
    assert (cpu["vendor"], cpu["family"], cpu["model"], cpu["stepping"]) == (
        ref["vendor_id"], int(ref["cpu family"]), int(ref["model"]), int(ref["stepping"]))
    flags = ref["flags"].split()
    assert cpu["avx512"] == sorted(f for f in flags if f.startswith("avx512"))
    for f in ("avx2", "fma", "avx512f", "amx_tile", "constant_tsc"):
        assert cpu["flags"][f] == (f in flags), f
    assert cpu["hypervisor_flag"] == ("hypervisor" in flags)


def test_smt_thp_and_governor_are_the_sysfs_files(info):
    cpu, plat = info["platform"]["cpu"], info["platform"]
    active = _text("/sys/devices/system/cpu/smt/active")
    assert cpu["smt_active"] == ({"1": True, "0": False}.get(active))
    sib = _text("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")
    if sib is not None:
        n = sum(int(b) - int(a) + 1 if b else 1 for a, _, b in (x.partition("-") for x in sib.split(",")))
        assert cpu["threads_per_core"] == n
    for key in ("enabled", "defrag"):
        raw = _text(f"/sys/kernel/mm/transparent_hugepage/{key}")
        assert plat["thp"][key] == (re.search(r"\[(\w[\w+]*)\]", raw).group(1) if raw else None)
    govs = {p.read_text().strip() for p in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor")}
    assert plat["cpufreq"]["governor"] == (None if not govs else govs.pop() if len(govs) == 1 else "mixed")
    if not govs:
        assert any("scaling_governor" in k for k in plat["unknown"])


def test_cgroup_limits_are_the_process_cgroup_files(info):
    cg = info["platform"]["cgroup"]
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    v1 = {c: path for line in lines for hid, ctrls, path in [line.split(":", 2)] for c in ctrls.split(",") if c}
    if "memory" in v1 and Path("/sys/fs/cgroup/memory").is_dir():
        assert cg["version"] == 1
        limits = []  # the cgroup's own and its parents', up to the mount
        d = Path("/sys/fs/cgroup/memory" + v1["memory"])
        while True:
            t = _text(str(d / "memory.limit_in_bytes"))
            if t is not None and int(t) < 2**62:
                limits.append(int(t))
            if d == Path("/sys/fs/cgroup/memory"):
                break
            d = d.parent
        assert cg["memory_limit_bytes"] == (min(limits) if limits else None)
        assert cg["memory_limit"] == ("limited" if limits else "none")
        q, p = _text("/sys/fs/cgroup/cpu" + v1.get("cpu", "/") + "/cpu.cfs_quota_us"), _text("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
        if q is not None and int(q) < 0 and v1.get("cpu") == "/":
            assert cg["cpu_limit"] == "none" and cg["cpu_limit_cpus"] is None
    elif any(line.startswith("0::") for line in lines) and Path("/sys/fs/cgroup/cgroup.controllers").exists():
        assert cg["version"] == 2
        path = next(line[3:] for line in lines if line.startswith("0::"))
        mx = _text(f"/sys/fs/cgroup{path}/memory.max")
        if mx not in (None, "max") and path == "/":
            assert cg["memory_limit_bytes"] == int(mx)
    else:
        pytest.skip("no cgroup layout this test knows")
    import os

    assert cg["usable_cpus"] == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not shutil.which("systemd-detect-virt"), reason="systemd-detect-virt not installed (the peer)")
def test_hypervisor_agrees_with_systemd_detect_virt(info):
    peer = subprocess.run(["systemd-detect-virt", "--vm"], capture_output=True, text=True).stdout.strip()
    hv = info["platform"]["hypervisor"]
    if peer == "none":
        assert hv["present"] is False
    else:
        assert hv["present"] is True
        if peer in ("kvm", "microsoft", "vmware", "xen", "qemu", "oracle", "bhyve", "parallels", "acrn", "qnx"):
            assert hv["name"] == peer


def test_table_shows_every_platform_fact():
    r = run_cli("info")
    assert r.returncode == 0, r.stderr
    for label in ("CPU id", "microarchitecture", "ISA", "SMT", "hypervisor", "THP", "frequency governor",
                  "CPU limit", "memory limit"):
        assert label in r.stdout, label


# CPUs whose names their makers publish beside family/model/stepping (the CPU's own report, as in public
# /proc/cpuinfo listings): the reference for the microarchitecture tables.
@pytest.mark.parametrize("vendor, family, model, stepping, want", [
    ("GenuineIntel", 6, 143, 8, "Sapphire Rapids"),   # Xeon Platinum 8480+
    ("GenuineIntel", 6, 207, 2, "Emerald Rapids"),    # Xeon Platinum 8592+
    ("GenuineIntel", 6, 106, 6, "Ice Lake-X"),        # Xeon Platinum 8380 (Ice Lake-SP)
    ("GenuineIntel", 6, 85, 7, "Cascade Lake"),       # Xeon Platinum 8280
    ("GenuineIntel", 6, 85, 4, "Skylake-X"),          # Xeon Platinum 8175M (Skylake-SP)
    ("GenuineIntel", 6, 79, 1, "Broadwell-X"),        # Xeon E5-2686 v4
    ("AuthenticAMD", 23, 49, 0, "Zen 2"),             # EPYC 7742 (Rome)
    ("AuthenticAMD", 25, 1, 1, "Zen 3"),              # EPYC 7763 (Milan)
    ("AuthenticAMD", 25, 17, 1, "Zen 4"),             # EPYC 9654 (Genoa)
    ("AuthenticAMD", 26, 2, 1, "Zen 5"),              # EPYC 9005 (Turin)
    ("AuthenticAMD", 23, 1, 2, "Zen"),                # EPYC 7601 (Naples)
    ("GenuineIntel", 6, 0xFE, 0, None),               # not in the tables: unknown, never a guess
    ("CentaurHauls", 6, 15, 0, None),
])
def test_microarchitecture_names(vendor, family, model, stepping, want):
    assert microarchitecture(vendor, family, model, stepping) == want


GRACE_CPUINFO = """processor\t: 0
BogoMIPS\t: 2000.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svebf16 i8mm bf16 dgh bti
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd4f
CPU revision\t: 0

"""


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_cgroup_v2_limits_on_a_parent_count_and_arm_is_named(tmp_path):
    root = _tree(tmp_path, {
        "/proc/cpuinfo": GRACE_CPUINFO,
        "/proc/self/cgroup": "0::/job/step\n",
        "/proc/self/mountinfo": "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
        "/sys/fs/cgroup/job/step/cpu.max": "150000 100000\n",   # 1.5 CPUs on the leaf
        "/sys/fs/cgroup/job/cpu.max": "max 100000\n",
        "/sys/fs/cgroup/job/step/memory.max": "max\n",
        "/sys/fs/cgroup/job/memory.max": f"{2 << 30}\n",        # 2 GiB on the parent: in force
        "/sys/kernel/mm/transparent_hugepage/enabled": "[always] madvise never\n",
        "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "performance\n",
        "/sys/devices/system/cpu/cpu1/cpufreq/scaling_governor": "powersave\n",
        "/sys/devices/system/cpu/smt/active": "0\n",
    })
    f = platform_facts(root)
    cg = f["cgroup"]
    assert (cg["version"], cg["cpu_limit"], cg["cpu_limit_cpus"], cg["cpu_limit_source"]) == (
        2, "limited", 1.5, "/sys/fs/cgroup/job/step/cpu.max")
    assert (cg["memory_limit"], cg["memory_limit_bytes"], cg["memory_limit_source"]) == (
        "limited", 2 << 30, "/sys/fs/cgroup/job/memory.max")
    assert f["cpu"]["microarchitecture"] == "Neoverse V2" and f["cpu"]["vendor"] == "ARM"
    assert f["cpu"]["flags"]["sve2"] and not f["cpu"]["flags"]["avx2"] and f["cpu"]["avx512"] == []
    assert f["thp"]["enabled"] == "always" and f["thp"]["defrag"] is None
    assert f["cpufreq"]["governor"] == "mixed" and f["cpufreq"]["governors"] == {"performance": 1, "powersave": 1}
    rows = dict(platform_rows(f))
    assert rows["CPU id"].startswith("ARM implementer 0x41 part 0xd4f")
    assert rows["cgroup CPU limit"] == "1.5 CPUs (/sys/fs/cgroup/job/step/cpu.max) (cgroup v2)"
    assert rows["cgroup memory limit"] == "2.0 GiB (/sys/fs/cgroup/job/memory.max) (cgroup v2)"
    json.dumps(f, allow_nan=False)


def test_cgroup_v1_quota_on_a_parent(tmp_path):
    root = _tree(tmp_path, {
        "/proc/self/cgroup": "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n",
        "/proc/self/mountinfo": "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
                                "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
                                "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "-1\n",
        "/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us": "400000\n",
        "/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_period_us": "100000\n",
        "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "9223372036854771712\n",  # none
    })
    cg = platform_facts(root)["cgroup"]
    assert (cg["version"], cg["cpu_limit"], cg["cpu_limit_cpus"]) == (1, "limited", 4.0)
    assert cg["cpu_limit_source"] == "/sys/fs/cgroup/cpu,cpuacct/docker/cpu.cfs_quota_us"
    assert (cg["memory_limit"], cg["memory_limit_bytes"]) == ("none", None)


def test_a_host_missing_every_file_says_unknown(tmp_path):
    f = platform_facts(tmp_path)  # nothing there at all
    json.dumps(f, allow_nan=False)
    assert f["cpu"]["family"] is None and f["cpu"]["microarchitecture"] is None and f["cpu"]["flags"] is None
    assert f["cgroup"]["cpu_limit"] == "unknown" and f["cgroup"]["memory_limit"] == "unknown"
    assert "/proc/cpuinfo" in f["unknown"] and "/sys/kernel/mm/transparent_hugepage/enabled" in f["unknown"]
    rows = platform_rows(f)
    assert len(rows) == 9 and all(text.startswith("unknown") for _, text in rows), rows

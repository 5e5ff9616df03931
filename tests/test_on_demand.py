"""On-demand kernel tracing: `lowprof run --trace kernels --on-demand` arms a torch workload, `lowprof attach PID
--trace kernels` traces windows of it. Real processes, real sockets, real kills; the reference for what a window
holds is the workload's own CLOCK_MONOTONIC stamps around each pass and its own pass counter."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

import lowprof
from tests.conftest import lowprof_cmd, requires, run_cli

pytestmark = requires("torch")

from lowprof.tracers._boot._lowprof_ondemand_agent import runtime_dir, socket_path  # noqa: E402

ENV = {"OMP_NUM_THREADS": "1"}
# Counts its passes and stamps CLOCK_MONOTONIC around each, until the quit file appears.
APP = textwrap.dedent("""
    import os, sys, time
    import torch
    out, quit_file = open(sys.argv[1], "w"), sys.argv[2]
    x = torch.randn(64, 64)
    i = 0
    while not os.path.exists(quit_file):
        t0 = time.monotonic_ns()
        with torch.profiler.record_function(f"pass#{i}"):
            for _ in range(5):
                x = torch.tanh(x @ x)
        out.write(f"pass#{i} {t0} {time.monotonic_ns()}\\n"); out.flush()
        i += 1
        time.sleep(0.005)
""")


class Armed:
    def __init__(self, root):
        self.root = root
        self.run_dir, self.stamps, self.quit = root / "armed", root / "stamps.txt", root / "quit"
        (root / "app.py").write_text(APP)
        self.log = open(root / "run.log", "w+")
        self.proc = subprocess.Popen(lowprof_cmd("run", "--trace", "kernels", "--on-demand", "--out", self.run_dir,
                                                 "--", sys.executable, root / "app.py", self.stamps, self.quit),
                                     stdout=self.log, stderr=subprocess.STDOUT, env=os.environ | ENV)
        deadline = time.monotonic() + 120
        self.pid = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"lowprof run ended: {(root / 'run.log').read_text()}")
            if self.pid is None:
                text = (root / "run.log").read_text()
                if "(pid " in text:
                    self.pid = int(text.split("(pid ", 1)[1].split(")", 1)[0])
            if self.pid and os.path.exists(self.sock) and self.passes():
                return
            time.sleep(0.1)
        self.proc.kill()
        pytest.fail("the armed workload did not start within 120 s")

    @property
    def sock(self) -> str:
        return socket_path(runtime_dir(), self.pid)

    def passes(self) -> dict[str, tuple[int, int]]:
        """The workload's own stamps: pass name -> (monotonic start, end) ns."""
        if not self.stamps.exists():
            return {}
        rows = [ln.split() for ln in self.stamps.read_text().splitlines()]
        return {r[0]: (int(r[1]), int(r[2])) for r in rows if len(r) == 3}

    def log_entries(self) -> list[dict]:
        p = self.run_dir / "kineto" / "segments.jsonl"
        if not p.exists():
            return []
        text = p.read_text()  # the agent may be writing its last line: complete lines only
        return [json.loads(x) for x in text[:text.rfind("\n") + 1].splitlines()]


@pytest.fixture(scope="module")
def armed(tmp_path_factory):
    a = Armed(tmp_path_factory.mktemp("armed"))
    yield a
    a.quit.touch()
    try:
        a.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        a.proc.kill()


def _claim(path: str):
    """Hold the agent's claim from this test, as a second lowprof would."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b'{"op": "claim", "v": 1}\n')
    return s, json.loads(s.makefile().readline())


def _attach(armed, out, *extra):
    return run_cli("attach", str(armed.pid), "--trace", "kernels", "--out", out, *extra, env=ENV)


def _wait_for(cond, what: str, timeout: float = 180):  # a limit for a busy VM, not a measurement
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    pytest.fail(f"{what} did not happen within {timeout} s")


def test_control_channel_is_a_private_unix_socket(armed):
    st, dst = os.stat(armed.sock), os.lstat(os.path.dirname(armed.sock))
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
    assert stat.S_ISDIR(dst.st_mode) and stat.S_IMODE(dst.st_mode) == 0o700 and dst.st_uid == os.getuid()
    assert psutil.Process(armed.pid).net_connections(kind="inet") == []  # no network port, not even loopback
    if os.getuid() == 0:  # another user cannot even connect: the kernel refuses before the agent sees it
        probe = subprocess.run([sys.executable, "-c", "import os, socket, sys; os.setgid(65534); os.setuid(65534); "
                                "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])", armed.sock],
                               capture_output=True, text=True)
        assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr
    assert not (armed.run_dir / "kineto" / "segments.jsonl").exists()  # armed, nothing traced yet
    p = run_cli("attach", str(armed.proc.pid), "--trace", "kernels", "--duration", "1")  # lowprof run's own PID
    assert p.returncode == 1 and f"its child PID {armed.pid} is" in p.stderr, p.stderr


@pytest.mark.slow
def test_two_windows_hold_their_ops_only_while_the_workload_runs_on(armed, tmp_path):
    held, reply = _claim(armed.sock)  # a second request while one is held: refused, one line, no run dir
    assert reply["ok"] is True and reply["pid"] == armed.pid
    p = _attach(armed, tmp_path / "busy", "--duration", "1")
    held.close()
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "being traced already" in p.stderr and not (tmp_path / "busy").exists()

    windows = []
    for k in range(2):
        out = tmp_path / f"w{k}"
        p = _attach(armed, out, "--duration", "1")
        assert p.returncode == 0, p.stderr
        windows.append(lowprof.load(out))
    stamps = armed.passes()
    for run in windows:
        w = run.manifest["trace"]["window"]
        assert run.manifest["trace"]["mode"] == "on-demand" and w["ended_by"] == "duration"
        origin = run.manifest["clock"]["origin_monotonic_ns"]
        ops, steps = run["ops"], run["steps"]
        assert len(ops) > 0
        assert (ops.start_ns >= w["start_ns"]).all() and (ops.end_ns <= w["end_ns"]).all()
        # The passes traced are the workload's own, on its clock: every pass it stamped wholly inside the
        # window is there, and nothing else (50 µs slack for Kineto's fitted TSC rate).
        inside = {n for n, (a, b) in stamps.items() if w["start_ns"] <= a - origin and b - origin <= w["end_ns"]}
        traced = set(steps.name)
        assert inside <= traced and len(inside) >= 2
        for s in steps.itertuples():
            a, b = stamps[s.name]
            assert a - origin - 50_000 <= s.start_ns <= s.end_ns <= b - origin + 50_000
        # Its counter never stopped: the traced passes are consecutive and the counter went on afterwards.
        numbers = sorted(int(n.split("#")[1]) for n in traced)
        assert numbers == list(range(numbers[0], numbers[-1] + 1))
        assert f"pass#{numbers[-1] + 1}" in stamps
        assert run.manifest["probes"]["system"]["status"] == "ok"
        spy = run.manifest["probes"]["pystacks"]
        if spy["status"] == "ok":  # py-spy may attach here: the window has the workload's stacks too
            assert len(run["pystacks"]) > 0 and any("app.py" in s for s in run["pystacks"]["stack"])
        else:
            assert spy["status"] == "unavailable" and spy["reason"]
    a, b = (r.manifest["trace"]["window"] for r in windows)
    assert a["window"] + 1 == b["window"]


def test_lowprof_killed_mid_window_closes_the_session_and_the_workload_runs_on(armed, tmp_path):
    before = {e.get("window") for e in armed.log_entries() if e["event"] == "start"}
    p = subprocess.Popen(lowprof_cmd("attach", armed.pid, "--trace", "kernels", "--duration", "600", "--no-stacks",
                                     "--out", tmp_path / "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # the entry, not its window number: window 0 (this test run alone) is falsy
        n = _wait_for(lambda: next((e for e in armed.log_entries()
                                    if e["event"] == "start" and e.get("window") not in before), None),
                      "a window start")["window"]
    finally:  # never left holding the agent's claim for the next test
        p.kill()
        p.wait()
    killed_at = time.monotonic_ns()
    seg = _wait_for(lambda: next((e for e in armed.log_entries() if e["event"] == "segment" and e["window"] == n), None),
                    "the agent closing the window")
    assert "lowprof" in seg["why"], seg  # closed because lowprof went away, not by a duration
    # The window was closed by the agent on its own; the workload went on counting after it.
    _wait_for(lambda: any(a > max(seg["end_monotonic_ns"], killed_at) for a, _ in armed.passes().values()),
              "a pass after the window")
    s, reply = _claim(armed.sock)  # and the agent takes a new request
    s.close()
    assert reply["ok"] is True and reply["window"] == n + 1


def test_unarmed_process_gets_one_line_saying_how_to_arm_it(tmp_path):
    torch_app = subprocess.Popen([sys.executable, "-c", "import torch, time; print('ready', flush=True); time.sleep(120)"],
                                 stdout=subprocess.PIPE, text=True, env=os.environ | ENV | {"KINETO_USE_DAEMON": "1"})
    plain = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        p = run_cli("attach", str(plain.pid), "--trace", "kernels", "--duration", "1", "--out", tmp_path / "a")
        assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert "not started armed" in p.stderr and "lowprof run --trace kernels --on-demand" in p.stderr
        assert "Kineto" not in p.stderr and not (tmp_path / "a").exists()
        assert torch_app.stdout.readline().strip() == "ready"
        p = run_cli("attach", str(torch_app.pid), "--trace", "kernels", "--duration", "1", "--out", tmp_path / "b")
        assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert f"dyno gputrace --pids {torch_app.pid}" in p.stderr and "KINETO_USE_DAEMON=1" in p.stderr
    finally:
        for q in (torch_app, plain):
            q.kill()
            q.wait()


def test_workload_exiting_mid_window_keeps_what_was_traced(armed, tmp_path):
    """Last: this one ends the armed workload."""
    out = tmp_path / "last"
    before = {e.get("window") for e in armed.log_entries() if e["event"] == "start"}
    p = subprocess.Popen(lowprof_cmd("attach", armed.pid, "--trace", "kernels", "--duration", "600", "--no-stacks",
                                     "--out", out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: any(e["event"] == "start" and e.get("window") not in before for e in armed.log_entries()),
              "a window start")
    time.sleep(0.3)
    armed.quit.touch()
    _, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr
    run = lowprof.load(out)
    w = run.manifest["trace"]["window"]
    assert w["ended_by"] == "the workload exited" and run.manifest["workload"]["attach_ended_by"] == "process exited"
    ops = run["ops"]
    assert len(ops) > 0 and (ops.start_ns >= w["start_ns"]).all() and (ops.end_ns <= w["end_ns"]).all()
    assert armed.proc.wait(timeout=60) == 0
    # The armed run holds every window on its own clock, the killed lowprof's window included.
    whole = lowprof.load(armed.run_dir)
    listed = whole.manifest["trace"]["on_demand"]["windows"]
    assert [x["window"] for x in listed] == list(range(len(listed))) and whole.manifest["trace"]["on_demand"]["windows_lost"] == 0
    assert set(run["steps"].name) <= set(whole["steps"].name)
    assert not os.path.exists(armed.sock)

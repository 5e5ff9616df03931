"""``lowprof sweep --param NAME=V1,V2 -- CMD ... {NAME}``: one ``lowprof run`` per value, into one sweep folder.

Layout (read by ``lowprof bound SWEEP``)::

    SWEEP/sweep.json    {"schema": 1, "kind": "sweep", "params": ["batch"], "command": [argv template],
                         "runs": [{"params": {"batch": "8"}, "dir": "batch=8", "exit_code": 0}, ...]}
    SWEEP/<dir>/        an ordinary run directory (plus output.log: the workload's stdout+stderr)

``sweep.json`` is rewritten (atomically) after every run, so a sweep cut short stays readable.
Several ``--param`` give their cartesian product, first one outermost. Each run also gets
``LOWPROF_PARAM_<NAME>=<value>`` in its environment.

Ctrl-C (SIGINT) stops the sweep after the running point: the point's workload gets one SIGINT (through
its ``lowprof run``, which records to the end), ``runs`` keeps the points that finished, and sweep.json
gains ``"status": "interrupted"``, ``"interrupted": {"params", "dir", "state"}`` (the point cut short:
its run directory is kept, its manifest status set to ``interrupted`` so that it loads as INCOMPLETE;
``state`` is ``incomplete``, or ``not started`` when no run directory was made) and ``"not_run"`` (the
points never started). A second Ctrl-C stops at once: the point's ``lowprof run`` and workload are
killed (SIGKILL). The exit status is 130 either way. SIGTERM and SIGHUP to the sweep do the same as
the first Ctrl-C (forwarded as themselves; exit status 128 + the signal).
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import signal
import sys
import time
from pathlib import Path

from lowprof.cli._common import add_feature_options, feature_argv, feature_values
from lowprof.cli._ui import err, note, out, print_json, table
from lowprof.errors import LowprofError, RunDirError

TYPE_CHECKING = False  # subprocess, json and the launcher are imported where used: `lowprof --help` stays light
if TYPE_CHECKING:
    import subprocess

HELP = "run a command once per parameter value (cartesian product) into one sweep folder"
EXAMPLES = """lowprof sweep --param batch=1,2,4,8,16,32,64,128 --trace kernels -- python -m lowprof.workloads.prefill --batch {batch}
lowprof sweep --param batch=1,8 --param seq=128,512 --out runs/s -- python app.py --bs {batch} --seq {seq}
lowprof sweep --param n=1,2 --json -- sh -c 'echo "$LOWPROF_PARAM_N"'   (in shell code, take values from the environment)"""

SCHEMA = 1  # 1 (2026-11-25): first version; (2026-12-02) optional status/interrupted/not_run of an interrupted
#             sweep (readers that ignore them read the finished points, which is what `runs` lists)
SWEEP_FILE = "sweep.json"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_param(text: str) -> tuple[str, list[str]]:
    """``"batch=1,2,4"`` -> ``("batch", ["1", "2", "4"])``; raises LowprofError quoting bad input."""
    name, eq, values = text.partition("=")
    name = name.strip()
    if not eq or not _NAME.match(name):
        raise LowprofError(f"--param {text!r}: expected NAME=V1,V2,... with NAME an identifier")
    vals = [v.strip() for v in values.split(",")]
    if not values.strip() or any(not v for v in vals):
        raise LowprofError(f"--param {text!r}: empty value in the list")
    bad = [v for v in vals if "/" in v or v in (".", "..")]
    if bad:
        raise LowprofError(f"--param {text!r}: value {bad[0]!r} cannot name a folder")
    if len(set(vals)) != len(vals):
        raise LowprofError(f"--param {text!r}: repeated value")
    return name, vals


def expand(params: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """Cartesian product of the parameter lists, first parameter outermost."""
    names = [n for n, _ in params]
    return [dict(zip(names, combo)) for combo in itertools.product(*(v for _, v in params))]


def substitute(template: list[str], values: dict[str, str]) -> list[str]:
    """Replace ``{name}`` for the swept names only (other braces are left alone), in one pass: a value
    is never searched again, so ``a={b}`` stays ``{b}`` whatever ``b`` is. No shell is involved."""
    if not values:
        return list(template)
    pattern = re.compile("|".join(re.escape("{" + k + "}") for k in sorted(values, key=len, reverse=True)))
    return [pattern.sub(lambda m: values[m.group(0)[1:-1]], arg) for arg in template]


_SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "fish")


def spliced_into_shell_code(template: list[str], names: list[str]) -> list[str]:
    """The swept names whose ``{name}`` sits in the script of ``sh -c SCRIPT`` (the value becomes code)."""
    for i, arg in enumerate(template[:-1]):
        if Path(arg).name in _SHELLS and template[i + 1] == "-c" and i + 2 < len(template):
            return [n for n in names if "{" + n + "}" in template[i + 2]]
    return []


def run_dir_name(values: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items())


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--param", "-p", action="append", required=True, metavar="NAME=V1,V2,...",
                   help="a swept parameter; {NAME} in the command is replaced by each value (repeatable)")
    p.add_argument("--out", "-o", metavar="SWEEP", help="sweep folder (default: a new folder under ./lowprof-runs/)")
    p.add_argument("--force", action="store_true",
                   help="replace --out if it is an earlier sweep folder (never any other folder)")
    p.add_argument("--probes", metavar="LIST", help="passed to each `lowprof run`")
    p.add_argument("--interval", type=float, metavar="S", help="passed to each `lowprof run`")
    add_feature_options(p, "sweep")  # --trace, --stacks, --allocator...: passed to each `lowprof run`
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary, only errors")
    p.add_argument("--json", action="store_true", help="print sweep.json at the end instead of a table")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS...",
                   help="the workload; {NAME} marks where each value goes")


def _check_replaceable(sweep: Path) -> None:
    """What ``--force`` may delete: a sweep folder holding only what lowprof sweep writes (sweep.json,
    run directories, their .<dir>.log); anything else is refused with one line and kept."""
    from lowprof.rundir.manifest import is_run_dir
    from lowprof.rundir.many import read_sweep

    if not (sweep / SWEEP_FILE).is_file():
        raise RunDirError(f"{sweep}: not a sweep folder (no {SWEEP_FILE}); --force only replaces a sweep")
    try:
        read_sweep(sweep)
    except RunDirError as e:
        raise RunDirError(f"{sweep}: not a lowprof sweep ({str(e).splitlines()[0]}); --force only replaces a sweep") from None
    for entry in sweep.iterdir():
        ours = entry.name in (SWEEP_FILE, SWEEP_FILE + ".tmp") or (entry.name.startswith(".") and entry.name.endswith(".log")) \
            or (entry.is_dir() and not entry.is_symlink() and is_run_dir(entry))
        if not ours:
            raise RunDirError(f"{sweep}: holds {entry.name!r}, which lowprof sweep did not write; --force only "
                              f"replaces a sweep folder, never anything else in it")


def _write(path: Path, doc: dict) -> None:
    import json

    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)


def _run_args(args) -> list[str]:
    """The flags each point's ``lowprof run`` gets: --probes, --interval and the features' flags that were given."""
    extra = []
    for flag in ("probes", "interval"):
        v = getattr(args, flag)
        if v is not None:
            extra += ["--" + flag, str(v)]
    return extra + feature_argv(args, "sweep")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupts:
    """SIGINT (Ctrl-C), SIGTERM or SIGHUP during a sweep: the first is forwarded once to the running point
    (its own process group, so a terminal's Ctrl-C reaches it only this way) and the sweep stops after
    it; the second kills the point's ``lowprof run`` and everything it started (SIGKILL), at once."""

    def __init__(self) -> None:
        self.count = 0
        self.first: int | None = None  # the first signal's number
        self.proc: subprocess.Popen | None = None
        self._old: dict = {}

    def __enter__(self) -> "Interrupts":
        self._old = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _on_signal(self, signum, _frame) -> None:
        self.count += 1
        if self.first is None:
            self.first = signum
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        if self.count == 1:
            _signal_group(proc.pid, signum)
        else:
            kill_tree(proc.pid)

    @property
    def name(self) -> str:
        """How the first signal is named to the user."""
        return "Ctrl-C" if self.first in (None, signal.SIGINT) else signal.Signals(self.first).name

    @property
    def status(self) -> int:
        """The sweep's exit status: 128 + the first signal (130 for Ctrl-C)."""
        return 128 + int(self.first or signal.SIGINT)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (pid -> [child pids])."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``'s process group and the groups of all its descendants (a workload runs in a group
    of its own); the groups are listed before anything is killed, so a descendant whose parent dies first
    is still found."""
    kids, groups, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        try:
            g = os.getpgid(p)
        except ProcessLookupError:
            continue
        if g not in groups and g != os.getpgrp():
            groups.append(g)
        todo += kids.get(p, [])
    for g in groups:
        _signal_group(g, signal.SIGKILL)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _one(sweep: Path, values: dict[str, str], template: list[str], extra: list[str],
         stop: Interrupts, said: list[int]) -> tuple[int, float]:
    """``lowprof run`` for one point; the workload's output goes to ``<dir>/output.log``. Returns (status, s).
    ``said``: how many Ctrl-C have been acknowledged on stderr (updated)."""
    import subprocess

    d = sweep / run_dir_name(values)
    log = sweep / f".{d.name}.log"
    cmd = [sys.executable, "-m", "lowprof", "run", "--out", str(d), "--force", "--quiet", *extra, "--",
           *substitute(template, values)]
    env = os.environ | {f"LOWPROF_PARAM_{k.upper()}": v for k, v in values.items()}
    t0 = time.monotonic()
    with open(log, "wb") as f:
        stop.proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                     process_group=0)
        if stop.count:  # Ctrl-C while it was being started
            _signal_group(stop.proc.pid, stop.first) if stop.count == 1 else kill_tree(stop.proc.pid)
        while True:
            try:
                code = stop.proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                _acknowledge(stop, said, d.name)
        stop.proc = None
    _acknowledge(stop, said, d.name)
    if d.is_dir():
        os.replace(log, d / "output.log")
    return code, time.monotonic() - t0


def _acknowledge(stop: Interrupts, said: list[int], point: str) -> None:
    if stop.count >= 1 and said[0] < 1:
        err.print(f"lowprof: {stop.name}: stopping after point {point} (its workload got "
                  f"{signal.Signals(stop.first).name}); Ctrl-C again stops at once")
    if stop.count >= 2 and said[0] < 2:
        err.print(f"lowprof: second {'Ctrl-C' if stop.name == 'Ctrl-C' else 'signal'}: point {point} killed")
    said[0] = max(said[0], min(stop.count, 2))


def _mark_interrupted(d: Path, how: str) -> str:
    """The point cut short: its manifest's status becomes ``interrupted`` (it loads as INCOMPLETE).
    Returns the point's state for sweep.json (``incomplete``, or ``not started`` without a run dir)."""
    from lowprof.rundir.manifest import read_manifest, write_manifest

    if not d.is_dir():
        return "not started"
    try:
        m = read_manifest(d)
    except Exception:  # noqa: BLE001 - a half-written run directory: it loads as INCOMPLETE already
        return "incomplete"
    m["status"] = "interrupted"
    m["interrupted"] = how
    write_manifest(d, m)
    return "incomplete"


def main(args) -> int:
    from lowprof.spawn import Workload

    template = list(args.command)
    if template and template[0] == "--":
        template = template[1:]
    if not template:
        err.print("lowprof sweep: error: no command given (usage: lowprof sweep --param N=V1,V2 -- CMD ... {N})")
        return 2
    params = [parse_param(t) for t in args.param]
    names = [n for n, _ in params]
    if len(set(names)) != len(names):
        raise LowprofError(f"--param: {names} names a parameter twice")
    if "{" not in template[0] and Workload.resolve(template[0]) is None:  # said once, not once per run
        raise LowprofError(f"{template[0]}: command not found (or not an executable file)")
    # a bad combination of the features' flags: said once, before any point runs
    from lowprof.record import FeatureRecorders, RecordingOptions

    FeatureRecorders(RecordingOptions(verb="sweep", features=feature_values(args, "sweep"))).check()
    from lowprof.cli._common import check_out_dir

    if args.out and not os.path.lexists(args.out):  # an existing one: checked below, --force included
        check_out_dir(args.out)
    unused = [n for n in names if not any("{" + n + "}" in a for a in template)]
    if unused:
        note(f"{', '.join('{' + n + '}' for n in unused)} not in the command; "
             f"the value reaches it only as $LOWPROF_PARAM_{unused[0].upper()}", args.quiet)
    for n in spliced_into_shell_code(template, names):
        note(f"{{{n}}} is spliced into shell code: a value with ; $ or spaces runs as code; "
             f"prefer \"$LOWPROF_PARAM_{n.upper()}\" in the script", args.quiet)
    from lowprof.record import default_out_dir

    sweep = Path(args.out) if args.out else default_out_dir("sweep-" + "-".join(names))
    if sweep.exists() and (not sweep.is_dir() or (any(sweep.iterdir()) and not args.force)):
        raise RunDirError(f"{sweep}: exists and is not empty (use --force to replace an earlier sweep)")
    if args.force and sweep.is_dir() and any(sweep.iterdir()):
        _check_replaceable(sweep)
        import shutil

        shutil.rmtree(sweep)
    sweep.mkdir(parents=True, exist_ok=True)
    doc = {"schema": SCHEMA, "kind": "sweep", "params": names, "command": template, "runs": []}
    _write(sweep / SWEEP_FILE, doc)
    points = expand(params)
    extra = _run_args(args)
    walls = []
    cut: dict | None = None  # the point cut short by Ctrl-C (or by a workload's own SIGINT)
    said = [0]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Interrupts() as stop, Progress(TextColumn("sweep {task.description}", markup=False), BarColumn(),
                                        MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                                        disable=args.quiet, transient=True) as bar:
        task = bar.add_task("", total=len(points))
        for values in points:
            if stop.count:
                break
            bar.update(task, description=run_dir_name(values))
            code, wall = _one(sweep, values, template, extra, stop, said)
            entry = {"params": values, "dir": run_dir_name(values)}
            if code == 130 or (stop.count and code != 0):  # SIGINT reached the workload: the point is cut short
                how = ("lowprof sweep: a second Ctrl-C killed the point" if stop.count >= 2 else
                       f"lowprof sweep: {stop.name} ({signal.Signals(stop.first or signal.SIGINT).name}) stopped "
                       "the workload before it finished")
                cut = entry | {"state": _mark_interrupted(sweep / entry["dir"], how), "exit_code": code}
                break
            doc["runs"].append(entry | {"exit_code": code})
            walls.append(wall)
            _write(sweep / SWEEP_FILE, doc)
            bar.advance(task)
    interrupted = cut is not None or stop.count > 0
    if interrupted:
        done = {r["dir"] for r in doc["runs"]} | ({cut["dir"]} if cut else set())
        doc["status"] = "interrupted"
        doc["interrupted"] = cut
        doc["not_run"] = [{"params": v, "dir": run_dir_name(v)} for v in points if run_dir_name(v) not in done]
        _write(sweep / SWEEP_FILE, doc)
    failed = [r for r in doc["runs"] if r["exit_code"] != 0]
    if args.json:
        print_json(doc)
    elif not args.quiet:
        rows = [[r["dir"], r["exit_code"], f"{w:.2f}"] for r, w in zip(doc["runs"], walls)]
        out.print(table(f"sweep {sweep}", ["run", "exit code", "wall s"], rows, right={1, 2}))
        note(f"{len(doc['runs'])} runs, {len(failed)} failed; see: lowprof bound {sweep}")
    if interrupted:  # said even with --quiet: the sweep is not what was asked for
        ran = ", ".join(f"{r['dir']} (exit {r['exit_code']})" for r in doc["runs"]) or "none"
        parts = [f"lowprof: sweep interrupted{'' if stop.name == 'Ctrl-C' else ' by ' + stop.name}: ran {ran}"]
        if cut:
            parts.append(f"cut short: {cut['dir']} (" + (f"run directory kept, marked INCOMPLETE: {sweep / cut['dir']}"
                         if cut["state"] == "incomplete" else "no run directory") + ")")
        parts.append("not run: " + (", ".join(r["dir"] for r in doc["not_run"]) or "none"))
        err.print("; ".join(parts))
        return stop.status
    return 1 if failed else 0

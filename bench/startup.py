"""Start-up of the ``lowprof`` command line, measured side by side with ``python -c pass`` in one run.

Each round starts, in a shuffled order, one fresh process per command below; the figure printed is the median
over the rounds, in seconds and as a ratio to ``python -c pass`` measured in the same rounds (the ratio is
what compares across machines and loads). A second, in-process pass counts the modules each command imports
and names the heavy ones (pandas, pyarrow, numpy, rich, psutil, matplotlib) it pulls in.

  pass           python -c pass
  parser         python -c "import lowprof.cli; lowprof.cli.build_parser()"   (every verb's options)
  lowprof --help the console script (else python -m lowprof)
  VERB --help    each verb, bench's suites included

It asserts nothing (tests/test_cli_startup.py asserts the imports, which cannot flake).

    python bench/startup.py [--rounds 7] [--only report,run]

Issue 16 asks for ``lowprof --help`` within 0.15 s and each analysis verb's start-up within 0.3 s. Figures
on the 2-core VM of issue 16, busy (load ~8: eight sessions shared it), 2026-12-02, medians:

  main before (1e1029f), 5 rounds   python -c pass 0.110 s; lowprof --help 2.41 s (21.9x pass); report --help
                                    2.78 s (25x); run --help 2.55 s (23x); every command 771 modules, pandas,
                                    pyarrow, numpy, rich and psutil among them (on the quiet VM: --help 0.69 s)
  branch cli, 7 rounds              python -c pass 0.139 s; lowprof --help 0.188 s (1.4x pass); every analysis
                                    verb's --help and bench's suites 1.2-1.6x, 111 modules, none heavy;
                                    run --help 17.6x and attach --help 7.1x (676 / 279 modules: the recording
                                    flags still come from the probes and the recorder)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("pandas", "pyarrow", "numpy", "rich", "psutil", "matplotlib")


def _lowprof() -> list[str]:
    """How a user starts lowprof: the console script beside this interpreter, else ``python -m lowprof``."""
    script = Path(sys.executable).parent / "lowprof"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("lowprof")
    return [found] if found else [sys.executable, "-m", "lowprof"]


def _verbs() -> list[list[str]]:
    """Every verb's words (``['report']``, ``['bench', 'gpu']``...), read from the parser itself."""
    import lowprof.cli as cli
    from lowprof.cli import bench

    words = []
    for name in getattr(cli, "VERBS", None) or cli.COMMANDS:  # COMMANDS: main before issue 16
        words.append([name])
        if name == "bench":
            words += [["bench", s] for s in bench.SUITES]
    return words


def _commands(only: set[str] | None) -> dict[str, tuple[list[str], str]]:
    """label -> (argv to time, Python code that does the same in-process, for the module count)."""
    lp = _lowprof()
    count = "import sys; print(len(sys.modules), ','.join(m for m in {heavy} if m in sys.modules))".format(heavy=HEAVY)
    cmds = {
        "python -c pass": ([sys.executable, "-c", "pass"], count),
        "build_parser()": ([sys.executable, "-c", "import lowprof.cli; lowprof.cli.build_parser()"],
                           "import lowprof.cli; lowprof.cli.build_parser(); " + count),
        "lowprof --help": ([*lp, "--help"], _in_process([]) + count),
    }
    for words in _verbs():
        if only and words[0] not in only and " ".join(words) not in only:
            continue
        cmds[f"lowprof {' '.join(words)} --help"] = ([*lp, *words, "--help"], _in_process(words) + count)
    return cmds


def _in_process(words: list[str]) -> str:
    return ("import contextlib, io\nfrom lowprof.cli import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    try:\n        main({[*words, '--help']!r})\n"
            "    except SystemExit:\n        pass\n")


def _time(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="fresh processes per command (default 7); the median is shown")
    ap.add_argument("--only", default=None, help="comma-separated verbs (default: every verb)")
    a = ap.parse_args()
    cmds = _commands(set(a.only.split(",")) if a.only else None)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(a.rounds):  # interleaved: a change of load touches every command alike
        order = list(cmds)
        random.shuffle(order)
        for k in order:
            times[k].append(_time(cmds[k][0]))
    base = statistics.median(times["python -c pass"])
    print(f"lowprof start-up, median of {a.rounds} fresh processes each ({os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}); ratio = time / python -c pass ({base:.3f} s)")
    print(f"{'command':34} {'median s':>9} {'ratio':>7} {'min s':>7} {'modules':>8}  heavy modules imported")
    for k, (_, code) in cmds.items():
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        last = (p.stdout.strip().splitlines() or ["? "])[-1].split(" ", 1)
        n, heavy = last[0], (last[1] if len(last) > 1 else "")
        med = statistics.median(times[k])
        print(f"{k:34} {med:9.3f} {med / base:7.1f} {min(times[k]):7.3f} {n:>8}  {heavy or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``lowprof`` command line: a few verbs, each one module with ``add_arguments`` and ``main``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping

from lowprof.errors import LowprofError

# The verbs: each module is light at import (stdlib, argparse, light lowprof modules; pandas, pyarrow, numpy,
# rich, psutil and the recorders are imported by its main()) and defines HELP, EXAMPLES, add_arguments(p) and
# main(args). VERBS imports a verb's module when it is looked up: `lowprof import ...` pays for one verb.
__all__ = ["main", "build_parser", "VERBS", "COMMANDS", "guarded", "OneLineParser"]

# The verbs' names, in the order --help lists them; a verb is the module lowprof.cli.<name> ("import": import_).
_NAMES: tuple[str, ...] = (
    # record
    "run", "attach", "sweep", "import", "bench",
    # report one run
    "report", "launches", "kernels", "bound", "power", "ipw", "stacks",
    # across runs, and out
    "compare", "query", "plot", "export",
    "info",
)


class _Verbs(Mapping):
    """name -> the verb's module (``lowprof.cli.<name>``), imported on first lookup."""

    def __getitem__(self, verb: str):
        if verb not in _NAMES:
            raise KeyError(verb)
        return importlib.import_module(f"lowprof.cli.{verb}_" if verb == "import" else f"lowprof.cli.{verb}")

    def __contains__(self, verb: object) -> bool:  # (Mapping's would import the module)
        return verb in _NAMES

    def __iter__(self):
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)


VERBS: Mapping = _Verbs()
COMMANDS: list[str] = list(VERBS)  # the verbs' names


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (``PROG: error: ...; see PROG --help``), exit 2."""

    def _get_values(self, action, arg_strings):
        # An empty value is never meant (`--out ""` would fall back to the default, silently); a
        # workload's own arguments after `--` are its business.
        if action.nargs not in (argparse.REMAINDER, argparse.PARSER) and "" in arg_strings:
            name = "/".join(action.option_strings) or action.metavar or action.dest
            self.error(f"argument {name}: an empty value")
        return super()._get_values(action, arg_strings)

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def _one_line(e: BaseException) -> str:
    """An unexpected exception as one line: an OSError names its file and the system's reason."""
    if isinstance(e, OSError):
        where = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 else "") if e.filename else ""
        return f"{where}: {e.strerror}" if where and e.strerror else f"{type(e).__name__}: {e}"
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


def guarded(fn, *a) -> int:
    """Call ``fn(*a)`` and turn every failure into one line on stderr and a non-zero exit (never a
    traceback; LOWPROF_TRACEBACK=1 shows one, for a bug report)."""
    try:
        return int(fn(*a) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `lowprof report DIR --json | head`
        sys.stderr.close()
        return 0
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - the last line of defence of a command-line tool
        if os.environ.get("LOWPROF_TRACEBACK"):
            raise
        from rich.text import Text

        from lowprof.cli._ui import err

        if isinstance(e, LowprofError):
            msg, code = str(e), e.exit_code
        else:  # not raised on purpose: still one line, marked so that it gets reported
            msg, code = " ".join(_one_line(e).split()) + ("" if isinstance(e, OSError) else
                                        " (an unexpected error: please report it, with LOWPROF_TRACEBACK=1)"), 1
        err.print(Text.assemble(("lowprof: error: ", "bold red"), msg or type(e).__name__))
        return code


def build_parser(only: str | None = None, alone: bool = False) -> argparse.ArgumentParser:
    """The whole command line. ``only``: build the options of that verb alone (the others get their name and
    help, all that ``lowprof --help`` shows); ``""``: of none. ``alone`` (with ``only``): leave the other verbs
    out, and the top-level epilog, for an argv that starts with that verb (nothing of the top-level parser but
    the verb's name is then used; the verb's own parser is the same). main() builds what argv names, so that
    start-up pays for one verb's module and flags."""
    from lowprof import __version__

    solo = bool(alone and only)
    verbs = {only: VERBS[only]} if solo else VERBS
    epilog = None if solo else "examples:\n" + "\n".join(f"  {m.EXAMPLES.splitlines()[0]}" for m in VERBS.values())
    parser = OneLineParser(
        prog="lowprof",
        description="Low-level profiling and hardware characterisation for GPU workloads.",
        epilog=epilog and epilog + "\n\nRun 'lowprof VERB --help' for a verb's options and more examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lowprof {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs", parser_class=OneLineParser)
    for verb, mod in verbs.items():
        p = sub.add_parser(verb, help=mod.HELP.replace("%", "%%"), description=mod.HELP,  # help is %-formatted
                           epilog="examples:\n" + "\n".join(f"  {e}" for e in mod.EXAMPLES.splitlines()),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if only is None or verb == only:
            mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def _verb_of(argv: list[str]) -> str:
    """The verb argv names (its first word that is no option), or "" when none does."""
    for a in map(str, argv):
        if a == "--":
            break
        if not a.startswith("-"):
            return a if a in VERBS else ""
    return ""


def main(argv: list[str] | None = None) -> int:
    """The program (``argv`` None: ``sys.argv``, and a verb whose module sets ``QUICK_EXIT`` ends the process
    here, see :func:`_quick_exit`); with ``argv``, a call that returns the exit status."""
    program = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    verb = _verb_of(argv)
    parser = build_parser(only=verb, alone=bool(verb) and str(argv[0]) == verb)
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 2
    code = guarded(args._main, args)
    if program and getattr(VERBS[args.verb], "QUICK_EXIT", False):
        _quick_exit(code)
    return code


def _quick_exit(code: int) -> None:
    """End the process now with ``code``: output flushed and the atexit functions run, as at a normal exit, but
    without the interpreter's teardown (freeing every module and object: ~30 ms after an import). Returns
    (a normal exit follows) when another non-daemon thread runs, or when flushing fails (a closed pipe: the
    normal exit reports it)."""
    import atexit
    import threading

    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    atexit._run_exitfuncs()
    os._exit(code)

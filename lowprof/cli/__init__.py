"""The ``lowprof`` command line: a few verbs, each one module with ``add_arguments`` and ``main``."""

from __future__ import annotations

import argparse
import importlib
import keyword
import sys

from lowprof.errors import LowprofError

__all__ = ["main", "build_parser", "COMMANDS", "guarded", "OneLineParser"]

# Verb modules, in the order --help lists them. Each defines HELP, EXAMPLES, add_arguments(p), main(args).
COMMANDS: list[str] = [
    # record
    "run", "attach", "sweep", "import", "bench",
    # report one run
    "report", "launches", "kernels", "bound", "power", "ipw",
    "stacks",
    # across runs, and out
    "compare", "query", "plot", "export",
    "info",
]


def _module(verb: str):
    name = verb.replace("-", "_")
    if keyword.iskeyword(name):  # `lowprof import` lives in lowprof/cli/import_.py
        name += "_"
    return importlib.import_module(f"lowprof.cli.{name}")


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
    import os

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


def build_parser() -> argparse.ArgumentParser:
    from lowprof import __version__

    mods = {v: _module(v) for v in COMMANDS}
    epilog = "examples:\n" + "\n".join(f"  {m.EXAMPLES.splitlines()[0]}" for m in mods.values())
    parser = OneLineParser(
        prog="lowprof",
        description="Low-level profiling and hardware characterisation for GPU workloads.",
        epilog=epilog + "\n\nRun 'lowprof VERB --help' for a verb's options and more examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lowprof {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs", parser_class=OneLineParser)
    for verb, mod in mods.items():
        p = sub.add_parser(verb, help=mod.HELP.replace("%", "%%"), description=mod.HELP,  # help is %-formatted
                           epilog="examples:\n" + "\n".join(f"  {e}" for e in mod.EXAMPLES.splitlines()),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 2
    return guarded(args._main, args)

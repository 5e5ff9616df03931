"""The ``lowprof`` command line: a few verbs, each one module with ``add_arguments`` and ``main``."""

from __future__ import annotations

import argparse
import importlib
import keyword
import sys

from lowprof.errors import LowprofError

__all__ = ["main", "build_parser", "COMMANDS"]

# Verb modules, in the order --help lists them. Each defines HELP, EXAMPLES, add_arguments(p), main(args).
COMMANDS: list[str] = [
    # record
    "run", "attach", "sweep", "import", "bench",
    # report one run
    "report", "launches", "bound", "power", "ipw",
    # across runs, and out
    "compare", "plot", "export",
    "info",
]


def _module(verb: str):
    name = verb.replace("-", "_")
    if keyword.iskeyword(name):  # `lowprof import` lives in lowprof/cli/import_.py
        name += "_"
    return importlib.import_module(f"lowprof.cli.{name}")


def build_parser() -> argparse.ArgumentParser:
    from lowprof import __version__

    mods = {v: _module(v) for v in COMMANDS}
    epilog = "examples:\n" + "\n".join(f"  {m.EXAMPLES.splitlines()[0]}" for m in mods.values())
    parser = argparse.ArgumentParser(
        prog="lowprof",
        description="Low-level profiling and hardware characterisation for GPU workloads.",
        epilog=epilog + "\n\nRun 'lowprof VERB --help' for a verb's options and more examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lowprof {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", title="verbs")
    for verb, mod in mods.items():
        p = sub.add_parser(verb, help=mod.HELP, description=mod.HELP,
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
    try:
        return int(args._main(args) or 0)
    except LowprofError as e:
        from rich.markup import escape

        from lowprof.cli._ui import err

        err.print(f"[bold red]lowprof: error:[/] {escape(str(e))}")
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `lowprof report DIR --json | head`
        sys.stderr.close()
        return 0

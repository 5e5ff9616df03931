"""The two consoles lowprof prints on: ``out`` (results, stdout) and ``err`` (chatter, stderr), and ``note``.

Light to import (rich is imported on first print), and below every layer, so that a recorder can say a line
(a trace's warnings, an armed on-demand agent) without importing the command line; :mod:`lowprof.cli._ui`
re-exports them (and :func:`fmt_s`, for a recorder's line) with its table and number helpers.
"""

from __future__ import annotations

import os
import sys

__all__ = ["out", "err", "note", "warn", "fmt_s", "Countdown"]


def _piped_width(stream) -> int | None:
    """Width for output that is not a terminal: wide enough that no table column is squeezed (rich
    would assume 80; tables only take the width they need). A terminal or $COLUMNS decides otherwise."""
    if os.environ.get("COLUMNS") or (hasattr(stream, "isatty") and stream.isatty()):
        return None
    return 250


class _Console:
    """A rich Console made on first use (``lowprof --help`` never imports rich); attributes are the Console's.

    markup=False: a string printed is printed as it is (kernel, phase, path and package names hold brackets:
    `attn[bold]x[/bold]`, `layer[3]`, `lowprof[gpu]`); styling is asked for with Text or print(..., markup=True)
    on a string whose data went through rich.markup.escape."""

    def __init__(self, stderr: bool) -> None:
        self._stderr, self._made = stderr, None

    def _console(self):
        if self._made is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            self._made = Console(stderr=self._stderr, highlight=False, soft_wrap=True, markup=False,
                                 width=_piped_width(stream))
        return self._made

    def __getattr__(self, name: str):
        return getattr(self._console(), name)

    @property
    def is_terminal(self) -> bool:
        """rich's ``Console.is_terminal``; answered without importing rich where :meth:`plain` is True."""
        return False if self.plain else self._console().is_terminal

    @property
    def plain(self) -> bool:
        """Output is plain text, no tty: rich is not made yet and its own rule says no terminal (a stream that is
        no tty, with neither TTY_COMPATIBLE nor FORCE_COLOR set), so it would print text as it is."""
        if self._made is not None or {"TTY_COMPATIBLE", "FORCE_COLOR"} & os.environ.keys():
            return False
        isatty = getattr(self._stream(), "isatty", None)
        try:
            return isatty is None or not isatty()
        except ValueError:  # a closed stream
            return True

    def _stream(self):
        return sys.stderr if self._stderr else sys.stdout

    def print_plain(self, line: str) -> bool:
        """Print ``line`` (styles aside) as rich would, without importing it, where that is the line itself: the
        output is :attr:`plain` and the line is printable text (rich would expand a tab, drop a CR or BEL).
        False (nothing printed) otherwise: the caller prints with rich."""
        if not (line.isprintable() and self.plain):
            return False
        stream = self._stream()
        stream.write(line + "\n")
        stream.flush()
        return True

    def __enter__(self):  # `with console:` (rich's Live does it) looks these up on the type
        return self._console().__enter__()

    def __exit__(self, *exc) -> None:
        self._console().__exit__(*exc)

    def __setattr__(self, name: str, value) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._console(), name, value)


out = _Console(stderr=False)  # results, on stdout
err = _Console(stderr=True)  # chatter, on stderr


def note(msg: str, quiet: bool = False) -> None:
    """A one-line status message on stderr, prefixed with ``lowprof:``; ``msg`` is plain text, never markup."""
    if not quiet and not err.print_plain(f"lowprof: {msg}"):  # to a pipe or a file: rich is not imported
        from rich.text import Text

        err.print(Text.assemble(("lowprof:", "dim"), " ", str(msg)))


def warn(msg: str) -> None:
    """A one-line warning on stderr, ``lowprof: warning: MSG``; ``msg`` is plain text, never markup."""
    from rich.text import Text

    err.print(Text.assemble(("lowprof: warning: ", "yellow"), str(msg)))


def fmt_s(s: float | None) -> str:
    """Seconds with a unit that keeps 3 significant figures (ns to s)."""
    if s is None:
        return "-"
    a = abs(s)
    if a >= 1 or a == 0:
        return f"{s:.3g} s" if a < 1000 else f"{s:.0f} s"
    if a >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    if a >= 1e-6:
        return f"{s * 1e6:.3g} µs"
    return f"{s * 1e9:.3g} ns"


class Countdown:
    """A transient bar on stderr for a window of ``total_s`` seconds (``label``: the words before it); shown only
    with a length, not ``quiet``, and on a terminal (else every call does nothing)."""

    def __init__(self, label: str, total_s: float | None, quiet: bool) -> None:
        self.total_s, self._bar = total_s, None
        if total_s is not None and not quiet and err.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn(label), BarColumn(), TimeRemainingColumn(), console=err, transient=True)
            self._task = self._bar.add_task(label, total=total_s)
            self._bar.start()

    def update(self, elapsed_s: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=min(elapsed_s, self.total_s))

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()

"""``note`` to a pipe or a file prints without importing rich (``lowprof import`` pays no rich import), and
what it prints is, byte for byte, what rich prints there; a line rich would change (a tab, a CR), a terminal,
or FORCE_COLOR / TTY_COMPATIBLE go through rich as before."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

MESSAGES = ["/tmp/t.json.gz -> runs/t (launches: 31264 rows) in 371 ms", "x" * 600, "unicode é ü 中文 µs →",
            "[bold]not markup[/bold] [link]", "emoji :smile:", "  lead and trail  ", "wide 中" * 100,
            "tab\there", "cr\rhere", "bell\x07", "new\nline", "esc \x1b[31mred"]

_CHILD = r"""
import json, sys
from lowprof.console import note
for m in json.loads(sys.argv[1]):
    note(m)
sys.stdout.write(json.dumps("rich" in sys.modules))
"""


def _rich_prints(msg: str) -> str:
    """What rich itself prints for a note on a non-terminal stream (the console lowprof makes)."""
    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    Console(file=buf, stderr=True, highlight=False, soft_wrap=True, markup=False, width=250).print(
        Text.assemble(("lowprof:", "dim"), " ", msg))
    return buf.getvalue()


def _run(messages: list[str], **env: str) -> tuple[str, bool]:
    clean = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    p = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(messages)], capture_output=True, timeout=60,
                       env=clean | env)
    assert p.returncode == 0, p.stderr
    return p.stderr.decode(), json.loads(p.stdout)


def test_note_to_a_pipe_is_richs_output_without_rich():
    printable = [m for m in MESSAGES if m.isprintable()]
    got, imported = _run(printable)
    assert got == "".join(map(_rich_prints, printable))
    assert imported is False


@pytest.mark.parametrize("msg", [m for m in MESSAGES if not m.isprintable()])
def test_a_line_rich_changes_goes_through_rich(msg):
    got, imported = _run([msg])
    assert got == _rich_prints(msg)
    assert imported is True


@pytest.mark.parametrize("env", [{"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1"}, {"TTY_COMPATIBLE": "0"}])
def test_forced_terminal_settings_go_through_rich(env):
    got, imported = _run(["a note"], **env)
    assert imported is True
    assert "a note" in got

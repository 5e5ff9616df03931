"""Import ahead, in a warm interpreter that forks a child per call (tests/_forked.py, tests/test_bad_inputs.py),
what the calls import on first use, so that each child starts with it instead of importing it again."""

from __future__ import annotations

import importlib
import pkgutil


def warm(*modules: str, analyses: bool = False) -> None:
    """Import ``modules``; with ``analyses``, every module of lowprof.analysis too (the metrics' owners, report's
    sections, plots' matplotlib)."""
    for mod in modules:
        importlib.import_module(mod)
    if analyses:
        import lowprof.analysis

        for m in pkgutil.iter_modules(lowprof.analysis.__path__):
            importlib.import_module(f"lowprof.analysis.{m.name}")

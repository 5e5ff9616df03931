"""Every table a run directory can hold, found by scanning lowprof's modules for TableSpec objects.

``python -m lowprof.rundir.catalog`` prints the Markdown that README.md's run-directory section
embeds between ``<!-- tables:begin -->`` and ``<!-- tables:end -->`` (a test keeps them equal).
"""

from __future__ import annotations

import importlib
import pkgutil

import lowprof
from lowprof.rundir.tables import TableSpec

__all__ = ["all_specs", "markdown"]

_SKIP = ("lowprof.__main__", "lowprof.cli", "lowprof.workloads", "lowprof.tracers._boot")  # _boot: sitecustomize hooks


def all_specs() -> dict[str, TableSpec]:
    """Table name -> spec, for every module-level TableSpec in the package (modules that fail to import are skipped)."""
    found: dict[str, TableSpec] = {}
    for mod in pkgutil.walk_packages(lowprof.__path__, "lowprof."):
        if mod.name.startswith(_SKIP) or mod.name.endswith("_build"):
            continue
        try:
            m = importlib.import_module(mod.name)
        except Exception:  # noqa: BLE001 - optional dependencies (GPU) may be missing
            continue
        for v in vars(m).values():
            if isinstance(v, TableSpec) and v.name not in found:
                found[v.name] = v
    return dict(sorted(found.items()))


def markdown() -> str:
    out = []
    for spec in all_specs().values():
        out.append(f"**`{spec.name}`** (version {spec.version}): {spec.doc}\n")
        out.append("| column | type | unit | meaning |\n|---|---|---|---|")
        for c in spec.columns:
            out.append(f"| `{c.name}` | {c.type} | {c.unit or '-'} | {c.doc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())

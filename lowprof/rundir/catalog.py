"""Every table a run directory can hold: the data contract's (:data:`lowprof.rundir.specs.TABLES`) and those of
every feature in :data:`lowprof.features.FEATURES` (tests/test_features.py keeps the two equal).

``python -m lowprof.rundir.catalog`` prints the Markdown that README.md's run-directory section
embeds between ``<!-- tables:begin -->`` and ``<!-- tables:end -->`` (a test keeps them equal).
"""

from __future__ import annotations

from lowprof.rundir.spec import TableSpec

__all__ = ["all_specs", "markdown"]


def all_specs() -> dict[str, TableSpec]:
    """Table name -> spec, sorted by name (one spec per name)."""
    from lowprof.features import FEATURES
    from lowprof.rundir.specs import TABLES

    found: dict[str, TableSpec] = {}
    for spec in (*TABLES, *(t for f in FEATURES for t in f.tables)):
        if found.setdefault(spec.name, spec) != spec:
            raise ValueError(f"table {spec.name!r} is declared twice, differently")
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

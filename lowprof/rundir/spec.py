"""What a table is: :class:`Column` and :class:`TableSpec`, plain data, light to import.

A spec says a table's name, schema version and columns (each with its Arrow type, unit and meaning). The
specs themselves are declared in :mod:`lowprof.rundir.specs`, one module per area; writing and reading the
files is :mod:`lowprof.rundir.tables`. pyarrow is imported only when a schema is asked for
(:meth:`Column.field`, :meth:`TableSpec.schema`), so declaring, listing and describing tables costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Column", "TableSpec", "TYPES", "arrow_type"]

# The column types a spec may name (the keys of the Arrow types below).
TYPES: tuple[str, ...] = ("int64", "int32", "float64", "string", "bool")


def arrow_type(name: str) -> "pa.DataType":
    """The Arrow type of a spec's type name; KeyError for a name not in :data:`TYPES`."""
    import pyarrow as pa

    return {"int64": pa.int64, "int32": pa.int32, "float64": pa.float64, "string": pa.string,
            "bool": pa.bool_}[name]()


@dataclass(frozen=True)
class Column:
    """One column: its name (unit as suffix: ``_ns``, ``_w``, ``_bytes``), Arrow type, unit and meaning."""

    name: str
    type: str
    unit: str = ""
    doc: str = ""

    def field(self) -> "pa.Field":
        import pyarrow as pa

        if self.type not in TYPES:
            raise ValueError(f"column {self.name!r}: unknown type {self.type!r}; use one of {sorted(TYPES)}")
        meta = {"unit": self.unit, "doc": self.doc}
        return pa.field(self.name, arrow_type(self.type), nullable=True, metadata=meta)


@dataclass(frozen=True)
class TableSpec:
    """A table's contract: name, schema version and columns. Bump ``version`` when columns change meaning."""

    name: str
    version: int
    columns: tuple[Column, ...]
    doc: str = ""

    def schema(self) -> "pa.Schema":
        import pyarrow as pa

        return pa.schema([c.field() for c in self.columns],
                         metadata={"lowprof.table": self.name, "lowprof.version": str(self.version)})

    def describe(self) -> dict:
        """The manifest's entry for this table."""
        return {
            "version": self.version,
            "doc": self.doc,
            "columns": {c.name: {"type": c.type, "unit": c.unit, "doc": c.doc} for c in self.columns},
        }

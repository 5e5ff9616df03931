"""A table's declaration: :class:`Column` and :class:`TableSpec`, light to import (no pyarrow until a
schema is asked for), so that every feature can declare its tables where its code is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Column", "TableSpec", "TYPES"]

TYPES = ("int64", "int32", "float64", "string", "bool")  # the column types a table may declare


def _arrow_type(name: str):
    import pyarrow as pa

    return {"int64": pa.int64(), "int32": pa.int32(), "float64": pa.float64(), "string": pa.string(),
            "bool": pa.bool_()}[name]


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
        return pa.field(self.name, _arrow_type(self.type), nullable=True, metadata=meta)


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

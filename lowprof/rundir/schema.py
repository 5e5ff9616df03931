"""The declared shapes of ``manifest.json`` (derived from :mod:`lowprof.rundir.sections`), ``sweep.json`` and
``job.json``, and a small validator for them.

The schemas are JSON Schema (draft 7) documents restricted to the keywords :func:`errors` knows:
``type``, ``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``, ``minimum``,
``maximum``, ``pattern`` and ``dependencies`` (the array form). One deliberate difference: an
``integer`` is an integer literal (``1.0`` is a number, not an integer), since readers pass these
values on to the OS. Readers may then rely on every declared member having its declared type;
members not declared here are free (probes and tracers add their own).
"""

from __future__ import annotations

import re

__all__ = ["MANIFEST_SCHEMA", "SWEEP_SCHEMA", "JOB_SCHEMA", "errors", "is_type", "depth", "MAX_DEPTH"]

MAX_DEPTH = 64  # nesting a manifest or sweep.json may have (lowprof writes at most ~8)

_STR = {"type": "string"}
_INT_OR_NULL = {"type": ["integer", "null"]}
_STRINGS = {"type": "array", "items": _STR}
_OBJECT = {"type": "object"}
# a sweep's or job's member: one folder directly inside it (no separator, not . or .., no NUL)
_MEMBER_DIR = {"type": "string", "pattern": r"^(?!\.\.?$)[^/\x00]+$"}

SWEEP_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "lowprof sweep.json, schema 1",
    "type": "object",
    "required": ["schema", "kind", "runs"],
    "properties": {
        "schema": {"enum": [1]},
        "kind": {"enum": ["sweep"]},
        "params": _STRINGS,
        "command": _STRINGS,
        "runs": {"type": "array", "items": {"type": "object", "required": ["dir"], "properties": {
            "dir": _MEMBER_DIR,
            "params": {"type": "object", "additionalProperties": _STR},
            "exit_code": _INT_OR_NULL}}},
        # an interrupted sweep (Ctrl-C): the point cut short and the points never started
        "status": {"enum": ["interrupted"]},
        "interrupted": {"type": ["object", "null"]},
        "not_run": {"type": "array", "items": _OBJECT},
    },
}

def __getattr__(name: str):
    """``MANIFEST_SCHEMA``: manifest.json's check on read, derived (on first use, then cached) from the sections
    declared in :mod:`lowprof.rundir.sections`."""
    if name == "MANIFEST_SCHEMA":
        from lowprof.rundir.sections import manifest_schema

        return manifest_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def is_type(value, t: str) -> bool:
    """Whether ``value`` is of JSON Schema type ``t`` as :func:`errors` checks it (``integer``: an int, not a bool)."""
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES[t])


def _show(value) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def errors(value, schema: dict, path: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema``, one line each: ``where: what``, ``where`` a dotted path."""
    where = path or "(top level)"
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: expected one of {schema['enum']}, found {_show(value)}"]
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(is_type(value, t) for t in types):
            return [f"{where}: expected {' or '.join(types)}, found {_show(value)} ({_type_name(value)})"]
    out: list[str] = []
    if is_type(value, "number"):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            out.append(f"{where}: {_show(value)} is outside {lo if lo is not None else '-inf'}.."
                       f"{hi if hi is not None else 'inf'}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(f"{where}: {_show(value)} is not allowed here")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                out.append(f"{where}: missing member {key!r}")
        for key, needs in schema.get("dependencies", {}).items():
            if key in value:
                out += [f"{where}: {key!r} given without {n!r}" for n in needs if n not in value]
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, v in value.items():
            sub = props.get(key, extra)
            if isinstance(sub, dict):
                out += errors(v, sub, f"{path}.{key}" if path else str(key))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            out += errors(v, schema["items"], f"{path}[{i}]")
    return out


def _type_name(value) -> str:
    for t in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if is_type(value, t):
            return t
    return type(value).__name__


def depth(value) -> int:
    """How deeply ``value`` nests (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            d += 1
            deepest = max(deepest, d)
            stack.extend((x, d) for x in v if isinstance(x, (dict, list)))
    return deepest

JOB_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "lowprof job.json, schema 1",
    "type": "object",
    "required": ["schema", "kind", "ranks"],
    "properties": {
        "schema": {"enum": [1]},
        "kind": {"enum": ["job"]},
        "source": _STR,
        "created_utc": _STR,
        "world_size": _INT_OR_NULL,
        "ranks": {"type": "array", "items": {"type": "object", "required": ["rank", "dir"], "properties": {
            "rank": {"type": "integer", "minimum": 0},
            "dir": _MEMBER_DIR,
            "trace": _STR, "rank_from": {"enum": ["name", "distributedInfo"]}}}},
    },
}
